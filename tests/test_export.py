"""`python -m steering.export`: the written file loads in its own runtime, steers like the checkpoint,
records its preprocessing, drives through drive.py's Predictor and server; a bad export keeps nothing."""
from __future__ import annotations

import hashlib
import json
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from drive_wire import SimulatorSocket, real_center_frames, steer_values, telemetry

from steering.checkpoint import CheckpointError, load_checkpoint
from steering.drive import DriveConfig, TransportConfig, running_server
from steering.export import __main__ as cli
from steering.inference import InferenceConfig, Predictor, exported
from steering.inference.runtimes import TOLERANCE
from steering.preprocess import PreprocessConfig, decode_jpeg, preprocess_frame

SUFFIX = {"onnx": ".onnx", "openvino": ".xml", "torchscript": ".ts"}
FP32 = 1e-4  # an fp32 export of the same graph: float rounding only
FORMATS = ["onnx", pytest.param("openvino", marks=pytest.mark.skipif(
    __import__("importlib").util.find_spec("openvino") is None, reason="openvino not installed")), "torchscript"]


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return [decode_jpeg(jpeg) for jpeg in real_center_frames(4)]


def export(checkpoint: Path, fmt: str, out: Path, *extra: str) -> int:
    return cli.main([str(checkpoint), "--format", fmt, "--out", str(out), *extra])


def reference(checkpoint: Path, frames: list[np.ndarray]) -> np.ndarray:
    eager = Predictor(checkpoint, InferenceConfig(device="cpu", backend="torch", precision="fp32", warmup=0))
    return np.array([eager.predict(f) for f in frames])


def run_in_target_runtime(path: Path, fmt: str, inputs: list[torch.Tensor]) -> np.ndarray:
    """The file loaded directly with its runtime's own API (not the package's loader)."""
    batches = [x.unsqueeze(0).numpy() for x in inputs]
    if fmt == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        (image,), (steering,) = session.get_inputs(), session.get_outputs()
        assert (image.name, image.shape, steering.name) == ("image", [1, *inputs[0].shape], "steering")
        return np.array([float(session.run(None, {"image": b})[0].reshape(-1)[0]) for b in batches])
    if fmt == "openvino":
        import openvino as ov

        compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        return np.array([float(compiled([b])[0].reshape(-1)[0]) for b in batches])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch's TorchScript deprecation notice
        module = torch.jit.load(str(path))
    with torch.inference_mode():
        return np.array([float(module(torch.from_numpy(b)).reshape(-1)[0]) for b in batches])


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_writes_a_verified_file_with_its_preprocessing(make_checkpoint, tmp_path, frames, fmt, capsys):
    checkpoint = make_checkpoint("pilotnet")
    out = tmp_path / "out" / f"model{SUFFIX[fmt]}"
    assert export(checkpoint, fmt, out) == 0
    printed = capsys.readouterr().out
    assert "verified: max |Δ|" in printed and "gate 0.01" in printed
    sidecar = Path(f"{out}.json")
    assert out.is_file() and sidecar.is_file()
    if fmt == "openvino":
        assert out.with_suffix(".bin").is_file(), "IR weights beside the .xml"
    assert sorted(p.name for p in out.parent.iterdir()) == sorted(
        [out.name, sidecar.name] + ([out.with_suffix(".bin").name] if fmt == "openvino" else [])), "no staging left"

    stored = load_checkpoint(checkpoint)
    record = json.loads(sidecar.read_text())
    assert PreprocessConfig.from_dict(record["preprocess"]) == stored.preprocess
    assert (record["model"], record["format"], record["precision"]) == ("pilotnet", fmt, "fp32")
    assert record["checkpoint_sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert 0 <= record["verification"]["max_abs_diff"] <= FP32
    assert record["verification"]["tolerance"] == TOLERANCE
    if fmt == "onnx":
        import onnx

        props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
        assert json.loads(props[exported.METADATA_KEY]) == record, "the .onnx carries the same record"

    want = reference(checkpoint, frames)
    inputs = [preprocess_frame(f, PreprocessConfig.from_dict(record["preprocess"])) for f in frames]
    got = run_in_target_runtime(out, fmt, inputs)
    assert np.abs(got - want).max() <= FP32, f"{fmt}: {got} vs {want}"
    assert np.ptp(want) > 1e-4, "frames should steer differently, or the comparison proves little"

    predictor = Predictor(out, InferenceConfig(warmup=1))
    assert (predictor.backend, predictor.precision, predictor.preprocess) == (fmt, "fp32", stored.preprocess)
    assert predictor.choice.startswith(f"exported {fmt} fp32 file, verified")
    assert predictor.training_logs == []
    assert np.abs(np.array([predictor.predict(f) for f in frames]) - want).max() <= FP32
    with pytest.raises(ValueError, match="runs with"):
        Predictor(out, InferenceConfig(backend="torch", warmup=0))


def test_a_lone_onnx_file_drives_from_its_metadata(make_checkpoint, tmp_path, frames):
    checkpoint = make_checkpoint("pilotnet")
    out = tmp_path / "model.onnx"
    assert export(checkpoint, "onnx", out) == 0
    Path(f"{out}.json").unlink()
    predictor = Predictor(out, InferenceConfig(warmup=0))
    assert np.abs(np.array([predictor.predict(f) for f in frames]) - reference(checkpoint, frames)).max() <= FP32


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_a_file_without_its_record_is_a_clear_error(make_checkpoint, tmp_path, monkeypatch, fmt, capsys):
    checkpoint = make_checkpoint("pilotnet")
    out = tmp_path / f"plain{SUFFIX[fmt]}"
    model = load_checkpoint(checkpoint).build_model()
    if fmt == "onnx":  # as another tool would write it: no steering metadata
        from steering.inference.runtimes.onnx import onnx_bytes

        out.write_bytes(onnx_bytes(model, torch.zeros(1, 3, 66, 200)))
    else:
        assert export(checkpoint, fmt, out) == 0
        Path(f"{out}.json").unlink()
    with pytest.raises(CheckpointError, match=f"{out.name}: no export record .*preprocessing it expects is unknown"):
        Predictor(out, InferenceConfig(warmup=0))
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1]))  # drive.py sits at the repository root
    import drive

    assert drive.main([str(out), "--port", "0"]) == 2
    assert "cannot load the model" in capsys.readouterr().err


