"""drive.py `--alarm-async`'s scorer: the failure monitor in a process of its own, at the lowest priority.

A thread in the server's process would share its interpreter lock with the hub and the model's
thread: every Python step of a monitor's score (hooks, preprocessing, glue between torch ops) would
delay the next frame's decode or reply. In a child process it shares only the CPU cores, and there
it asks for them last (nice +10 and Linux's SCHED_IDLE: a core only when nothing else wants it).

`ScoreProcess.submit(done, frame, ctx)` has `BackgroundCall`'s contract: it sends the decoded frame
(not the prepared input: the child prepares it itself, off the server's cores when they are busy),
returns at once and refuses while the child is busy; `done(score, error, seconds)` runs in a reader
thread of the server when the child answers. The child is started with `spawn` (a fresh interpreter:
no copy of the server's eventlet hub or torch threads) and rebuilds the monitor from its kind, state
and threshold.
"""
from __future__ import annotations

import logging
import math
import multiprocessing
import os
import time
from collections.abc import Callable
from typing import Any

from steering.drive.worker import original_queue, original_threading
from steering.monitors import AlarmMonitor, ScoreContext
from steering.preprocess import preprocess_frame

log = logging.getLogger(__name__)

_START_TIMEOUT_S = 120.0  # the child imports torch and loads the monitor's checkpoints


def _child(conn: Any, kind: str, state: dict[str, Any], threshold: float) -> None:
    """The child's loop: frame in, (score, error text, seconds) out, until None."""
    os.nice(10)
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        pass  # not Linux: nice alone
    AlarmMonitor.configure_thread(1)
    monitor = AlarmMonitor(kind, state, threshold)
    pre = getattr(monitor.scorer, "preprocess", None)
    conn.send("ready")
    while True:
        frame = conn.recv()
        if frame is None:
            return
        start = time.perf_counter()
        try:
            x = preprocess_frame(frame, pre)
            score, error = monitor.score(frame, ScoreContext(x, math.nan, pre)), None
        except Exception as exc:  # noqa: BLE001 - handed back: the server counts it and raises the alarm
            score, error = math.nan, repr(exc)
        conn.send((score, error, time.perf_counter() - start))


class ScoreProcess:
    """A failure monitor scoring in a child process; one frame at a time, nobody waits for it."""

    def __init__(self, monitor: AlarmMonitor) -> None:
        self._closed = self._stopped = False
        context = multiprocessing.get_context("spawn")
        self._conn, child_conn = context.Pipe()
        self._process = context.Process(target=_child, args=(child_conn, monitor.kind, monitor.state,
                                                             monitor.threshold),
                                        name="steering-alarm", daemon=True)
        self._process.start()
        child_conn.close()
        try:
            ready = self._conn.poll(_START_TIMEOUT_S) and self._conn.recv() == "ready"
        except (EOFError, OSError):  # the child died loading the monitor (its traceback is on stderr)
            ready = False
        if not ready:
            self.close()
            raise RuntimeError(f"the {monitor.kind} monitor's process did not start")
        self.busy = False
        self._requests: Any = original_queue.SimpleQueue()
        # a thread of its own sends and receives: a 150 kB frame fills the pipe, and the hub must not
        # wait for a child that runs only when the cores are idle
        self._thread = original_threading.Thread(target=self._loop, name="steering-alarm-pipe", daemon=True)
        self._thread.start()

    def submit(self, done: Callable[[Any, BaseException | None, float], None], frame: Any, ctx: Any = None) -> bool:
        """Hand `frame` to the child unless it is busy (then False); `ctx` is not sent (the child prepares
        the frame with the monitor's own preprocessing, and no monitor uses the model's steering)."""
        if self._closed or self.busy:
            return False
        self.busy = True
        self._requests.put((done, frame))
        return True

    def _loop(self) -> None:
        while True:
            item = self._requests.get()
            if item is None:
                return
            done, frame = item
            try:
                self._conn.send(frame)
                score, error, seconds = self._conn.recv()
            except (EOFError, OSError) as exc:  # the child died: every later frame is refused
                self._closed = True
                score, error, seconds = math.nan, f"monitor process ended: {exc!r}", 0.0
            try:
                done(score, RuntimeError(error) if error else None, seconds)
            finally:
                self.busy = False

    def close(self, timeout: float = 5.0) -> None:
        """Stop the child (after the frame in progress) and the pipe's thread. Safe to call twice."""
        if self._stopped:
            return
        self._stopped = self._closed = True
        thread = getattr(self, "_thread", None)  # None when the child failed to start
        if thread is not None:
            self._requests.put(None)
            thread.join(timeout)
        try:
            self._conn.send(None)
        except (OSError, ValueError):
            pass
        self._process.join(timeout)
        if self._process.is_alive():
            self._process.kill()
        self._conn.close()
