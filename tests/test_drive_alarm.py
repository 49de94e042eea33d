"""drive.py --alarm / --on-alarm: the controller's response, the flags, and the alarm through the wire."""
from __future__ import annotations

import pytest
import torch
from drive_wire import SimulatorSocket, real_center_frames, telemetry

import drive
from steering.checkpoint import load_model
from steering.drive import ControlConfig, Controller, DriveConfig, TransportConfig, running_server
from steering.drive.alarm import AlarmConfig, load_alarm
from steering.drive.pipeline import DrivePipeline
from steering.drive.stats import DriveStats
from steering.drive.udacity.protocol import format_command, parse_telemetry
from steering.inference import InferenceConfig
from steering.inference.ensemble import mirror_width
from steering.monitors import AlarmMonitor, FitContext, get_spec
from steering.preprocess import decode_jpeg, preprocess_frame

KP, KI = 0.1, 0.002  # ControlConfig's classic gains


def test_on_alarm_slow_halves_the_target_speed_and_stop_brakes_fully():
    slow = Controller(ControlConfig(target_speed=12.0, on_alarm="slow", alarm_slow=0.5))
    assert slow.run(0.1, 10.0, alarm=True)[1] == pytest.approx(KP * -4 + KI * -4)  # target 6 mph, speed 10
    assert slow.run(0.1, 10.0, alarm=False)[1] == pytest.approx(KP * 2 + KI * (-4 + 2))  # back to 12 mph
    stop = Controller(ControlConfig(target_speed=12.0, on_alarm="stop", max_brake=0.8))
    assert stop.run(-0.2, 10.0, alarm=True) == pytest.approx((-0.2, -0.8)), "steering kept, full brake"
    assert stop.run(-0.2, 0.1, alarm=True) == pytest.approx((-0.2, 0.0)), "standing still: no more brake"
    none = Controller(ControlConfig(target_speed=12.0, on_alarm="none"))
    assert none.run(0.0, 10.0, alarm=True)[1] == pytest.approx(KP * 2 + KI * 2), "none: only reported"


def test_alarm_flags_build_the_config():
    args = drive.build_parser().parse_args(["m.pt", "--alarm", "tta", "--on-alarm", "stop", "--alarm-slow", "0.3"])
    config = drive.config_from(args)
    assert config.alarm == AlarmConfig(kind="tta") and config.control.on_alarm == "stop"
    assert config.control.alarm_slow == 0.3
    args = drive.build_parser().parse_args(["m.pt", "--alarm", "autoencoder", "--alarm-file", "ae.pt"])
    assert drive.config_from(args).alarm.file.name == "ae.pt"
    with pytest.raises(ValueError, match="did you mean mc-dropout"):
        AlarmConfig(kind="mcdropout")
    with pytest.raises(ValueError, match="needs --alarm NAME"):
        AlarmConfig(file="ae.pt")


def test_autoencoder_alarm_needs_its_file_and_the_file_must_hold_that_kind(make_checkpoint, tmp_path):
    checkpoint = make_checkpoint("pilotnet")
    with pytest.raises(ValueError, match="needs --alarm-file"):
        load_alarm(AlarmConfig(kind="autoencoder"), [checkpoint])
    path = AlarmMonitor("tta", get_spec("tta").fit(FitContext([], [checkpoint]))).save(tmp_path / "tta.pt")
    with pytest.raises(ValueError, match="holds a tta monitor"):
        load_alarm(AlarmConfig(kind="mc-dropout", file=path), [checkpoint])
    no_file = load_alarm(AlarmConfig(kind="mc-dropout"), [checkpoint])
    assert no_file.threshold == float("inf"), "no file: scores only"


def test_confidence_is_formatted_in_the_simulators_culture_with_significant_digits():
    assert format_command(0.5, 0.25, ",", 2.5e-8) == {"steering_angle": "0,500000", "throttle": "0,250000",
                                                      "confidence": "2,5e-08"}
    assert "confidence" not in format_command(0.5, 0.25)


