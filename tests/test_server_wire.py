"""The drive server through the wire, with a raw client that behaves exactly like the Unity simulator."""
from __future__ import annotations

import base64
import json
import math

import numpy as np
import pytest
import torch
import websocket
from drive_wire import SimulatorSocket, real_center_frames, steer_values, telemetry

from steering.checkpoint import load_model
from steering.drive import ControlConfig, DriveConfig, TransportConfig, running_server
from steering.inference import InferenceConfig
from steering.preprocess import decode_jpeg, encode_jpeg, preprocess_frame

TARGET = 12.0  # mph; KP/KI are ControlConfig's classic gains
KP, KI = 0.1, 0.002


@pytest.fixture()
def pilotnet(make_checkpoint):
    return make_checkpoint("pilotnet")


def config(record_dir=None, **inference) -> DriveConfig:
    return DriveConfig(
        transport=TransportConfig(port=0),
        stats_every=0,
        record_dir=record_dir,
        control=ControlConfig(target_speed=TARGET, max_throttle=0.6),
        inference=InferenceConfig(**inference),
    )


def connect(server) -> SimulatorSocket:
    sim = SimulatorSocket(server.port)
    name, data = sim.recv_event()
    assert (name, data) == ("steer", {"steering_angle": "0", "throttle": "0"}), "steer 0,0 must greet the simulator"
    return sim


def test_simulator_client_gets_one_steer_per_telemetry_pongs_and_manual(pilotnet):
    frames = real_center_frames(12)
    with running_server(pilotnet, config()) as server:
        sim = connect(server)
        assert sim.other[0].startswith("0{") and '"sid"' in sim.other[0], f"Engine.IO open packet: {sim.other}"
        replies = []
        for i, jpeg in enumerate(frames):
            if i % 3 == 0:
                sim.ping()
            sim.send_telemetry(telemetry(jpeg, steering_angle=-3.5, throttle=0.2, speed=10.0))
            replies.append(sim.recv_event())
        sim.send_telemetry({})
        manual = sim.recv_event()
        sim.ping()
        sim.send_telemetry({})
        sim.recv_event()
        sim.close()
        stats = server.stats
    assert [name for name, _ in replies] == ["steer"] * len(frames)
    for _, data in replies:
        steering, throttle = steer_values(data)
        assert -1.0 <= steering <= 1.0 and -1.0 <= throttle <= 0.6
    assert manual == ("manual", {})
    assert sim.pongs == 5, f"every ping '2' needs a pong '3', got {sim.pongs} of 5"
    assert stats["counters"]["steer"] == len(frames) and stats["counters"]["manual"] == 2
    assert stats["errors"] == {}
    assert set(stats["latency_ms"]) == {"decode", "preprocess", "infer", "total"}


def test_steering_sent_equals_model_output_through_checkpoint_preprocessing(pilotnet):
    frames = real_center_frames(6)
    model, pre = load_model(pilotnet)  # independent of the server's Predictor
    with torch.inference_mode():
        batch = torch.stack([preprocess_frame(decode_jpeg(jpeg), pre) for jpeg in frames])  # (6, 3, 66, 200)
        expected = model(batch).clamp(-1, 1).tolist()
    assert len(set(np.round(expected, 6))) > 1, "frames should give different steering"
    # fp32 eager: bit-for-bit comparable (the default runtime may round to bf16, checked within
    # 0.02 in tests/test_drive_inference.py)
    with running_server(pilotnet, config(backend="torch", precision="fp32")) as server:
        sim = connect(server)
        sent = []
        for jpeg in frames:
            sim.send_telemetry(telemetry(jpeg, speed=10.0))
            sent.append(steer_values(sim.recv_event()[1]))
        sim.close()
    assert [s for s, _ in sent] == pytest.approx(expected, abs=2e-6)
    # PI on speed 10 towards 12: error 2 each frame, the integral adds 2 per frame.
    assert [t for _, t in sent] == pytest.approx([KP * 2 + KI * 2 * (i + 1) for i in range(6)], abs=2e-6)


