"""Ctrl-C and SIGTERM stop training the same way: at once, but never in the middle of the run's writes.

While `StopSignals` is installed, SIGINT and SIGTERM raise `TrainingInterrupted` in the main
thread, so a long epoch stops promptly; inside `deferred()` (the end-of-epoch writes of best.pt,
last.pt and history.json) the signal waits until the block ends, so last.pt and history.json always
describe the same finished epoch. Without this, SIGTERM (what `kill`, systemd, Slurm and docker stop
send) ended the process with no cleanup and no message.

`TrainingInterrupted` is a KeyboardInterrupt, so code that handles Ctrl-C (DataLoader workers, a
notebook) handles SIGTERM alike; `exit_code` is the shell's convention, 128 + signal number
(130 for SIGINT, 143 for SIGTERM).
"""
from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType, TracebackType
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TrainingInterrupted(KeyboardInterrupt):
    """Training was stopped by SIGINT or SIGTERM; the message says what the run folder holds."""

    def __init__(self, signum: int, message: str | None = None) -> None:
        self.signum = int(signum)
        super().__init__(message or f"stopped by {self.signal_name}")

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    def __str__(self) -> str:
        return str(self.args[0])


def listen_to_ctrl_c() -> None:
    """For a command line: SIGINT back to Python's KeyboardInterrupt if the process started with it ignored.

    A job that a script starts in the background (`python train.py ... &`) inherits SIGINT ignored,
    so neither Ctrl-C nor `kill -INT` would stop it (drive.py takes SIGINT back the same way). Library
    code leaves an ignored SIGINT alone (`StopSignals`): the program that ignored it may mean it.
    """
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


class StopSignals:
    """Turn SIGINT/SIGTERM into `TrainingInterrupted` while installed (main thread only; else a no-op).

    A signal the process ignores (SIG_IGN, e.g. SIGINT of a job started with `nohup`) stays ignored;
    train.py calls `listen_to_ctrl_c` first.
    Nesting is fine: each instance restores the handlers it replaced.
    """

    def __init__(self) -> None:
        self._previous: dict[int, Any] = {}
        self._deferring = 0
        self._pending: int | None = None

    def install(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                if signal.getsignal(signum) is not signal.SIG_IGN:
                    self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)  # None: set outside Python
        self._previous.clear()

    def __enter__(self) -> StopSignals:
        return self.install()

    def __exit__(self, *exc_info: object) -> None:
        self.restore()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        _quiet_worker_hangups()
        if self._deferring:
            self._pending = self._pending or signum
            return
        raise TrainingInterrupted(signum)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """A block that a stop signal does not cut short; the stop is raised when it ends."""
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1
        if not self._deferring and self._pending is not None:
            signum, self._pending = self._pending, None
            raise TrainingInterrupted(signum)


def _quiet_worker_hangups() -> None:
    """Once a stop was asked for, drop the reports of connections the DataLoader's workers hang up.

    Ctrl-C reaches the workers too (the whole process group); one that dies while handing a batch over
    leaves multiprocessing's resource-sharer thread with a reset connection, which it reports through
    sys.excepthook as a traceback: noise on a clean stop. Other exceptions are reported as before; the
    hook stays for the rest of the process, whose only job now is to stop.
    """
    previous = sys.excepthook
    if getattr(previous, "quiet_worker_hangups", False):
        return

    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        if not issubclass(kind, (ConnectionError, EOFError)):
            previous(kind, value, tb)

    hook.quiet_worker_hangups = True  # type: ignore[attr-defined]
    sys.excepthook = hook