class Collect:
    def __init__(self):
        self.frames = []

    def put(self, frame):
        self.frames.append(frame)

    def close(self):
        pass


@pytest.mark.parametrize("on_alarm,threshold,expected_throttle", [
    ("stop", 0.0, -1.0),  # every frame alarms: full brake at 10 mph
    ("slow", 0.0, KP * -4 + KI * -4),  # target 12 x 0.5 = 6 mph; the integral starts at the first frame
    ("stop", float("inf"), KP * 2 + KI * 2),  # never alarms: the plain PI towards 12 mph
])
def test_alarm_changes_the_throttle_through_the_wire_and_the_reply_carries_confidence(
        make_checkpoint, on_alarm, threshold, expected_throttle):
    checkpoint = make_checkpoint("pilotnet", seed=4)
    monitor = AlarmMonitor("tta", get_spec("tta").fit(FitContext([], [checkpoint])), threshold=threshold)
    jpeg = real_center_frames(1)[0]
    model, pre = load_model(checkpoint)
    x = preprocess_frame(decode_jpeg(jpeg), pre)
    with torch.inference_mode():
        expected_score = float(abs(model(torch.stack([x, mirror_width(x)])).sum()))  # |f(x) + f(mirror x)|
    config = DriveConfig(transport=TransportConfig(port=0), stats_every=0,
                         control=ControlConfig(target_speed=12.0, max_throttle=0.6, on_alarm=on_alarm),
                         inference=InferenceConfig(backend="torch", precision="fp32"))
    sink = Collect()
    with running_server(checkpoint, config, sinks=[sink], alarm=monitor) as server:
        sim = SimulatorSocket(server.port)
        assert sim.recv_event()[0] == "steer"  # the greeting
        sim.send_telemetry(telemetry(jpeg, speed=10.0))
        name, data = sim.recv_event()
        sim.close()
        stats = server.stats
    assert name == "steer" and set(data) == {"steering_angle", "throttle", "confidence"}, data
    assert float(data["throttle"]) == pytest.approx(expected_throttle, abs=2e-6)
    assert float(data["confidence"]) == pytest.approx(expected_score, rel=1e-5)
    assert sink.frames[0].alarm_score == pytest.approx(expected_score, rel=1e-6)
    assert sink.frames[0].alarm is (threshold == 0.0)
    assert stats["counters"].get("alarm", 0) == (1 if threshold == 0.0 else 0)
    assert "alarm" in stats["latency_ms"], "the monitor's cost is measured per frame"


class ConstantModel:
    """Steers 0.2 on every frame; its input is the checkpoint's preprocessing of the frame."""

    def __init__(self, preprocess) -> None:
        self.preprocess = preprocess

    def prepare(self, frame):
        return preprocess_frame(frame, self.preprocess)

    def infer(self, x) -> float:
        return 0.2

    def configure_thread(self) -> None:
        pass

    def describe(self) -> str:
        return "constant"


def test_a_failing_monitor_raises_the_alarm_counts_the_error_and_the_frame_is_still_answered(make_checkpoint):
    checkpoint = make_checkpoint("pilotnet")
    monitor = AlarmMonitor("tta", get_spec("tta").fit(FitContext([], [checkpoint])), threshold=1e9)

    def broken(frame, ctx):
        raise RuntimeError("monitor out of memory")

    stats, sink = DriveStats(), Collect()
    _, pre = load_model(checkpoint)
    pipeline = DrivePipeline(ConstantModel(pre), ControlConfig(target_speed=12.0, on_alarm="stop"), stats, [sink],
                             alarm=monitor, run_alarm=broken)
    command = pipeline.step(pipeline.open(), parse_telemetry(telemetry(real_center_frames(1)[0], speed=10.0)), 0.0)
    assert (command.steering, command.throttle) == pytest.approx((0.2, -1.0)), "no score: treated as an alarm"
    assert sink.frames[0].alarm and stats.snapshot()["errors"] == {"alarm_error": 1}
