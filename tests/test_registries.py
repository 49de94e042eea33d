"""A new part of a kind is one registration: it shows in the command lines' help and works end to end."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

import drive
from steering.checkpoint import load_checkpoint
from steering.export import ExportConfig, export_checkpoint
from steering.export.__main__ import build_parser as export_parser
from steering.inference import InferenceConfig, Predictor, runtimes
from steering.inference.exported import format_of, model_suffixes
from steering.inference.runtimes import torchscript
from steering.preprocess import preprocess_frame


@pytest.fixture()
def frames() -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    return [rng.integers(0, 256, (160, 320, 3), dtype=np.uint8) for _ in range(4)]


@pytest.fixture()
def scripted_runtime():
    """A runtime that exports: TorchScript written under its own suffix, registered in one call."""
    spec = runtimes.register(dataclasses.replace(
        torchscript.SPEC, name="scripted", help="a test runtime that writes .scripted files",
        preference={}, export=dataclasses.replace(torchscript.SPEC.export, suffix=".scripted", also_reads=(),
                                                  help="a .scripted TorchScript file (test)")))
    yield spec
    runtimes.unregister("scripted")


def test_a_registered_exporting_runtime_shows_in_both_helps(scripted_runtime):
    export_help = export_parser().format_help()
    assert "scripted" in export_help and "a .scripted TorchScript file (test)" in export_help
    drive_help = " ".join(drive.build_parser().format_help().split())
    assert "scripted: a test runtime that writes .scripted files" in drive_help
    assert ".scripted" in model_suffixes()


def test_a_registered_exporting_runtime_exports_and_drives(scripted_runtime, make_checkpoint, tmp_path, frames):
    checkpoint = make_checkpoint("pilotnet")
    out = tmp_path / "model.scripted"
    result = export_checkpoint(checkpoint, ExportConfig("scripted", out))
    assert format_of(out) == "scripted"
    assert result.record.format == "scripted" and result.max_diff <= 1e-5

    stored = load_checkpoint(checkpoint)
    model = stored.build_model("cpu").eval()
    with torch.inference_mode():
        want = [float(model(preprocess_frame(f, stored.preprocess).unsqueeze(0))[0]) for f in frames]
    predictor = Predictor(out, InferenceConfig(warmup=0))
    assert (predictor.backend, predictor.preprocess) == ("scripted", stored.preprocess)
    got = [predictor.predict(f) for f in frames]
    assert np.abs(np.array(got) - np.array(want)).max() <= 1e-5


def test_after_unregistering_the_format_is_gone(scripted_runtime):
    runtimes.unregister("scripted")
    with pytest.raises(ValueError, match="format must be one of onnx, openvino, torchscript"):
        ExportConfig("scripted", Path("x.scripted"))
