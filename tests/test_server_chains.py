"""Several telemetry chains at once (the simulator's double open), stale frames, pings during inference."""
from __future__ import annotations

import time

import numpy as np
import pytest
import websocket
from drive_wire import SimulatorSocket, steer_values, telemetry

from steering.drive import DriveConfig, TransportConfig, running_server
from steering.preprocess import encode_jpeg


def numbered_frame(number: int) -> bytes:
    """A uniform 320x160 JPEG that carries `number` (0..624): red = 10 x (number mod 25),
    green = 10 x (number div 25). Flat colours survive JPEG to well within +-2 levels."""
    frame = np.zeros((160, 320, 3), np.uint8)
    frame[..., 0], frame[..., 1] = 10 * (number % 25), 10 * (number // 25)
    return encode_jpeg(frame, quality=95)


def frame_number(frame: np.ndarray) -> int:
    return round(float(frame[..., 1].mean()) / 10) * 25 + round(float(frame[..., 0].mean()) / 10)


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
        frame_id = frame_number(frame)
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
        for (_, _, previous_end), (frame_id, _, _) in zip(self.inferences, self.inferences[1:], strict=False):
            bad += [(frame_id, other) for other, t in self.arrived.items() if other > frame_id and t < previous_end]
        return bad

    def configure_thread(self) -> None:
        pass

    def describe(self) -> str:
        return "frame-id model"


class LockStepSimulator:
    """The simulator's side: numbered frames, one telemetry per reply (plus extra chains on demand).

    `replies` holds, per `steer` received, (id of the frame it steers on, id of the newest frame sent
    when it arrived): equal means the command is as fresh as lock-step allows.
    """

    def __init__(self, port: int) -> None:
        self.sim = SimulatorSocket(port, timeout=20.0)  # a stalled loop fails on this timeout
        self.sent = 0
        self.replies: list[tuple[int, int]] = []

    def send(self) -> None:
        self.sent += 1
        self.sim.send_telemetry(telemetry(numbered_frame(self.sent), speed=10.0))

    def receive(self) -> None:
        """Wait for the next `steer`; the connect `steer 0,0` is not a reply to a frame."""
        name, data = self.sim.recv_event()
        assert name == "steer"
        if data == {"steering_angle": "0", "throttle": "0"} and not self.replies:
            return
        self.replies.append((round(steer_values(data)[0] * 1000), self.sent))

    def drain(self, server, seconds: float = 20.0) -> None:
        """Stop feeding; collect what is still in flight until every telemetry is answered or superseded."""
        deadline = time.monotonic() + seconds
        self.sim.ws.settimeout(0.2)
        while len(self.replies) + server.stats["counters"].get("superseded", 0) < self.sent:
            assert time.monotonic() < deadline, f"stalled: {server.stats['counters']}, sent {self.sent}"
            try:
                self.receive()
            except websocket.WebSocketTimeoutException:
                continue


OPENING = 6  # replies during which the two or three opening chains may still overlap


def test_double_open_chains_collapse_to_one_that_steers_on_the_newest_frame():
    model = FrameIdModel()
    with running_server(model, DriveConfig(transport=TransportConfig(port=0), stats_every=0)) as server:
        client = LockStepSimulator(server.port)
        client.send()  # the simulator's "open" fires twice, each firing sends a telemetry ...
        client.send()
        client.receive()  # ... and our connect `steer 0,0` triggers a third chain
        client.send()
        while client.sent < 300:
            client.receive()
            client.send()
        client.drain(server)
        client.sim.close()
        stats = server.stats

    counters = {"superseded": 0, "superseded_after_inference": 0, **stats["counters"]}
    replies = client.replies
    reply_ids = [frame for frame, _ in replies]
    assert counters["steer"] + counters["superseded"] == client.sent, f"lost telemetry: {counters}"
    assert counters["steer"] == len(replies), "one reply per answered telemetry, never two"
    assert all(b > a for a, b in zip(reply_ids, reply_ids[1:], strict=False)), f"commands on older frames: {reply_ids}"
    # Never more than one inference older than the newest frame sent, even during the opening ...
    assert all(newest - frame <= 1 for frame, newest in replies), replies[:OPENING]
    # ... and after it one chain only: each reply steers on the very frame sent after the previous
    # reply (two live chains would answer the frame before it), and no frame goes unanswered.
    late = [(frame, newest) for frame, newest in replies[OPENING:] if frame != newest]
    assert late == [], f"replies on a frame older than the newest sent (a second chain survived): {late[:10]}"
    unanswered = sorted(set(range(1, client.sent + 1)) - set(reply_ids))
    assert unanswered and max(unanswered) <= OPENING, f"frames dropped after the opening: {unanswered}"
    assert counters["superseded_after_inference"] >= 1, "the opening's stale reply must be dropped"
    # Every inference runs on the newest frame available when it was chosen.
    assert model.skipped_newer_frames() == [], "an inference ran on a frame older than one available"
    assert stats["max_newer_at_infer_start"] == 0 and stats["max_newer_at_reply"] == 0
    assert len(model.inferences) == counters["steer"] + counters["superseded_after_inference"]


def test_extra_chains_mid_drive_never_stall_and_collapse_again():
    """A few hundred exchanges with a slow model while extra chains start at random (as a
    re-opening client would): the loop never stalls and each burst collapses back to lock-step."""
    rng = np.random.default_rng(0)
    model = FrameIdModel(seconds=0.01, first_seconds=0.01)
    with running_server(model, DriveConfig(transport=TransportConfig(port=0), stats_every=0)) as server:
        client = LockStepSimulator(server.port)
        client.send()
        client.send()
        bursts = 0
        while client.sent < 400:
            client.receive()
            client.send()
            if rng.random() < 0.1:  # a second chain appears
                client.send()
                bursts += 1
        client.drain(server)
        client.sim.close()
        counters = {"superseded": 0, **server.stats["counters"]}

    assert bursts >= 20
    assert counters["steer"] + counters["superseded"] == client.sent, f"lost telemetry: {counters}"
    assert all(newest - frame <= 1 for frame, newest in client.replies), "a command two frames stale"
    # After each burst the extra chain ends: no reply for some frame, never a run of stale replies.
    stale = [newest - frame for frame, newest in client.replies[OPENING:]]
    assert sum(stale) <= bursts, f"{sum(stale)} stale replies for {bursts} extra chains"
    assert len(client.replies) >= 400 - 2 * bursts - OPENING


def test_a_client_that_does_not_wait_is_answered_every_other_inference():
    """Frames faster than the model (not the simulator's way, but a client may do it): replies
    are dropped for newer frames at most once in a row, so commands keep flowing; the last frame
    is answered."""
    model = FrameIdModel(seconds=0.03, first_seconds=0.03)
    with running_server(model, DriveConfig(transport=TransportConfig(port=0), stats_every=0)) as server:
        client = LockStepSimulator(server.port)
        client.receive()  # steer 0,0
        for _ in range(30):
            client.send()
            time.sleep(0.01)
        client.drain(server)
        client.sim.close()
        counters = {"superseded_after_inference": 0, **server.stats["counters"]}

    assert client.replies[-1][0] == 30, "the newest frame must be answered"
    assert counters["steer"] >= len(model.inferences) // 2, (counters, len(model.inferences))
    assert counters["superseded_after_inference"] >= 1


def test_pings_are_answered_while_the_model_runs():
    model = FrameIdModel(seconds=0.5, first_seconds=0.5)
    with running_server(model, DriveConfig(transport=TransportConfig(port=0), stats_every=0)) as server:
        sim = SimulatorSocket(server.port)
        sim.recv_event()  # steer 0,0
        sim.send_telemetry(telemetry(numbered_frame(7), speed=10.0))
        sim.ping()
        # The pong must come before the steer: the event loop is free while the model thinks.
        assert sim.recv_packet() == "3"
        name, data = sim.recv_event()
        assert name == "steer" and steer_values(data)[0] == pytest.approx(0.007)
        sim.close()
