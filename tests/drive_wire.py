"""Test helper: a raw WebSocket client that talks to drive servers exactly like the Unity simulator.

No Socket.IO client library: it opens `/socket.io/?EIO=4&transport=websocket` directly with no
Origin header, never sends a `40` CONNECT, sends `42["telemetry",{...}]` with strings formatted like `ToString("N4")`
in the chosen culture, and pings with `2`.
"""
from __future__ import annotations

import base64
import json
from pathlib import Path

import websocket

from steering.udacity import format_n4

REAL_IMG = Path(__file__).resolve().parents[1].parent / "shared/data/udacity-real/self-recorded-windows-paths/IMG"


def real_center_frames(count: int) -> list[bytes]:
    """JPEG bytes of the first `count` real center frames (320x160, from the Windows recording)."""
    paths = sorted(REAL_IMG.glob("center_*.jpg"))[:count]
    assert len(paths) == count, f"expected {count} real frames in {REAL_IMG}, found {len(paths)}"
    return [p.read_bytes() for p in paths]


def telemetry(jpeg: bytes, steering_angle: float = 0.0, throttle: float = 0.0, speed: float = 10.0,
              decimal: str = ".", group: str = ",") -> dict:
    """A telemetry payload as the simulator builds it in a culture with these separators."""
    return {
        "steering_angle": format_n4(steering_angle, decimal, group),
        "throttle": format_n4(throttle, decimal, group),
        "speed": format_n4(speed, decimal, group),
        "image": base64.b64encode(jpeg).decode("ascii"),
    }


class SimulatorSocket:
    """One simulator connection. `events` collects every `42[...]` the server sent, in order."""

    def __init__(self, port: int, timeout: float = 20.0) -> None:
        # suppress_origin: websocket-client adds an Origin header by default; the Unity simulator sends none.
        self.ws = websocket.create_connection(f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket",
                                              timeout=timeout, suppress_origin=True)
        self.pongs = 0
        self.other: list[str] = []  # open packet, namespace connect, ...

    def send_raw(self, text: str) -> None:
        self.ws.send(text)

    def send_telemetry(self, payload) -> None:
        self.ws.send("42" + json.dumps(["telemetry", payload]))

    def ping(self) -> None:
        self.ws.send("2")

    def recv_event(self) -> tuple[str, object]:
        """The next Socket.IO event (name, data); counts pongs and keeps other packets on the way."""
        while True:
            packet = self.ws.recv()
            if packet == "3":
                self.pongs += 1
            elif packet.startswith("42"):
                name, *data = json.loads(packet[2:])
                return name, (data[0] if data else None)
            else:
                self.other.append(packet)

    def recv_packet(self) -> str:
        return self.ws.recv()

    def close(self) -> None:
        self.ws.close()


def steer_values(data: dict) -> tuple[float, float]:
    """A `steer` payload's strings -> floats (dot style), asserting the wire format on the way."""
    assert set(data) == {"steering_angle", "throttle"}, data
    assert all(isinstance(v, str) for v in data.values()), f"values must be strings: {data}"
    return float(data["steering_angle"]), float(data["throttle"])