@pytest.mark.parametrize("decimal,group", [(",", "."), (",", "\u00a0"), (",", " "), (".", ","), (".", "'")])
def test_reply_uses_the_decimal_separator_the_simulator_used(pilotnet, decimal, group):
    jpeg = real_center_frames(1)[0]
    with running_server(pilotnet, config()) as server:
        reference = connect(server)
        reference.send_telemetry(telemetry(jpeg, speed=10.0))
        want = steer_values(reference.recv_event()[1])
        reference.close()
        sim = connect(server)
        # 1234.5 mph makes N4 insert its group separator ("1.234,5000"): it must parse (else bad_number),
        # then be refused as beyond what the car reports (out_of_range, the safe command).
        for speed in (10.0, 1234.5):
            sim.send_telemetry(telemetry(jpeg, steering_angle=-3.5, throttle=0.25, speed=speed,
                                         decimal=decimal, group=group))
            name, data = sim.recv_event()
            assert name == "steer"
            assert all(v.count(decimal) == 1 and ({",", "."} - {decimal}).isdisjoint(v) for v in data.values()), data
            if speed == 10.0:
                got = tuple(float(v.replace(",", ".")) for v in data.values())
                assert got == pytest.approx(want, abs=2e-6), "same frame and speed must steer the same in any locale"
            else:
                assert float(data["throttle"].replace(",", ".")) == 0.0, "1234.5 mph: the safe command"
        sim.close()
        assert server.stats["errors"] == {"out_of_range": 1}


def _jpeg_b64(jpeg: bytes) -> str:
    return base64.b64encode(jpeg).decode("ascii")


