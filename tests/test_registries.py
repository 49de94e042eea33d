"""A new part of a kind is one registration: it shows in the command lines' help and works end to end."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from drive_wire import SimulatorSocket, real_center_frames, steer_values, telemetry

import drive
from steering.checkpoint import load_checkpoint
from steering.drive import DriveConfig, TransportConfig, running_server
from steering.drive.sinks import SinkSpec, register_sink, unregister_sink
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


def test_a_registered_sink_shows_in_drive_help_and_gets_every_answered_frame(make_checkpoint):
    got = []

    class Counting:
        def put(self, frame) -> None:
            got.append((frame.steering, frame.speed))

        def close(self) -> None:
            got.append("closed")

    register_sink(SinkSpec("counting", help="a test sink that keeps every frame", build=lambda config: Counting()))
    try:
        assert "counting: a test sink that keeps every frame" in " ".join(drive.build_parser().format_help().split())
        predictor = Predictor(make_checkpoint("pilotnet"), InferenceConfig(warmup=0))
        frames = real_center_frames(3)
        with running_server(predictor, DriveConfig(transport=TransportConfig(port=0), stats_every=0)) as server:
            assert server.recorder is None, "no RECORD_DIR: the registered recorder builds nothing"
            sim = SimulatorSocket(server.port)
            sim.recv_event()  # the greeting steer 0,0
            replies = []
            for jpeg in frames:
                sim.send_telemetry(telemetry(jpeg, speed=12.5))
                replies.append(steer_values(sim.recv_event()[1])[0])
            sim.close()
    finally:
        unregister_sink("counting")
    assert got[-1] == "closed" and len(got) == 4
    assert [speed for _, speed in got[:3]] == [12.5, 12.5, 12.5]
    assert [steering for steering, _ in got[:3]] == pytest.approx(replies, abs=1e-4)
