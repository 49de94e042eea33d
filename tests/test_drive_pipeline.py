"""The drive pipeline without any transport, the runtime registry, and sinks as plug-ins."""
from __future__ import annotations

import base64
import threading

import numpy as np
import pytest
import torch
from drive_wire import SimulatorSocket, real_center_frames, telemetry

from steering.drive import ControlConfig, Controller, DriveConfig, TransportConfig
from steering.drive.pipeline import DrivePipeline
from steering.drive.sinks import DriveFrame
from steering.drive.stats import DriveStats
from steering.drive.udacity.protocol import MalformedTelemetry, parse_telemetry
from steering.drive.udacity.server import DriveServer
from steering.inference import InferenceConfig, Predictor, runtimes
from steering.inference.runtimes import BuildContext, Runtime, RuntimeSpec


class ConstantModel:
    """Steers `value` on every frame; counts inferences."""

    def __init__(self, value: float) -> None:
        self.value, self.calls = value, 0

    def prepare(self, frame):
        assert frame.shape == (160, 320, 3) and frame.dtype == np.uint8
        return frame

    def infer(self, x) -> float:
        self.calls += 1
        return self.value

    def configure_thread(self) -> None:
        pass

    def describe(self) -> str:
        return "constant"


class ListSink:
    def __init__(self) -> None:
        self.frames: list[DriveFrame] = []
        self.closed = False

    def put(self, frame: DriveFrame) -> None:
        self.frames.append(frame)

    def close(self) -> None:
        self.closed = True


def test_pipeline_steps_without_a_transport_and_feeds_every_sink():
    jpeg = real_center_frames(1)[0]
    sinks = [ListSink(), ListSink()]
    stats = DriveStats()
    pipeline = DrivePipeline(ConstantModel(0.3), ControlConfig(target_speed=12.0), stats, sinks)
    session = pipeline.open()
    reference = Controller(ControlConfig(target_speed=12.0))
    for speed in (0.0, 5.0, 11.0):
        command = pipeline.step(session, parse_telemetry(telemetry(jpeg, speed=speed)), 0.0)
        want = reference.run(0.3, speed)
        assert (command.steering, command.throttle) == pytest.approx(want)
    for sink in sinks:
        assert [f.speed for f in sink.frames] == [0.0, 5.0, 11.0]
        assert base64.b64decode(sink.frames[0].image_base64) == jpeg
    assert stats.snapshot()["latency_ms"]["total"]["n"] == 3
    pipeline.close_sinks()
    assert all(s.closed for s in sinks)


def test_pipeline_bad_image_raises_malformed_and_safe_keeps_the_last_steering():
    jpeg = real_center_frames(1)[0]
    pipeline = DrivePipeline(ConstantModel(-0.4), ControlConfig(), DriveStats())
    session = pipeline.open()
    pipeline.step(session, parse_telemetry(telemetry(jpeg)), 0.0)
    with pytest.raises(MalformedTelemetry) as info:
        pipeline.step(session, parse_telemetry({**telemetry(jpeg), "image": "bm90IGEganBlZw=="}), 0.0)
    assert info.value.reason == "bad_image"
    safe = pipeline.safe(session, info.value.reason)
    assert (safe.steering, safe.throttle) == (-0.4, 0.0)
    assert pipeline.stats.snapshot()["errors"] == {"bad_image": 1}


def test_a_newer_frame_that_arrives_during_inference_supersedes_the_reply():
    """The policy, driven by hand: yield_now lets a 'newer frame' register mid-inference."""
    jpeg = real_center_frames(1)[0]
    stats = DriveStats()
    pipeline = DrivePipeline(ConstantModel(0.1), ControlConfig(), stats)
    session = pipeline.open()
    calls = {"n": 0}

    def newer_frame_arrives() -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # the yield after the first inference
            session.newest += 1

    pipeline.yield_now = newer_frame_arrives
    assert pipeline.step(session, parse_telemetry(telemetry(jpeg)), 0.0) is None
    assert stats.snapshot()["counters"] == {"superseded": 1, "superseded_after_inference": 1}
    assert session.dropped_last is True
    pipeline.yield_now = lambda: None
    assert pipeline.step(session, parse_telemetry(telemetry(jpeg)), 0.0) is not None
    assert session.dropped_last is False


