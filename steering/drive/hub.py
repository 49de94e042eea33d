"""What every eventlet server of the drive stack does around its hub thread (the drive server, the monitor).

Each server runs its own eventlet hub in one background OS thread: `listen` binds its socket in the
caller (so "port in use" raises there, with advice), `HubThread` starts the serving function, parks
it until `stop()`, joins it, and closes the wake-up pipe and the listening socket.
"""
from __future__ import annotations

import os
import socket
import threading
import warnings
from collections.abc import Callable

with warnings.catch_warnings():  # eventlet's maintenance-mode notice; see udacity/server.py
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    import eventlet.hubs
    from eventlet.hubs import trampoline


def listen(host: str, port: int, backlog: int, advice: str, what: str = "") -> socket.socket:
    """A listening TCP socket; OSError naming the address and what to do when it cannot bind."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        raise OSError(exc.errno, f"{what}cannot listen on {host}:{port}: {exc.strerror}; {advice}") from exc
    listener.listen(backlog)
    return listener


class HubThread:
    """`serve()` in its own thread; inside it, `park()` returns once `stop()` is called."""

    def __init__(self, serve: Callable[[], None], name: str) -> None:
        self._read, self._write = os.pipe()
        self._thread = threading.Thread(target=serve, name=name, daemon=True)

    def start(self) -> None:
        """Start serving; keep the HubThread where `serve` finds it before calling this."""
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def park(self) -> None:
        trampoline(self._read, read=True)  # this greenlet waits until stop() writes a byte

    def stop(self, timeout: float) -> None:
        """Wake `park()`, wait for the thread, close the pipe. Safe to call twice."""
        if self._read < 0:
            return
        if self._thread.is_alive():
            os.write(self._write, b"x")
            self._thread.join(timeout)
        os.close(self._read)
        os.close(self._write)
        self._read = self._write = -1


def close_hub() -> None:
    """Close this thread's hub poller: greenlets parked in it (engineio's service task) keep the hub,
    and with it its epoll descriptor, alive after the server is gone."""
    poller = getattr(eventlet.hubs.get_hub(), "poll", None)
    if hasattr(poller, "close"):
        poller.close()
