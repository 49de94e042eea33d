"""Keep one undecodable WebSocket message from breaking its connection and leaking its session.

python-engineio 3.13.2 decodes each WebSocket message into an Engine.IO packet outside its own error
handling. A message it cannot decode (text starting with a non-ASCII character, which it slices
mid-character; deeply nested JSON; binary data with invalid UTF-8 after a digit or bad base64 after
a `b`; an empty message; a packet type below 0) raises out of its WebSocket handler: the client
reads an HTTP error page in its WebSocket stream, and the Engine.IO socket and the drive session are
never closed, so they stay in memory for the life of the server. The simulator never sends such a
message; this drops them before engineio sees them (counted, logged rate-limited). Socket.IO events
(`42...`, every telemetry) pass unchecked: they always decode, and checking would cost a second
decode per frame.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engineio import packet


def guard_websocket(websocket_app: Callable[[Callable], Any],
                    on_drop: Callable[[str | bytes, Exception], None]) -> Callable[[Callable], Any]:
    """Wrap engineio's WebSocket app factory (`server.eio._async["websocket"]`)."""

    def build(handler: Callable[[Any], Any]) -> Any:
        def guarded(ws: Any) -> Any:
            wait = ws.wait

            def wait_decodable() -> Any:
                while True:
                    message = wait()
                    if message is None or isinstance(message, str) and message.startswith("42"):
                        # closed, or a Socket.IO event (every telemetry): engineio's JSON parse
                        # stops after the digit 2 and the rest is valid UTF-8, so it decodes
                        return message
                    try:
                        kind = packet.Packet(encoded_packet=message).packet_type
                        if not 0 <= kind < len(packet.packet_names):  # 'b' then '!' gives -15: an IndexError
                            raise ValueError(f"unknown Engine.IO packet type {kind}")
                    except Exception as exc:  # noqa: BLE001 - whatever engineio would have raised
                        on_drop(message, exc)
                        continue
                    return message

            ws.wait = wait_decodable
            return handler(ws)

        return websocket_app(guarded)

    return build