def test_an_extra_sink_on_the_server_receives_every_answered_frame(make_checkpoint):
    sink = ListSink()
    frames = real_center_frames(3)
    config = DriveConfig(transport=TransportConfig(port=0), stats_every=0)
    server = DriveServer(Predictor(make_checkpoint("pilotnet"), InferenceConfig(device="cpu", warmup=0)), config,
                         sinks=[sink]).start()
    try:
        sim = SimulatorSocket(server.port)
        sim.recv_event()  # steer 0,0
        for jpeg in frames:
            sim.send_telemetry(telemetry(jpeg, speed=7.0))
            sim.recv_event()
        sim.close()
    finally:
        server.stop()
    assert [base64.b64decode(f.image_base64) for f in sink.frames] == frames
    assert sink.closed


def _plain_build(model: torch.nn.Module, ctx: BuildContext) -> Runtime:
    calls.append(1)
    return Runtime(lambda x: model(x), "fp32")


calls: list[int] = []


def test_a_runtime_is_one_registration_listed_in_help_and_chosen_by_preference(make_checkpoint, monkeypatch):
    monkeypatch.setattr(runtimes, "RUNTIMES", dict(runtimes.RUNTIMES))
    runtimes.register(RuntimeSpec(name="plain", help="test runtime, eager torch under another name", devices=("cpu",),
                                  precisions=("fp32",), build=_plain_build,
                                  preference={("cpu", "auto"): 1, ("cpu", "fp32"): 1}))
    assert "plain" in runtimes.backends()
    assert "plain: test runtime, eager torch under another name" in runtimes.backend_help()
    assert runtimes.auto_orders()[("cpu", "auto")][0] == "plain"
    path = make_checkpoint("pilotnet")
    reference = Predictor(path, InferenceConfig(device="cpu", backend="torch", warmup=0))
    calls.clear()
    plain = Predictor(path, InferenceConfig(device="cpu", warmup=0))  # auto: lowest preference that passes the gate
    assert plain.backend == "plain" and calls == [1]
    x = reference.prepare(np.full((160, 320, 3), 90, np.uint8))
    assert plain.infer(x) == pytest.approx(reference.infer(x), abs=1e-6)


def test_runtime_requests_that_do_not_fit_are_refused_with_the_reason():
    cpu = torch.device("cpu")
    with pytest.raises(ValueError, match="onnx backend runs fp32, int8 only"):
        runtimes.resolve("onnx", cpu, "bf16")
    with pytest.raises(ValueError, match="fp16 runs only on CUDA"):
        runtimes.resolve("torch", cpu, "fp16")
    spec, precision = runtimes.resolve("torchscript", cpu, "auto")
    assert (spec.name, precision) == ("torchscript", "fp32")
    spec, precision = runtimes.resolve("auto", cpu, "bf16")
    installed = [n for n in runtimes.auto_orders()[("cpu", "bf16")] if runtimes.RUNTIMES[n].installed()]
    assert (spec.name, precision) == (installed[0], "bf16") and "torchscript" in installed


def test_drive_flags_come_from_the_config_dataclasses():
    import drive

    args = drive.build_parser().parse_args(["m.pt", "run1", "--speed", "20", "--smooth", "0.3", "--port", "0",
                                            "--backend", "torch", "--threads", "1"])
    config = drive.config_from(args)
    assert config.control == ControlConfig(target_speed=20.0, smooth=0.3)
    assert config.inference == InferenceConfig(backend="torch", threads=1)
    assert config.transport == TransportConfig(port=0)
    assert str(config.record_dir) == "run1" and config.stats_every == 30.0
    assert drive.config_from(drive.build_parser().parse_args(["m.pt"])) == DriveConfig()


def test_the_worker_thread_is_not_the_callers():
    from steering.drive.worker import InferenceThread

    worker = InferenceThread(lambda: threading.get_ident())
    try:
        # Called outside eventlet: the pipe wait still works through the blocking read path.
        assert worker.run() != threading.get_ident()
    finally:
        worker.close()
