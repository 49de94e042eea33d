"""drive.py --alarm through the real server: the score in the recording's columns, and --alarm-async."""
from __future__ import annotations

import os
import queue
import threading
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
from steering.drive.sinks import ALARM_COLUMNS
from steering.drive.worker import BackgroundCall, lower_priority
from steering.inference import InferenceConfig
from steering.inference.ensemble import mirror_width
from steering.monitors import fit_monitor
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


def test_background_call_refuses_while_busy_and_hands_the_result_to_its_callback():
    release, results = threading.Event(), queue.Queue()

    def slow_double(value):
        release.wait(10.0)
        if value < 0:
            raise ValueError("negative")
        return 2 * value

    background = BackgroundCall(slow_double)
    try:
        assert background.submit(lambda *r: results.put(r), 21)
        assert background.busy and not background.submit(lambda *r: results.put(r), 5), "busy: refused"
        release.set()
        value, error, seconds = results.get(timeout=10.0)
        assert (value, error) == (42, None) and seconds >= 0.0
        deadline = time.monotonic() + 5.0
        while background.busy and time.monotonic() < deadline:
            time.sleep(0.001)
        assert background.submit(lambda *r: results.put(r), -1)
        value, error, _ = results.get(timeout=10.0)
        assert value is None and isinstance(error, ValueError)
    finally:
        background.close()


def test_lower_priority_renices_only_the_calling_thread():
    seen = {}

    def worker():
        tid = threading.get_native_id()
        before = os.getpriority(os.PRIO_PROCESS, tid)
        lower_priority(3)
        seen["thread"] = (before, os.getpriority(os.PRIO_PROCESS, tid))

    process_before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    before, after = seen["thread"]
    assert after == min(19, before + 3)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == process_before, "the caller keeps its own"
