"""The monitor without a browser: the sink's history, every endpoint against a real drive server,
the record switch, the saliency overlay, and drive.py's flags."""
from __future__ import annotations

import datetime as dt
import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # drive.py
from drive_wire import SimulatorSocket, real_center_frames, steer_values, telemetry  # noqa: E402

import drive  # noqa: E402
from steering.drive import DriveConfig, DriveServer, TransportConfig  # noqa: E402
from steering.drive.monitor import Monitor, MonitorConfig, MonitorSink  # noqa: E402
from steering.drive.monitor_saliency import heat_png  # noqa: E402
from steering.drive.sinks import DriveFrame  # noqa: E402
from steering.inference import InferenceConfig, Predictor

T0 = dt.datetime(2024, 5, 1, 12, 0, 0)


def frame_at(seconds: float, steering: float = 0.0, image: str = "AAAA") -> DriveFrame:
    return DriveFrame(image, T0 + dt.timedelta(seconds=seconds), steering, 0.1, 9.0)


def test_sink_keeps_the_newest_frame_and_a_window_of_samples():
    sink = MonitorSink(history_s=30.0)
    assert sink.newest is None and sink.samples_since(0, 30.0) == []
    for i in range(50):  # one frame per second, steering i / 100
        sink.put(frame_at(float(i), steering=i / 100))
    seq, newest = sink.newest
    assert seq == 50 == sink.frames and newest.steering == pytest.approx(0.49)
    window = sink.samples_since(0, 30.0)
    # Frames at t = 19 .. 49 s lie within 30 s of the newest (t = 49): 31 frames, seq 20 .. 50.
    assert [s[0] for s in window] == list(range(20, 51))
    assert window[0][1] == pytest.approx((T0 + dt.timedelta(seconds=19)).timestamp())
    assert [s[0] for s in sink.samples_since(47, 30.0)] == [48, 49, 50]
    assert [s[0] for s in sink.samples_since(5, 30.0)] == list(range(20, 51))  # older than the window
    assert sink.samples_since(50, 30.0) == [] and sink.samples_since(99, 30.0) == []
    assert window[-1][2:5] == pytest.approx((0.49, 0.1, 9.0))
    assert window[-1][5:] == (None, 0), "no failure monitor: no score"


def test_state_carries_the_alarm_score_threshold_and_alarm_of_each_frame():
    monitor = Monitor(MonitorConfig(enabled=True, port=0))
    assert monitor.state()["alarm"] == {"on": False, "threshold": None}
    for i, score in enumerate((0.01, 0.08, float("nan"), 0.02)):
        # score > threshold 0.05 alarms, and so does NaN (a monitor that failed on the frame)
        monitor.sink.put(DriveFrame("AAAA", T0 + dt.timedelta(seconds=i), 0.0, 0.1, 9.0, score,
                                    not score <= 0.05, 0.05))
    state = monitor.state()
    assert state["alarm"] == {"on": True, "threshold": 0.05}
    assert [s[5:] for s in state["samples"]] == [(0.01, 0), (0.08, 1), (None, 1), (0.02, 0)]
    json.dumps(state, allow_nan=False)  # what /api/state sends: NaN would not be JSON
    monitor.sink.put(DriveFrame("AAAA", T0 + dt.timedelta(seconds=5), 0.0, 0.1, 9.0, 0.3, False, float("inf")))
    assert monitor.state()["alarm"] == {"on": True, "threshold": None}, "no threshold fitted: scores only"


def test_sink_history_is_bounded():
    sink = MonitorSink(history_s=1.0)  # room for 100 samples (100 frames/s)
    for i in range(1000):
        sink.put(frame_at(i / 1000))
    assert len(sink.samples) == 100 and sink.samples[0][0] == 901 and sink.frames == 1000


def test_heat_png_is_transparent_where_the_map_is_zero():
    values = np.zeros((160, 320), np.float32)
    values[10:20, 30:40] = 1.0
    values[100, 200] = 0.5
    image = cv2.imdecode(np.frombuffer(heat_png(values, max_alpha=0.6), np.uint8), cv2.IMREAD_UNCHANGED)
    assert image.shape == (160, 320, 4)
    assert image[0, 0, 3] == 0 and image[15, 35, 3] == int(0.6 * 255) and image[100, 200, 3] == int(0.5 * 0.6 * 255)


