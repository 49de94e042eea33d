"""Predictor: the checkpoint's own preprocessing, every runtime close to fp32, clear errors."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from drive_wire import real_center_frames

from steering.checkpoint import CheckpointError, load_model
from steering.inference import InferenceConfig, Predictor
from steering.inference.cpu import cpu_has_bf16
from steering.inference.predictor import blank_frame
from steering.inference.runtimes import TOLERANCE as INFERENCE_TOLERANCE
from steering.preprocess import FrameError, decode_jpeg, preprocess_frame

# (backend, precision) pairs that must agree with eager fp32; bf16 keeps 8 mantissa bits, so a
# steering of about 0.1-1 moves by a few 1e-3 at most.
RUNTIMES = [("torch", "bf16"), ("torchscript", "fp32"), ("torchscript", "bf16"), ("onnx", "fp32")]
TOLERANCE = {"fp32": 1e-4, "bf16": 0.02}


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return [decode_jpeg(jpeg) for jpeg in real_center_frames(8)]


def test_predictor_equals_load_model_and_preprocess_frame(make_checkpoint, frames):
    path = make_checkpoint("pilotnet")
    predictor = Predictor(path, InferenceConfig(device="cpu", backend="torch"))  # fp32: exact
    default = Predictor(path, InferenceConfig(device="cpu"))  # may run bf16 (openvino's choice)
    model, pre = load_model(path)
    assert predictor.preprocess == pre and default.preprocess == pre, "the checkpoint's preprocessing"
    with torch.inference_mode():
        expected = model(torch.stack([preprocess_frame(f, pre) for f in frames])).tolist()  # (8,)
    got = [predictor.predict(f) for f in frames]
    assert got == pytest.approx(expected, abs=1e-6)
    assert np.ptp(got) > 1e-4, "different frames should steer differently"
    assert [default.predict(f) for f in frames] == pytest.approx(expected, abs=INFERENCE_TOLERANCE)


@pytest.mark.parametrize("name", ["pilotnet", pytest.param("resnet18", marks=pytest.mark.slow)])
@pytest.mark.parametrize("backend,precision", RUNTIMES)
def test_every_runtime_stays_close_to_fp32(make_checkpoint, frames, name, backend, precision):
    path = make_checkpoint(name)
    reference = Predictor(path, InferenceConfig(device="cpu", backend="torch", precision="fp32", warmup=0))
    fast = Predictor(path, InferenceConfig(device="cpu", backend=backend, precision=precision, warmup=1))
    want = np.array([reference.predict(f) for f in frames])
    got = np.array([fast.predict(f) for f in frames])
    assert np.isfinite(got).all()
    assert np.abs(got - want).max() < TOLERANCE[precision], f"{backend}/{precision}: {got} vs {want}"


@pytest.mark.parametrize("name", ["pilotnet", pytest.param("resnet18", marks=pytest.mark.slow)])
@pytest.mark.parametrize("precision", ["auto", "fp32", "bf16"])
def test_openvino_stays_within_tolerance_of_fp32(make_checkpoint, frames, name, precision):
    pytest.importorskip("openvino")
    path = make_checkpoint(name)
    reference = Predictor(path, InferenceConfig(device="cpu", backend="torch", precision="fp32", warmup=0))
    fast = Predictor(path, InferenceConfig(device="cpu", backend="openvino", precision=precision, warmup=1))
    want = np.array([reference.predict(f) for f in frames])
    got = np.array([fast.predict(f) for f in frames])
    assert fast.precision in ("fp32", "bf16"), f"unexpected precision {fast.precision!r}"
    if precision != "auto":  # bf16 without bf16 hardware: OpenVINO runs f32, and says so
        assert fast.precision == (precision if precision == "fp32" or cpu_has_bf16() else "fp32")
    assert np.isfinite(got).all()
    assert np.abs(got - want).max() < INFERENCE_TOLERANCE, f"openvino/{fast.precision}: {got} vs {want}"
    if fast.precision == "fp32":
        assert np.abs(got - want).max() < TOLERANCE["fp32"]


def test_openvino_falls_back_to_f32_when_its_precision_moves_the_steering(make_checkpoint, monkeypatch, caplog):
    pytest.importorskip("openvino")
    import steering.inference.runtimes

    if not cpu_has_bf16():
        pytest.skip("this CPU has no bf16: OpenVINO already runs f32, nothing to fall back from")
    path = make_checkpoint("pilotnet")
    assert Predictor(path, InferenceConfig(device="cpu", backend="openvino", warmup=0)).precision == "bf16"
    monkeypatch.setattr(steering.inference.runtimes, "TOLERANCE", 1e-12)  # any bf16 rounding now counts as too much
    predictor = Predictor(path, InferenceConfig(device="cpu", backend="openvino", warmup=0))
    assert predictor.precision == "fp32"
    assert "openvino bf16 missed the gate" in predictor.choice


def test_auto_backend_order_on_cpu_is_openvino_then_onnx_then_torch(make_checkpoint, monkeypatch):
    path = make_checkpoint("pilotnet")
    pytest.importorskip("openvino")
    assert Predictor(path, InferenceConfig(device="cpu", warmup=0)).backend == "openvino"
    bf16 = Predictor(path, InferenceConfig(device="cpu", precision="bf16", warmup=0))
    assert (bf16.backend, bf16.precision) == ("openvino", "bf16" if cpu_has_bf16() else "fp32")
    assert Predictor(path, InferenceConfig(device="cpu", backend="openvino", warmup=0)).backend == "openvino"
    monkeypatch.setitem(sys.modules, "openvino", None)  # as if not installed
    with pytest.raises(RuntimeError, match="steering\\[openvino\\]"):
        Predictor(path, InferenceConfig(device="cpu", backend="openvino", warmup=0))
    assert Predictor(path, InferenceConfig(device="cpu", warmup=0)).backend == "onnx"
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert Predictor(path, InferenceConfig(device="cpu", warmup=0)).backend == "torch"
    with pytest.raises(RuntimeError, match="pip install"):
        Predictor(path, InferenceConfig(device="cpu", backend="onnx", warmup=0))


def test_memory_layout_on_cpu_is_contiguous_for_eager_and_channels_last_for_torchscript(make_checkpoint):
    """Measured on CPU (docs/drive.md): channels_last slows eager ResNet-50 (0.9x) but not frozen
    TorchScript (1.0-1.1x)."""
    path = make_checkpoint("pilotnet")
    expected = {"torch": False, "torchscript": True}
    for backend, channels_last in expected.items():
        runtime = Predictor(path, InferenceConfig(device="cpu", backend=backend, warmup=0)).runtime
        assert runtime.channels_last is channels_last, backend
        if backend == "torch":
            weights = [p for p in runtime.forward.model.parameters() if p.dim() == 4]
            assert weights and all(p.is_contiguous() for p in weights), "conv weights in channels_last on CPU"


def test_prepare_rejects_frames_of_the_wrong_size(make_checkpoint):
    predictor = Predictor(make_checkpoint("pilotnet"), InferenceConfig(device="cpu", warmup=0))
    assert predictor.prepare(blank_frame()).shape == (3, 66, 200)
    with pytest.raises(FrameError, match="160x320"):
        predictor.prepare(np.zeros((66, 200, 3), np.uint8))


def test_missing_and_corrupt_checkpoints_fail_with_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        Predictor(tmp_path / "absent.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"PK\x03\x04 this is not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt.pt"):
        Predictor(corrupt)


def test_device_and_precision_choices_are_checked(make_checkpoint):
    path = make_checkpoint("pilotnet")
    with pytest.raises(ValueError, match="backend must be one of"):
        InferenceConfig(backend="tensorrt")
    with pytest.raises(ValueError, match="fp16 runs only on CUDA"):
        Predictor(path, InferenceConfig(device="cpu", precision="fp16"))
    if torch.cuda.is_available():
        assert Predictor(path, InferenceConfig(device="cuda")).device.type == "cuda"
    else:
        with pytest.raises(RuntimeError, match="no CUDA GPU"):
            Predictor(path, InferenceConfig(device="cuda"))
        assert Predictor(path, InferenceConfig(device="auto", warmup=0)).device.type == "cpu"
