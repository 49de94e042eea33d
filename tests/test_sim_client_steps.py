"""The wire client's steps against a scripted socket (no server process): which frames go out in answer
to which messages, and why a drive stops."""
from __future__ import annotations

import pytest
import websocket

from steering.sim.client import ClientConfig, SimClient
from steering.sim.world import World, WorldConfig

OPEN = '0{"sid":"x","pingInterval":25000}'


def steer(steering: str, throttle: str = "0.2") -> str:
    return f'42["steer",{{"steering_angle":"{steering}","throttle":"{throttle}"}}]'


class ScriptedSocket:
    """Hands out `initial`, then `replies(n)` after the n-th telemetry; records what the client sends."""

    def __init__(self, initial: list[str], replies, close_when_empty: bool = False) -> None:
        self.queue, self.replies, self.close_when_empty = list(initial), replies, close_when_empty
        self.sent: list[str] = []
        self.telemetry = 0
        self.closed = False

    def send(self, frame: str) -> None:
        self.sent.append(frame)
        if frame.startswith('42["telemetry",'):
            self.telemetry += 1
            self.queue.extend(self.replies(self.telemetry))

    def settimeout(self, seconds: float) -> None:
        assert seconds >= 0.01

    def recv(self) -> str:
        if self.queue:
            return self.queue.pop(0)
        if self.close_when_empty:
            raise websocket.WebSocketConnectionClosedException("closed by the script")
        raise websocket.WebSocketTimeoutException("nothing scripted")

    def close(self) -> None:
        self.closed = True


def drive(monkeypatch, socket: ScriptedSocket, double_open: bool = False, **run):
    monkeypatch.setattr(websocket, "create_connection", lambda *args, **kwargs: socket)
    world = World(WorldConfig(track="oval", start_speed_mph=10))
    return SimClient(world, ClientConfig(double_open=double_open, reply_timeout_s=5.0)).run(**run)


def kinds(frames: list[str]) -> list[str]:
    return ["telemetry" if f.startswith('42["telemetry",') else f for f in frames]


def test_a_server_ping_is_answered_and_a_disconnect_packet_ends_the_drive(monkeypatch):
    socket = ScriptedSocket([OPEN, "2"], lambda n: [steer("0.1")] if n < 3 else ["41"])
    result = drive(monkeypatch, socket)
    # open -> telemetry 1; the server's ping -> pong; reply 1 -> telemetry 2; reply 2 -> telemetry 3; "41" ends it
    assert kinds(socket.sent) == ["telemetry", "3", "telemetry", "telemetry"]
    assert result.stop_reason == "server disconnected" and len(result.steps) == 2 and socket.closed
    assert [c.steering for c in result.commands] == [0.1, 0.1]


def test_a_closed_connection_ends_the_drive_with_that_reason(monkeypatch):
    socket = ScriptedSocket([OPEN, "40"], lambda n: [steer("-0.3")] if n < 4 else [], close_when_empty=True)
    result = drive(monkeypatch, socket)
    assert result.stop_reason == "server closed the connection" and socket.closed
    assert len(result.steps) == 3 and result.telemetry_sent == 4  # the 4th telemetry went unanswered


def test_an_unreadable_reply_ends_its_chain_and_the_other_chain_drives_on(monkeypatch):
    bad = '42["steer",{"steering_angle":"abc","throttle":"0.2"}]'
    socket = ScriptedSocket([OPEN], lambda n: [bad] if n == 2 else [steer("0")])
    result = drive(monkeypatch, socket, double_open=True, max_steps=10)
    assert result.opening_telemetry == 2 and result.max_in_flight == 2
    assert result.parse_errors == 1 and result.stop_reason == "max_steps" and len(result.steps) == 10
    # one chain ended at the unreadable reply: 10 steps took 11 telemetry, not 12
    assert result.telemetry_sent == 11


@pytest.mark.parametrize("max_steps", [1, 4])
def test_a_manual_event_keeps_the_last_command_and_counts_as_a_step(monkeypatch, max_steps):
    manual = '42["manual",{}]'
    socket = ScriptedSocket([OPEN], lambda n: [steer("0.25", "0.5")] if n == 1 else [manual])
    result = drive(monkeypatch, socket, max_steps=max_steps)
    assert len(result.steps) == max_steps and result.manual_received == max_steps - 1
    assert [(c.kind, c.steering, c.throttle) for c in result.commands] == (
        [("steer", 0.25, 0.5)] + [("manual", 0.25, 0.5)] * (max_steps - 1))
