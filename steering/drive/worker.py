"""A native thread that runs the model while eventlet keeps answering pings.

A forward pass holds the CPU for tens of milliseconds; run inside an eventlet greenlet it would
freeze the whole event loop (heartbeats, other connections). `InferenceThread.run` hands the call
to one dedicated OS thread and parks only the calling greenlet until a byte arrives on a pipe.

Why not `eventlet.tpool`: it keeps one process-global pool bound to the hub of whichever thread
used it first, so a second server started in another thread of the same process (tests,
benchmarks, the simulator's evaluator) would wait forever. This class belongs to one server, its
thread and pipe are closed with it, and it never spawns more than one thread.
"""
from __future__ import annotations

import itertools
import os
import time
import warnings
from collections.abc import Callable
from typing import Any

with warnings.catch_warnings():  # eventlet's maintenance-mode notice; see steering/server.py
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    from eventlet import patcher
    from eventlet.hubs import trampoline

# The real modules even if a caller monkey-patched the process.
_threading = patcher.original("threading")
_queue = patcher.original("queue")
original_threading, original_queue = _threading, _queue  # for other modules' native threads


class InferenceThread:
    """Run `fn(*args)` in one OS thread; call `run` from greenlets of one eventlet hub, one at a time."""

    def __init__(self, fn: Callable[..., Any], initializer: Callable[[], None] | None = None,
                 name: str = "steering-inference") -> None:
        self._fn = fn
        self._requests: Any = _queue.SimpleQueue()
        self._results: dict[int, tuple[Any, BaseException | None]] = {}
        self._ids = itertools.count()
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        self._closed = False
        self.last_call_s = 0.0  # how long the latest fn call took inside the worker thread
        self._thread = _threading.Thread(target=self._loop, args=(initializer,), name=name, daemon=True)
        self._thread.start()

    def run(self, *args: Any) -> Any:
        """fn(*args) computed in the worker thread; only the calling greenlet waits."""
        if self._closed:
            raise RuntimeError("InferenceThread is closed")
        request_id = next(self._ids)
        self._requests.put((request_id, args))
        # Results are keyed by id: a caller killed while waiting (server shutdown) leaves its
        # wake-up byte behind, and the next caller must not take that result for its own.
        while request_id not in self._results:
            try:
                os.read(self._read_fd, 64)
            except BlockingIOError:
                trampoline(self._read_fd, read=True)
        value, error = self._results.pop(request_id)
        if error is not None:
            raise error
        return value

    def _loop(self, initializer: Callable[[], None] | None) -> None:
        if initializer is not None:
            initializer()
        while True:
            item = self._requests.get()
            if item is None:
                return
            request_id, args = item
            start = time.perf_counter()
            try:
                self._results[request_id] = (self._fn(*args), None)
            except Exception as exc:  # handed to the caller, who decides (the server: safe command)
                self._results[request_id] = (None, exc)
            self.last_call_s = time.perf_counter() - start
            os.write(self._write_fd, b"\0")

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread (after the call in progress) and close the pipe."""
        if self._closed:
            return
        self._closed = True
        self._requests.put(None)
        self._thread.join(timeout)
        os.close(self._read_fd)
        os.close(self._write_fd)
