"""Several telemetry chains at once (the simulator's double open), stale frames, pings during inference."""
from __future__ import annotations

import time

import numpy as np
import pytest
import websocket

from drive_wire import SimulatorSocket, steer_values, telemetry
from steering.preprocess import encode_jpeg
from steering.server import DriveConfig, running_server


def numbered_frame(number: int) -> bytes:
    """A uniform grey 320x160 JPEG whose grey level is `number` (1..250): the frame's id survives JPEG."""
    return encode_jpeg(np.full((160, 320, 3), number, np.uint8), quality=95)


class FrameIdModel:
    """Steers `id / 1000` for frame `id`, slowly, and logs when frames arrive and inferences run.

    `prepare` runs as a frame arrives (before the server's scheduling), `infer` in the model
    thread; both stamp `time.perf_counter()`, so staleness is checked independently of the server.
    """

    def __init__(self, seconds: float = 0.02, first_seconds: float = 0.3) -> None:
        self.seconds, self.first_seconds = seconds, first_seconds
        self.arrived: dict[int, float] = {}
        self.inferences: list[tuple[int, float, float]] = []  # (frame id, start, end)

    def prepare(self, frame: np.ndarray) -> int:
        frame_id = int(round(float(frame.mean())))
        self.arrived[frame_id] = time.perf_counter()
        return frame_id

    def infer(self, frame_id: int) -> float:
        start = time.perf_counter()
        # The first inference is long so that the double-open chains pile up behind it.
        time.sleep(self.first_seconds if not self.inferences else self.seconds)
        self.inferences.append((frame_id, start, time.perf_counter()))
        return frame_id / 1000.0

    def skipped_newer_frames(self) -> list[tuple[int, int]]:
        """(inferred id, newer id) where the newer frame had arrived before the previous
        inference ended, i.e. was available when this inference was chosen."""
        bad = []
        for (_, _, previous_end), (frame_id, _, _) in zip(self.inferences, self.inferences[1:]):
            bad += [(frame_id, other) for other, t in self.arrived.items() if other > frame_id and t < previous_end]
        return bad

    def configure_thread(self) -> None:
        pass

    def describe(self) -> str:
        return "frame-id model"


def test_double_open_chains_never_stall_and_steer_on_the_newest_frame():
    model = FrameIdModel()
    frames = [numbered_frame(i) for i in range(1, 251)]
    sent = 0

    def send(sim: SimulatorSocket) -> None:
        nonlocal sent
        sent += 1
        sim.send_telemetry(telemetry(frames[sent - 1], speed=10.0))

    with running_server(model, DriveConfig(port=0, stats_every=0)) as server:
        sim = SimulatorSocket(server.port, timeout=20.0)  # a stalled loop fails on this timeout
        send(sim)  # the simulator's "open" fires twice, each firing sends a telemetry ...
        send(sim)
        reply_ids: list[int] = []
        first = True
        while len(reply_ids) < 80:
            name, data = sim.recv_event()
            assert name == "steer"
            if first:  # ... and our connect `steer 0,0` triggers a third chain
                assert data == {"steering_angle": "0", "throttle": "0"}
                first = False
            else:
                reply_ids.append(round(steer_values(data)[0] * 1000))
            send(sim)
        # Stop feeding and collect what is still in flight: every telemetry is answered or superseded.
        deadline = time.monotonic() + 20
        sim.ws.settimeout(0.2)
        while len(reply_ids) + server.stats["counters"].get("superseded", 0) < sent and time.monotonic() < deadline:
            try:
                name, data = sim.recv_event()
            except websocket.WebSocketTimeoutException:
                continue
            reply_ids.append(round(steer_values(data)[0] * 1000))
        sim.close()
        stats = server.stats

    counters = {"superseded": 0, **stats["counters"]}
    assert counters["steer"] + counters["superseded"] == sent, f"lost telemetry: {counters}, sent {sent}"
    assert counters["steer"] == len(reply_ids), "one reply per answered telemetry, never two"
    assert all(b > a for a, b in zip(reply_ids, reply_ids[1:])), f"commands on older frames: {reply_ids}"
    # Every inference runs on the newest frame available when it was chosen, so each command's frame
    # is at most one inference older than the newest frame received.
    assert model.skipped_newer_frames() == [], "an inference ran on a frame older than one available"
    assert stats["max_newer_at_infer_start"] == 0
    assert len(model.inferences) == counters["steer"]
    assert counters["superseded"] >= 1, "three chains at start: the older waiting frame must be dropped"


def test_pings_are_answered_while_the_model_runs():
    model = FrameIdModel(seconds=0.5, first_seconds=0.5)
    with running_server(model, DriveConfig(port=0, stats_every=0)) as server:
        sim = SimulatorSocket(server.port)
        sim.recv_event()  # steer 0,0
        sim.send_telemetry(telemetry(numbered_frame(7), speed=10.0))
        sim.ping()
        # The pong must come before the steer: the event loop is free while the model thinks.
        assert sim.recv_packet() == "3"
        name, data = sim.recv_event()
        assert name == "steer" and steer_values(data)[0] == pytest.approx(0.007)
        sim.close()
