"""drive.py --alarm through the real server: the score in the recording's columns, and --alarm-async."""
from __future__ import annotations

import queue
import time

import numpy as np
import pytest
import torch
from drive_wire import SimulatorSocket, real_center_frames, telemetry

import drive
from steering.checkpoint import load_model
from steering.data import read_logs
from steering.drive import DriveConfig, TransportConfig, running_server
from steering.drive.alarm import AlarmConfig
from steering.drive.score_process import ScoreProcess
from steering.drive.sinks import ALARM_COLUMNS
from steering.inference import InferenceConfig
from steering.inference.ensemble import mirror_width
from steering.monitors import AlarmMonitor, fit_monitor
from steering.preprocess import decode_jpeg, preprocess_frame
from steering.udacity import LOG_COLUMNS, LOG_NAME


def _flip_scores(checkpoint, jpegs: list[bytes]) -> list[float]:
    """tta's score computed here: |f(x) + f(mirror x)| on the checkpoint's own fp32 model."""
    model, pre = load_model(checkpoint)
    scores = []
    for jpeg in jpegs:
        x = preprocess_frame(decode_jpeg(jpeg), pre)
        with torch.inference_mode():
            scores.append(float(abs(model(torch.stack([x, mirror_width(x)])).sum())))
    return scores


def _drive(port: int, jpegs: list[bytes], between=lambda: None) -> list[dict]:
    sim = SimulatorSocket(port)
    try:
        assert sim.recv_event()[0] == "steer"  # the greeting
        replies = []
        for jpeg in jpegs:
            sim.send_telemetry(telemetry(jpeg, speed=10.0))
            name, data = sim.recv_event()
            assert name == "steer", (name, data)
            replies.append(data)
            between()
        return replies
    finally:
        sim.close()


@pytest.fixture()
def fitted(make_checkpoint):
    """A tta monitor fitted in the test on 6 real frames (gamma threshold), and 5 other frames to drive."""
    checkpoint = make_checkpoint("pilotnet", seed=3)
    jpegs = real_center_frames(11)
    monitor = fit_monitor("tta", [decode_jpeg(j) for j in jpegs[:6]], [checkpoint], source="test")
    driven = jpegs[6:]
    scores = _flip_scores(checkpoint, driven)
    # a threshold between the driven frames' scores, so the log holds both alarm states
    monitor.threshold = float(np.median(scores))
    return checkpoint, monitor, driven, scores


def _config(record, asynchronous: bool = False) -> DriveConfig:
    return DriveConfig(transport=TransportConfig(port=0), stats_every=0, record_dir=record,
                       inference=InferenceConfig(backend="torch", precision="fp32"),
                       alarm=AlarmConfig(kind="tta", asynchronous=asynchronous))


def _extra_columns(record) -> list[list[str]]:
    lines = (record / LOG_NAME).read_text().splitlines()
    return [line.split(",")[len(LOG_COLUMNS):] for line in lines]


def test_recording_with_alarm_holds_score_threshold_and_alarm_per_frame(fitted, tmp_path):
    checkpoint, monitor, driven, scores = fitted
    record = tmp_path / "run1"
    with running_server(checkpoint, _config(record), alarm=monitor) as server:
        replies = _drive(server.port, driven)
    rows = _extra_columns(record)
    assert len(rows) == 5 and all(len(r) == len(ALARM_COLUMNS) for r in rows)
    recorded = [float(r[0]) for r in rows]
    assert recorded == pytest.approx(scores, rel=1e-5)
    assert [float(r[1]) for r in rows] == pytest.approx([monitor.threshold] * 5, rel=1e-6)
    assert [r[2] for r in rows] == [str(int(s > monitor.threshold)) for s in scores]
    assert {r[2] for r in rows} == {"0", "1"}, "the threshold splits the driven frames"
    assert [r[3] for r in rows] == ["0"] * 5, "scored on their own frame"
    assert [float(r["confidence"]) for r in replies] == pytest.approx(scores, rel=1e-5)
    log = read_logs(record / LOG_NAME).rows
    assert len(log) == 5 and log["steering"].tolist() == pytest.approx([float(r["steering_angle"]) for r in replies],
                                                                       abs=1e-6)


def test_async_scoring_replies_with_the_previous_frames_score(fitted, tmp_path):
    checkpoint, monitor, driven, scores = fitted
    record = tmp_path / "run1"
    with running_server(checkpoint, _config(record, asynchronous=True), alarm=monitor) as server:
        background = server.pipeline.score_async

        def monitor_done():  # the monitor keeps up: its score of frame k is ready before frame k+1
            deadline = time.monotonic() + 20.0
            while background.busy and time.monotonic() < deadline:
                time.sleep(0.005)

        replies = _drive(server.port, driven, between=monitor_done)
        counters = server.stats["counters"]
    assert "confidence" not in replies[0], "nothing scored yet for the first frame"
    assert [float(r["confidence"]) for r in replies[1:]] == pytest.approx(scores[:-1], rel=1e-5)
    rows = _extra_columns(record)
    assert rows[0][:3] == ["nan", f"{monitor.threshold:.6e}", "0"] and rows[0][3] == "0"
    assert [float(r[0]) for r in rows[1:]] == pytest.approx(scores[:-1], rel=1e-5)
    assert [r[2] for r in rows[1:]] == [str(int(s > monitor.threshold)) for s in scores[:-1]]
    assert [r[3] for r in rows[1:]] == ["1"] * 4, "one frame late"
    assert counters.get("alarm_skipped", 0) == 0


def test_alarm_async_flag_needs_an_alarm():
    args = drive.build_parser().parse_args(["m.pt", "--alarm", "tta", "--alarm-async"])
    assert drive.config_from(args).alarm == AlarmConfig(kind="tta", asynchronous=True)
    with pytest.raises(ValueError, match="--alarm-async needs --alarm NAME"):
        AlarmConfig(asynchronous=True)


def test_score_process_scores_like_the_monitor_and_hands_back_its_errors(fitted):
    checkpoint, monitor, driven, scores = fitted
    results = queue.Queue()
    process = ScoreProcess(monitor)
    try:
        assert process.submit(lambda *r: results.put(r), decode_jpeg(driven[0]))
        score, error, seconds = results.get(timeout=60.0)
        assert error is None and seconds > 0.0 and score == pytest.approx(scores[0], rel=1e-5)
        _wait_idle(process)
        assert process.submit(lambda *r: results.put(r), np.zeros((10, 10, 3), np.uint8))  # not a camera frame
        score, error, _ = results.get(timeout=60.0)
        assert np.isnan(score) and isinstance(error, RuntimeError) and "160" in str(error)
    finally:
        process.close()
    assert not process.submit(lambda *r: None, decode_jpeg(driven[0])), "closed: refused"


def test_a_monitor_that_cannot_load_fails_at_start(fitted, tmp_path):
    _, monitor, _, _ = fitted
    broken = AlarmMonitor("tta", {"checkpoint": str(monitor.state["checkpoint"])}, monitor.threshold)
    broken.state["checkpoint"] = str(tmp_path / "gone.pt")  # the child loads from the state: no such file
    with pytest.raises(RuntimeError, match="tta monitor's process did not start"):
        ScoreProcess(broken)


def _wait_idle(process) -> None:
    deadline = time.monotonic() + 20.0
    while process.busy and time.monotonic() < deadline:
        time.sleep(0.005)
