"""`drive.py` with eventlet's own socket handling: no TCP_NODELAY, per-byte Python unmasking.

The A/B baseline for bench/wire.py: the same server, pipeline and runtime choice as drive.py, with
only `steering.drive.udacity.wire` taken out, so the round-trip difference is what the socket fixes bring.
Never used to drive.

    python -m bench.baselines.legacy_drive CHECKPOINT --port 0 [drive.py flags]
"""
from __future__ import annotations

import sys

from steering.drive.udacity import wire
from steering.drive.udacity.wire import GreenSocket


def main(argv: list[str]) -> int:
    wire.install = lambda: None  # eventlet keeps its RFC6455WebSocket (byte-loop unmasking)
    wire.NoDelaySocket = GreenSocket  # the listener eventlet would use: no TCP_NODELAY
    import drive  # after the patches above: its server must start with eventlet's own socket

    return drive.main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
