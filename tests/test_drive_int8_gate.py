"""The accuracy gate refuses an int8 runtime whose steering is off by more than 0.01, and the drive
steers with fp32 instead and says so (the line drive.py prints as `runtime: ...`).

The int8 runtime here is a registered fake whose quantized forward is deliberately broken by a known
amount, so each test knows the |Δ| the gate must measure. The real ONNX quantization with corrupted
scales is tested in tests/test_drive_runtime_choice.py.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pytest
import torch

from steering.checkpoint import load_model
from steering.inference import InferenceConfig, Predictor, gate, runtimes
from steering.inference.runtimes import Runtime, RuntimeSpec
from steering.inference.runtimes.torch_eager import SPEC as TORCH
from steering.preprocess import preprocess_frame

# (the input, how many calls came before) -> what the broken int8 forward adds to the steering
Error = Callable[[torch.Tensor, int], float]


def broken_int8(error: Error, built: list[str]) -> RuntimeSpec:
    """A runtime at int8 and fp32: its fp32 is eager torch, its int8 adds `error` to the steering."""

    def build(model: torch.nn.Module, ctx) -> Runtime:
        built.append(ctx.precision)
        if ctx.precision != "int8":
            return Runtime(model, "fp32")
        calls = [0]

        def forward(x: torch.Tensor) -> torch.Tensor:
            calls[0] += 1
            return model(x) + error(x, calls[0] - 1)

        return Runtime(forward, "int8")

    return RuntimeSpec(name="quant", help="test runtime: int8 broken on purpose", devices=("cpu",),
                       precisions=("fp32", "int8"), build=build,
                       preference={("cpu", "int8"): 1, ("cpu", "auto"): 1, ("cpu", "fp32"): 1},
                       auto_precision={"cpu": "fp32"})


@pytest.fixture()
def register(monkeypatch) -> Callable[[Error], list[str]]:
    """Only eager torch and the broken runtime exist (no real OpenVINO or ONNX build is attempted)."""

    def install(error: Error) -> list[str]:
        built: list[str] = []
        monkeypatch.setattr(runtimes, "RUNTIMES", {"torch": TORCH, "quant": broken_int8(error, built)})
        return built

    return install


def int8(backend: str) -> InferenceConfig:
    """drive.py --device cpu --precision int8 --backend BACKEND (after `register`: it checks the name)."""
    return InferenceConfig(device="cpu", backend=backend, precision="int8", threads=1, warmup=0)


def eager_fp32(path, frames: list[np.ndarray]) -> np.ndarray:
    model, pre = load_model(path)
    with torch.inference_mode():
        return model(torch.stack([preprocess_frame(f, pre) for f in frames])).numpy()


def gate_frames() -> list[np.ndarray]:
    """What the gate compares on: a fresh checkpoint records no training logs, so the shipped frames."""
    return gate.shipped_frames()[0]


def test_explicit_int8_off_by_0_02_is_refused_and_the_drive_steers_fp32(make_checkpoint, register, caplog):
    built = register(lambda x, call: 0.02)
    path = make_checkpoint("pilotnet")
    with caplog.at_level(logging.WARNING, logger="steering.inference.gate"):
        predictor = Predictor(path, int8("quant"))
    assert built == ["int8", "fp32"], "int8 first, then the same backend at fp32"
    assert (predictor.backend, predictor.precision) == ("quant", "fp32")
    assert "quant int8 missed the gate (max |Δ| 0.02)" in predictor.choice
    assert predictor.choice.startswith("quant fp32: ")
    assert predictor.gate_max_diff == 0.0  # the fp32 it fell back to is eager torch itself
    assert "missed the gate (max |Δ| 0.02); using quant fp32 instead" in caplog.text
    frames = gate_frames()
    assert [predictor.predict(f) for f in frames] == pytest.approx(eager_fp32(path, frames), abs=1e-6)


def test_auto_int8_off_by_0_02_is_skipped_for_fp32(make_checkpoint, register):
    built = register(lambda x, call: -0.02)  # the sign does not matter: |Δ|
    predictor = Predictor(make_checkpoint("pilotnet"), int8("auto"))
    assert built == ["int8", "fp32"]
    assert (predictor.backend, predictor.precision) == ("quant", "fp32")
    assert "skipped: quant int8 missed the gate (max |Δ| 0.02)" in predictor.choice
    assert "first within the gate in the measured order quant, then precision auto" in predictor.choice


def test_one_bad_frame_among_eight_is_enough_to_refuse_int8(make_checkpoint, register):
    # Exact on 7 gate frames, 0.05 off on the 4th: the mean |Δ| (0.05 / 8 = 0.00625) would pass,
    # the gate's maximum must not.
    register(lambda x, call: 0.05 if call == 3 else 0.0)
    path = make_checkpoint("pilotnet")
    assert len(gate_frames()) == gate.GATE_FRAMES == 8
    predictor = Predictor(path, int8("quant"))
    assert predictor.precision == "fp32"
    assert "quant int8 missed the gate (max |Δ| 0.05)" in predictor.choice


def test_int8_that_steers_nan_is_refused(make_checkpoint, register):
    register(lambda x, call: float("nan"))
    predictor = Predictor(make_checkpoint("pilotnet"), int8("quant"))
    assert predictor.precision == "fp32"
    assert "quant int8 missed the gate (max |Δ| inf)" in predictor.choice


def test_int8_within_0_01_is_kept(make_checkpoint, register):
    built = register(lambda x, call: 0.009)  # the same broken runtime, just inside the gate
    predictor = Predictor(make_checkpoint("pilotnet"), int8("quant"))
    assert built == ["int8"]
    assert (predictor.backend, predictor.precision) == ("quant", "int8")
    assert predictor.gate_max_diff == pytest.approx(0.009, abs=1e-6)
    assert predictor.choice.startswith("quant int8 as asked")