def malformed_messages(jpeg: bytes) -> list[tuple[str, str]]:
    """(raw Socket.IO text, expected error counter) for every kind of bad telemetry."""
    good = telemetry(jpeg, speed=10.0)

    def event(payload) -> str:
        return "42" + json.dumps(["telemetry", payload])

    small = np.full((64, 64, 3), 90, np.uint8)
    return [
        (event("not a dict"), "not_a_dict"),
        (event([1, 2, 3]), "not_a_dict"),
        (event(None), "not_a_dict"),
        ('42["telemetry"]', "not_a_dict"),
        (event({k: v for k, v in good.items() if k != "speed"}), "missing_field"),
        (event({"image": good["image"]}), "missing_field"),
        (event({**good, "speed": "fast"}), "bad_number"),
        (event({**good, "steering_angle": "NaN"}), "bad_number"),
        (event({**good, "throttle": "Infinity"}), "bad_number"),
        (event({**good, "speed": True}), "bad_number"),
        (event({**good, "image": 12345}), "bad_image_field"),
        (event({**good, "image": "!!!! not base64 ***"}), "bad_image"),
        (
            event({**good, "image": _jpeg_b64(jpeg[: len(jpeg) // 2])}),
            "corrupt_jpeg",
        ),  # truncated JPEG: the decoder reports it
        (event({**good, "image": _jpeg_b64(jpeg[:20] + bytes(range(256)) * 8)}), "bad_image"),  # corrupt
        (event({**good, "image": _jpeg_b64(encode_jpeg(small))}), "bad_image"),  # 64x64, not 320x160
        (event({**good, "image": "A" * 1_500_000}), "oversized_image"),  # 1.5 MB of base64
        ('42["telemetry",{"speed": "1",', "bad_json"),
    ]


def test_malformed_telemetry_gets_safe_command_counted_and_server_survives(pilotnet):
    frames = real_center_frames(3)
    bad = malformed_messages(frames[0])
    with running_server(pilotnet, config()) as server:
        sim = connect(server)
        last_good = None
        for i, (raw, reason) in enumerate(bad):
            sim.send_telemetry(telemetry(frames[i % 3], speed=10.0))
            name, data = sim.recv_event()
            assert name == "steer"
            last_good = steer_values(data)
            sim.send_raw(raw)
            name, data = sim.recv_event()
            assert name == "steer", f"{reason}: no steer reply"
            steering, throttle = steer_values(data)
            assert throttle == 0.0, f"{reason}: safe command must cut the throttle"
            assert steering == pytest.approx(last_good[0], abs=1e-6), f"{reason}: safe command keeps the last steering"
        sim.send_telemetry(telemetry(frames[0], speed=10.0))
        assert sim.recv_event()[0] == "steer", "server must keep steering after all that"
        sim.close()
        stats = server.stats
    expected: dict[str, int] = {}
    for _, reason in bad:
        expected[reason] = expected.get(reason, 0) + 1
    assert stats["errors"] == expected
    assert stats["counters"]["telemetry"] == 2 * len(bad) + 1
    assert stats["counters"]["safe"] == len(bad) and stats["counters"]["steer"] == len(bad) + 1


class NaNEveryOther:
    """A model that returns NaN for every second frame."""

    def __init__(self, predictor) -> None:
        self.predictor, self.calls = predictor, 0

    def prepare(self, frame):
        return self.predictor.prepare(frame)

    def infer(self, x) -> float:
        self.calls += 1
        return math.nan if self.calls % 2 == 0 else self.predictor.infer(x)

    def configure_thread(self) -> None:
        self.predictor.configure_thread()

    def describe(self) -> str:
        return "NaN every other frame"


def test_nan_model_output_gets_safe_command(pilotnet):
    from steering.inference import Predictor

    jpeg = real_center_frames(1)[0]
    model = NaNEveryOther(Predictor(pilotnet))
    with running_server(model, config()) as server:
        sim = connect(server)
        replies = []
        for _ in range(4):
            sim.send_telemetry(telemetry(jpeg, speed=10.0))
            replies.append(steer_values(sim.recv_event()[1]))
        sim.close()
        stats = server.stats
    assert [t == 0.0 for _, t in replies] == [False, True, False, True]
    assert replies[1][0] == pytest.approx(replies[0][0]), "NaN output keeps the last good steering"
    assert stats["errors"] == {"model_output_not_finite": 2}


def test_payload_beyond_the_websocket_frame_limit_drops_only_that_connection(pilotnet):
    """eventlet refuses WebSocket frames over 8 MiB by closing the socket; no reply is possible then.
    The simulator reconnects, and the server must serve the new connection normally."""
    jpeg = real_center_frames(1)[0]
    with running_server(pilotnet, config()) as server:
        sim = connect(server)
        huge = {**telemetry(jpeg), "image": "A" * (9 << 20)}
        with pytest.raises((OSError, websocket.WebSocketException)):
            sim.send_telemetry(huge)
            sim.recv_event()
        sim = connect(server)
        sim.send_telemetry(telemetry(jpeg, speed=10.0))
        assert sim.recv_event()[0] == "steer"
        sim.close()


def test_recording_writes_sent_frames_and_commands_in_the_simulator_log_format(pilotnet, tmp_path):
    from steering.data.reading import read_logs

    frames = real_center_frames(4)
    with running_server(pilotnet, config(record_dir=tmp_path / "run1")) as server:
        sim = connect(server)
        commands = []
        for jpeg in frames:
            sim.send_telemetry(telemetry(jpeg, speed=10.0))
            commands.append(steer_values(sim.recv_event()[1]))
        sim.send_telemetry({**telemetry(frames[0]), "image": "broken"})  # not recorded
        sim.recv_event()
        sim.close()
    images = sorted((tmp_path / "run1" / "IMG").glob("center_*.jpg"))
    assert [p.read_bytes() for p in images] == frames
    rows = read_logs(tmp_path / "run1" / "driving_log.csv").rows
    assert rows["steering"].tolist() == pytest.approx([s for s, _ in commands], abs=1e-6)
    assert rows["throttle"].tolist() == pytest.approx([t for _, t in commands], abs=1e-6)
    assert rows["brake"].tolist() == [0.0] * 4 and rows["speed"].tolist() == [10.0] * 4


def _age_last_ping(server, seconds: float) -> None:
    """Pretend the simulator's last ping came `seconds` ago (what a CPU-starved simulator looks like)."""
    sockets = list(server.sio.eio.sockets.values())
    assert len(sockets) == 1, f"one simulator connection expected, got {len(sockets)}"
    sockets[0].last_ping -= seconds


def test_a_ping_late_by_more_than_engineio_default_grace_keeps_the_car_driving(pilotnet):
    # python-engineio 3.13.2 alone drops a socket 5 s after a missed ping; Engine.IO 3 grants pingTimeout.
    frame = real_center_frames(1)[0]
    with running_server(pilotnet, config()) as server:
        sim = connect(server)
        opened = json.loads(sim.other[0][1:])
        assert (opened["pingInterval"], opened["pingTimeout"]) == (25000, 60000), opened
        _age_last_ping(server, 25.0 + 20.0)  # 20 s late: within pingTimeout
        sim.send_telemetry(telemetry(frame))
        name, _ = sim.recv_event()
        assert name == "steer"
        _age_last_ping(server, 25.0 + 60.0 + 1.0)  # past interval + timeout: this simulator is gone
        sim.send_telemetry(telemetry(frame))
        sim.ws.settimeout(3.0)
        with pytest.raises((websocket.WebSocketTimeoutException, websocket.WebSocketConnectionClosedException)):
            while True:  # the socket is closed server-side: nothing but (maybe) a close packet comes back
                packet = sim.recv_packet()
                assert not packet.startswith("42"), f"a gone simulator got a reply: {packet[:40]!r}"
        sim.close()