@pytest.fixture()
def served(make_checkpoint, tmp_path):
    """A drive server with a recording folder and a monitor on free ports."""
    path = make_checkpoint("pilotnet")
    config = DriveConfig(transport=TransportConfig(port=0), monitor=MonitorConfig(enabled=True, port=0, stats_s=0.0),
                         record_dir=tmp_path / "run1", stats_every=0)
    monitor = Monitor(config.monitor, path)
    server = DriveServer(Predictor(path, InferenceConfig(device="cpu", backend="torch", warmup=0)), config,
                         sinks=[monitor.sink])
    monitor.start(server)
    server.start()
    try:
        yield server, monitor
    finally:
        server.stop()
        monitor.stop()


def get(url: str) -> urllib.request.addinfourl:
    return urllib.request.urlopen(url, timeout=10)


def post(url: str, body: bytes) -> urllib.request.addinfourl:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    return urllib.request.urlopen(request, timeout=10)


def drive_frames(sim: SimulatorSocket, jpegs: list[bytes], speed: float = 10.0) -> list[float]:
    steering = []
    for jpeg in jpegs:
        sim.send_telemetry(telemetry(jpeg, speed=speed))
        name, data = sim.recv_event()
        assert name == "steer"
        steering.append(steer_values(data)[0])
    return steering


def test_endpoints_serve_what_the_car_was_sent(served, tmp_path):
    server, monitor = served
    jpegs = real_center_frames(6)
    state = json.load(get(monitor.url + "api/state"))
    assert state["frames"] == 0 and state["connection"]["state"] == "waiting for the simulator"
    assert state["recording"]["on"] is True and "backend torch" in state["runtime"]
    sim = SimulatorSocket(server.port)
    try:
        sim.recv_event()
        sent = drive_frames(sim, jpegs[:5], speed=11.0)
        state = json.load(get(monitor.url + "api/state"))
        assert state["frames"] == 5 and state["connection"] == {**state["connection"], "state": "driving",
                                                                 "simulators": 1}
        assert [s[0] for s in state["samples"]] == [1, 2, 3, 4, 5]
        # The wire rounds to 6 decimals; the page gets the float the controller produced.
        assert [round(s[2], 6) for s in state["samples"]] == sent
        assert all(s[4] == 11.0 for s in state["samples"])
        assert state["latency_ms"]["total"]["n"] == 5 and state["counters"]["steer"] == 5
        assert json.load(get(monitor.url + "api/state?since=3"))["samples"][0][0] == 4

        frame = get(monitor.url + "frame.jpg?after=0")
        assert frame.headers["Content-Type"] == "image/jpeg" and frame.headers["X-Frame-Seq"] == "5"
        assert frame.read() == jpegs[4], "the newest frame, byte for byte as the simulator sent it"
        assert float(frame.headers["X-Steering"]) == pytest.approx(sent[-1], abs=1e-6)
        assert get(monitor.url + "frame.jpg?after=5").status == 204  # nothing newer within the long-poll

        # Record switch: paused frames do not reach run1/IMG; bad bodies are refused.
        assert json.load(post(monitor.url + "api/record", b'{"on": false}'))["recording"]["on"] is False
        drive_frames(sim, jpegs[5:6])
        assert json.load(post(monitor.url + "api/record", b'{"on": true}'))["recording"]["on"] is True
        with pytest.raises(urllib.error.HTTPError) as bad:
            post(monitor.url + "api/record", b'{"on": "yes"}')
        assert bad.value.code == 400
        sim.send_telemetry({"image": "x"})
        sim.recv_event()
        state = json.load(get(monitor.url + "api/state"))
        assert state["safe"] == 1 and state["errors"] == {"missing_field": 1}
    finally:
        sim.close()
    assert get(monitor.url).headers["Content-Type"] == "text/html"
    assert b"monitor.js" in get(monitor.url).read()
    for missing in ("static/nothing.js", "static/%2e%2e/monitor.py", "api/nothing"):
        with pytest.raises(urllib.error.HTTPError) as info:
            get(monitor.url + missing)
        assert info.value.code == 404, missing
    server.stop()
    assert server.recorder.written == 5 and len(list((tmp_path / "run1" / "IMG").glob("*.jpg"))) == 5


