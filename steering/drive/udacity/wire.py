"""The drive server's socket layer under eventlet: no Nagle, C-speed unmasking, per-frame wire times.

Three things eventlet does not do for us, each measured (docs/drive.md, bench/wire.py):

- `NoDelaySocket`: the listening socket and every socket it accepts get TCP_NODELAY. Without it a
  small `steer` reply written while an earlier segment is still unacknowledged waits for the
  client's delayed ACK (Nagle): stalls of about 40 ms.
- `apply_mask`: the simulator masks every frame it sends (RFC 6455 requires it of clients), and
  eventlet's `RFC6455WebSocket._apply_mask` unmasks byte by byte in Python: about 4 ms for a
  20 kB telemetry frame. One XOR of two big integers gives the same bytes in about 0.04 ms
  (tests/test_drive_transport.py compares them bit for bit).
- `TimedWebSocket`: eventlet's WebSocket with that unmasking, recording on its socket when each
  message's first bytes arrived and when each Socket.IO reply was written, so the server can
  report its own time per frame and the time the client took between a reply and the next frame.

`install()` makes eventlet's WebSocket server use `TimedWebSocket`; `DriveServer` calls it when it
is built. It changes nothing else: same frames, same bytes.
"""
from __future__ import annotations

import socket
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

with warnings.catch_warnings():  # eventlet's maintenance-mode notice; see udacity/server.py
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    import eventlet.websocket
    from eventlet.greenio import GreenSocket

_ORIGINAL_WEBSOCKET = eventlet.websocket.RFC6455WebSocket


def apply_mask(data: bytes | bytearray | memoryview, mask: Sequence[int], length: int | None = None,
               offset: int = 0) -> bytes:
    """`data[:length]` XOR the 4-byte `mask` starting at mask byte `offset % 4`, as eventlet's
    `RFC6455WebSocket._apply_mask` computes it (same arguments, same result), at C speed."""
    if length is None:
        length = len(data)
    if length <= 0:
        return b""
    key = bytes(mask[(offset + i) % 4] for i in range(4))
    stream = (key * (length // 4 + 1))[:length]
    value = int.from_bytes(bytes(data[:length]), "little") ^ int.from_bytes(stream, "little")
    return value.to_bytes(length, "little")


@dataclass
class WireTimes:
    """perf_counter stamps of one connection, written by `TimedWebSocket`."""

    arrived: float = 0.0  # first bytes of the newest message from the client
    replied: float = 0.0  # the newest `42[...]` event written to the client


class NoDelaySocket(GreenSocket):
    """A green TCP socket with TCP_NODELAY on. `GreenSocket.accept` returns `type(self)(client)`, so
    every socket a listening NoDelaySocket accepts is one too: NODELAY is set on each of them here,
    not left to the kernel's inheritance from the listener."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.wire_times = WireTimes()
        if self.family in (socket.AF_INET, socket.AF_INET6):
            self.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class TimedWebSocket(_ORIGINAL_WEBSOCKET):
    """eventlet's RFC 6455 WebSocket with `apply_mask`, stamping `WireTimes` on a `NoDelaySocket`."""

    _apply_mask = staticmethod(apply_mask)

    def _times(self) -> WireTimes | None:
        return getattr(self.socket, "wire_times", None)

    def wait(self) -> Any:
        self._stamp_next = True
        return super().wait()

    def _get_bytes(self, numbytes: int) -> bytes:
        data = super()._get_bytes(numbytes)
        # The first read of a message is its frame header: the message has started to arrive.
        if getattr(self, "_stamp_next", False) and (times := self._times()) is not None:
            times.arrived = time.perf_counter()
            self._stamp_next = False
        return data

    def send(self, message: Any, **kw: Any) -> None:
        super().send(message, **kw)
        if isinstance(message, str) and message.startswith("42") and (times := self._times()) is not None:
            times.replied = time.perf_counter()


def install() -> None:
    """Make eventlet's WebSocket server (and so engineio's) build `TimedWebSocket`s. Idempotent."""
    eventlet.websocket.RFC6455WebSocket = TimedWebSocket


def original_apply_mask() -> Any:
    """eventlet's own byte-by-byte unmasking, for the equivalence test and the benchmark."""
    return _ORIGINAL_WEBSOCKET._apply_mask
