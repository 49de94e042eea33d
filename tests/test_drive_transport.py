"""The drive server's socket layer: TCP_NODELAY on accepted sockets, C-speed unmasking identical to
eventlet's, and the per-frame wire times the server reports."""
from __future__ import annotations

import random
import socket

import pytest
from drive_wire import SimulatorSocket, real_center_frames, telemetry

from steering.drive import DriveConfig, TransportConfig, running_server
from steering.drive.stats import WIRE_STAGES
from steering.drive.udacity import wire
from steering.drive.udacity.wire import eventlet  # imported there with its deprecation notice silenced
from steering.inference import InferenceConfig


def config() -> DriveConfig:
    return DriveConfig(transport=TransportConfig(port=0), stats_every=0,
                       inference=InferenceConfig(device="cpu", backend="torch", warmup=0))


def test_accepted_socket_has_tcp_nodelay(make_checkpoint):
    with running_server(make_checkpoint("pilotnet"), config()) as server:
        assert server._listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        sim = SimulatorSocket(server.port)
        assert sim.recv_event()[0] == "steer"
        client_port = sim.ws.sock.getsockname()[1]
        live = server.connection_sockets()
        # The server's end of this very connection, not the listener or another socket.
        assert [s.getpeername()[1] for s in live] == [client_port]
        assert live[0].getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        sim.close()


LENGTHS = [0, 1, 2, 3, 4, 5, 7, 125, 126, 127, 4095, 20_001, 65_535, 65_536, 70_000]


@pytest.mark.parametrize("length", LENGTHS + random.Random(1).sample(range(70_001), 5))
def test_apply_mask_is_bit_identical_to_eventlets(length):
    rng = random.Random(length)
    original = wire.original_apply_mask()
    data = rng.randbytes(length)
    for _ in range(3):
        mask = tuple(rng.randrange(256) for _ in range(4))
        offset = rng.randrange(9)
        assert wire.apply_mask(data, mask, length=length, offset=offset) == original(data, mask, length, offset)
        assert wire.apply_mask(data, list(mask)) == original(data, list(mask))
    if length > 3:  # a partial read: eventlet unmasks `length` bytes of a longer buffer
        assert wire.apply_mask(data, mask, length=length - 3, offset=1) == original(data, mask, length - 3, 1)


def test_apply_mask_against_hand_computed_bytes():
    assert wire.apply_mask(b"\x00\x00\x00\x00\x00", (1, 2, 3, 4)) == b"\x01\x02\x03\x04\x01"
    assert wire.apply_mask(b"\xff\x00\xff", (0x0f, 0xf0, 0xaa, 0x55), offset=2) == b"\x55\x55\xf0"


def test_server_uses_the_patched_websocket_and_reports_wire_times(make_checkpoint):
    frames = real_center_frames(12)
    with running_server(make_checkpoint("pilotnet"), config()) as server:
        assert eventlet.websocket.RFC6455WebSocket is wire.TimedWebSocket
        assert wire.TimedWebSocket._apply_mask is wire.apply_mask
        sim = SimulatorSocket(server.port)
        assert sim.recv_event()[0] == "steer"
        for jpeg in frames:  # lock step: one telemetry, one reply
            sim.send_telemetry(telemetry(jpeg, speed=10.0))
            assert sim.recv_event()[0] == "steer"
        sim.close()
        stats = server.stats
    wire_ms, latency = stats["wire_ms"], stats["latency_ms"]
    assert set(wire_ms) == set(WIRE_STAGES)
    # receive and handoff: every frame; reply, server and client: every frame after the first
    # (a reply's write time is read when the next frame arrives)
    assert {s: wire_ms[s]["n"] for s in WIRE_STAGES} == {"receive": 12, "handoff": 12, "reply": 11,
                                                          "server": 11, "client": 11}
    assert all(v["p50"] >= 0 for v in wire_ms.values())
    # Arrival precedes the handler and the write follows the command: in-server time covers the pipeline's.
    assert wire_ms["server"]["p50"] >= latency["infer"]["p50"]