def test_saliency_overlay_is_visual_backprop_of_the_newest_frame(served, make_checkpoint):
    from steering.checkpoint import load_model
    from steering.explain import frame_saliency
    from steering.preprocess import decode_jpeg

    server, monitor = served
    jpegs = real_center_frames(3)
    sim = SimulatorSocket(server.port)
    try:
        sim.recv_event()
        drive_frames(sim, jpegs)
    finally:
        sim.close()
    assert get(monitor.url + "saliency.png").status == 204  # the first request starts the worker
    deadline = time.monotonic() + 30
    while monitor.saliency.latest is None and time.monotonic() < deadline:
        time.sleep(0.05)
    response = get(monitor.url + "saliency.png")
    assert response.status == 200 and response.headers["X-Frame-Seq"] == "3"
    model, preprocess = load_model(monitor.saliency.checkpoint)
    maps, _ = frame_saliency(model, preprocess, [decode_jpeg(jpegs[2])], "vbp")
    assert response.read() == heat_png(maps[0])
    assert json.load(get(monitor.url + "api/state"))["saliency"]["computed"] >= 1


def test_saliency_worker_stops_when_no_page_asks(served):
    server, monitor = served
    monitor.saliency.idle_s = 0.3
    monitor.saliency.request()
    deadline = time.monotonic() + 30
    while monitor.saliency.status()["active"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert monitor.saliency.status()["active"] is False and monitor.saliency.computed == 0  # no frame yet


def test_drive_flags_default_off_on_localhost_8887():
    args = drive.build_parser().parse_args(["model.pt"])
    assert drive.config_from(args).monitor == MonitorConfig(enabled=False, host="127.0.0.1", port=8887)
    args = drive.build_parser().parse_args(["model.pt", "--monitor", "--monitor-host", "0.0.0.0",
                                            "--monitor-port", "9000"])
    assert drive.config_from(args).monitor == MonitorConfig(enabled=True, host="0.0.0.0", port=9000)


def test_taken_monitor_port_fails_at_start_with_clear_message(make_checkpoint, capsys):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code = drive.main([str(make_checkpoint("pilotnet")), "--port", "0", "--monitor", "--monitor-port", str(port),
                           "--backend", "torch"])
    assert code == 2
    assert f"monitor: cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


class _PageReader:
    """An evaluation observer that reads the monitor page's endpoints at step 30 of the drive."""

    def __init__(self, caplog) -> None:
        self.caplog, self.state, self.jpeg, self.steps = caplog, None, b"", 0

    def on_step(self, world, info, command) -> None:
        self.steps += 1
        if self.steps != 30:
            return
        url = next(r.args[0] for r in self.caplog.records if r.getMessage().startswith("monitor page on"))
        self.state = json.load(get(url + "api/state"))
        self.jpeg = get(url + "frame.jpg?after=0").read()
        self.command = command

    def close(self) -> None:
        pass


def test_evaluate_with_monitor_serves_the_page_of_the_in_process_server(make_checkpoint, caplog):
    import logging

    from steering.eval.config import EvalConfig
    from steering.eval.evaluate import evaluate
    from steering.preprocess import decode_jpeg

    caplog.set_level(logging.INFO, logger="steering.drive.monitor")
    reader = _PageReader(caplog)
    evaluate(make_checkpoint("pilotnet"), EvalConfig(track="lake", max_sim_s=3.0, progress=False, monitor=True,
                                                     monitor_port=0), observers=[reader])
    assert reader.state is not None, "the drive ended before step 30"
    # Step 30 applied the 30th command; the first is the server's connect `steer`, which answers no frame.
    assert reader.state["frames"] >= 29 and reader.state["connection"]["simulators"] == 1
    assert decode_jpeg(reader.jpeg).shape == (160, 320, 3), "a simulator frame as the server received it"
    assert "backend" in reader.state["runtime"]


def test_evaluate_monitor_with_an_external_server_is_refused():
    from steering.eval.config import EvalConfig
    from steering.eval.evaluate import evaluate

    with pytest.raises(ValueError, match="start that drive.py with --monitor"):
        evaluate(None, EvalConfig(port=4567, monitor=True, progress=False))


def test_eval_cli_has_the_monitor_flags():
    import argparse

    from steering.eval import cli

    parser = argparse.ArgumentParser()
    cli.add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["evaluate", "m.pt", "--monitor", "--monitor-port", "0"])
    assert args.monitor is True and args.monitor_port == 0
    assert parser.parse_args(["evaluate", "m.pt"]).monitor is False