def test_torchscript_exported_as_pt_is_recognised(make_checkpoint, tmp_path, frames):
    checkpoint = make_checkpoint("pilotnet")
    out = tmp_path / "out" / "scripted.pt"
    assert export(checkpoint, "torchscript", out) == 0
    assert exported.is_exported(out) and not exported.is_exported(checkpoint), "told apart by content, not suffix"
    predictor = Predictor(out, InferenceConfig(warmup=0))
    assert predictor.backend == "torchscript"
    assert np.abs(np.array([predictor.predict(f) for f in frames]) - reference(checkpoint, frames)).max() <= FP32


def test_a_missing_runtime_package_is_named(make_checkpoint, tmp_path, monkeypatch):
    out = tmp_path / "model.onnx"
    assert export(make_checkpoint("pilotnet"), "onnx", out) == 0
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    with pytest.raises(CheckpointError, match=r"runs with onnxruntime, which is not installed: .*steering\[onnx\]"):
        Predictor(out, InferenceConfig(warmup=0))


class Shifted(torch.nn.Module):
    """The model plus 0.5: an export that no longer steers like its checkpoint."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x) + 0.5


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_export_that_steers_differently_fails_and_keeps_nothing(make_checkpoint, tmp_path, monkeypatch, fmt,
                                                                     capsys):
    import steering.export

    checkpoint = make_checkpoint("pilotnet")
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / f"model{SUFFIX[fmt]}"
    out.write_bytes(b"an earlier export")
    monkeypatch.setattr(steering.export, "export_model", lambda model: Shifted(model).eval())
    assert export(checkpoint, fmt, out) == 1
    err = capsys.readouterr().err
    assert "verification failed" in err and "steers up to 0.5" in err and "gate 0.01" in err
    assert sorted(p.name for p in folder.iterdir()) == [out.name], "no sidecar, no staging folder"
    assert out.read_bytes() == b"an earlier export", "a failed export leaves the earlier file alone"


def test_exported_onnx_drives_through_the_server(make_checkpoint, tmp_path):
    out = tmp_path / "model.onnx"
    assert export(make_checkpoint("pilotnet"), "onnx", out) == 0
    with running_server(out, DriveConfig(transport=TransportConfig(port=0), stats_every=0)) as server:
        assert server.model.backend == "onnx"
        sim = SimulatorSocket(server.port)
        assert sim.recv_event()[0] == "steer"  # the greeting
        replies = []
        for jpeg in real_center_frames(4):
            sim.send_telemetry(telemetry(jpeg, speed=10.0))
            replies.append(sim.recv_event())
        sim.close()
    assert [name for name, _ in replies] == ["steer"] * 4
    assert all(math.isfinite(steer_values(data)[0]) for _, data in replies)


def test_int8_onnx_export_is_calibrated_and_gated(make_checkpoint, tmp_path, windows_log, monkeypatch, capsys):
    """A random PilotNet quantized on 64 real frames steers within 0.01 of fp32 (measured), so it is
    written; with a gate no int8 model can meet, the same export is refused and nothing is written."""
    import steering.inference.runtimes

    checkpoint = make_checkpoint("pilotnet")  # tmp_path/model.pt
    assert export(checkpoint, "onnx", tmp_path / "model.int8.onnx", "--int8", "--calibration", str(windows_log)) == 2
    assert "is the int8 cache drive.py keeps beside model.pt" in capsys.readouterr().err
    out = tmp_path / "exported-int8.onnx"
    assert export(checkpoint, "onnx", out, "--int8") == 2, "no training logs, no --calibration"
    assert "--int8 needs calibration frames" in capsys.readouterr().err
    assert export(checkpoint, "onnx", out, "--int8", "--calibration", str(windows_log)) == 0
    record = json.loads(Path(f"{out}.json").read_text())
    assert record["precision"] == "int8" and "calibration frames of" in record["detail"]
    assert 0 < record["verification"]["max_abs_diff"] <= TOLERANCE, "int8 rounds, within the gate"
    assert Predictor(out, InferenceConfig(warmup=0)).precision == "int8"

    refused = tmp_path / "refused.onnx"
    monkeypatch.setattr(steering.inference.runtimes, "TOLERANCE", 1e-12)
    assert export(checkpoint, "onnx", refused, "--int8", "--calibration", str(windows_log)) == 1
    assert "the exported onnx int8 file steers up to" in capsys.readouterr().err
    assert not refused.exists() and not Path(f"{refused}.json").exists()


def test_bad_requests_exit_2(make_checkpoint, tmp_path, capsys):
    checkpoint = make_checkpoint("pilotnet")
    assert export(checkpoint, "torchscript", tmp_path / "m.ts", "--int8") == 2
    assert "--int8 exports onnx and openvino only" in capsys.readouterr().err
    assert export(checkpoint, "onnx", tmp_path / "m.xml") == 2
    assert "written as .onnx" in capsys.readouterr().err
    assert export(tmp_path / "missing.pt", "onnx", tmp_path / "m.onnx") == 2
    assert "no such checkpoint file" in capsys.readouterr().err
