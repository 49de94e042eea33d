"""Counters, per-stage latency percentiles and rate-limited logging for the drive server.

Two families of stages, in milliseconds:
- `LATENCY_STAGES` (`snapshot()["latency_ms"]`): the pipeline's own, from the telemetry handler's
  start: decode, preprocess, infer (including the hand-off to the model thread), alarm (the failure
  monitor's score, with drive.py --alarm), total;
- `WIRE_STAGES` (`snapshot()["wire_ms"]`): what the transport adds, as the server can see it on
  its socket (`steering.drive.udacity.wire`): `receive` = first bytes of the frame -> handler start
  (unmasking, UTF-8, Engine.IO/Socket.IO JSON decode, greenlet hand-off); `handoff` = the part of
  `infer` spent passing the frame to the model thread and back; `reply` = command ready -> `steer`
  written to the socket; `server` = first bytes of the frame -> reply written (all of the above);
  `client` = reply written -> first bytes of the next frame: the simulator's own time plus the wire
  both ways, which the server cannot split. For a lock-step client, `server + client` is the frame
  period, and the round trip the client measures lies between `server` and that period.

Everything here is cheap enough to run on every frame: a counter increment and a deque append.
Readers in other threads (tests, the CLI at exit) take `snapshot()`, a plain dict.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from typing import Any

import numpy as np

LATENCY_STAGES = ("decode", "preprocess", "infer", "alarm", "total")  # alarm: with --alarm only
WIRE_STAGES = ("receive", "handoff", "reply", "server", "client")
_WINDOW = 4096  # latest frames per stage kept for percentiles: about 3 minutes at 25 Hz


class DriveStats:
    """Event counters and per-stage latency windows (milliseconds)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counters: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()  # malformed telemetry and bad model output, by reason
        self._latency: dict[str, deque[float]] = {stage: deque(maxlen=_WINDOW) for stage in LATENCY_STAGES}
        self._wire: dict[str, deque[float]] = {stage: deque(maxlen=_WINDOW) for stage in WIRE_STAGES}
        self.max_newer_at_infer_start = 0  # frames newer than the one being inferred, when it starts
        self.max_newer_at_reply = 0  # frames that arrived during that inference

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counters[name] += n

    def error(self, reason: str) -> None:
        with self._lock:
            self.errors[reason] += 1

    def latency(self, stage: str, milliseconds: float) -> None:
        with self._lock:
            self._latency[stage].append(milliseconds)

    def wire(self, stage: str, milliseconds: float) -> None:
        with self._lock:
            self._wire[stage].append(milliseconds)

    def staleness(self, newer_at_start: int, newer_at_reply: int) -> None:
        with self._lock:
            self.max_newer_at_infer_start = max(self.max_newer_at_infer_start, newer_at_start)
            self.max_newer_at_reply = max(self.max_newer_at_reply, newer_at_reply)

    def percentiles(self, family: str = "latency") -> dict[str, dict[str, float]]:
        """{stage: {"p50": ms, "p99": ms, "n": frames in window}} for stages with samples;
        `family` "latency" (pipeline stages) or "wire" (transport stages)."""
        source = self._latency if family == "latency" else self._wire
        with self._lock:
            windows = {stage: np.array(values) for stage, values in source.items() if values}
        return {stage: {"p50": float(np.percentile(v, 50)), "p99": float(np.percentile(v, 99)), "n": int(v.size)}
                for stage, v in windows.items()}

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            snap = {
                "counters": dict(self.counters),
                "errors": dict(self.errors),
                "max_newer_at_infer_start": self.max_newer_at_infer_start,
                "max_newer_at_reply": self.max_newer_at_reply,
            }
        snap["latency_ms"] = self.percentiles()
        snap["wire_ms"] = self.percentiles("wire")
        return snap

    def summary(self) -> str:
        """One human-readable paragraph: latency per stage, what the wire adds, counters, errors."""
        snap = self.snapshot()
        lat = "  ".join(f"{stage} {v['p50']:.2f}/{v['p99']:.2f}" for stage, v in snap["latency_ms"].items())
        wire = snap["wire_ms"]
        wire_text = "  ".join(f"{stage} {wire[stage]['p50']:.2f}/{wire[stage]['p99']:.2f}"
                              for stage in ("receive", "handoff", "reply", "server") if stage in wire)
        if "client" in wire:
            wire_text += (f" | reply -> next frame (simulator + wire) p50/p99 ms: client "
                          f"{wire['client']['p50']:.2f}/{wire['client']['p99']:.2f}")
        counters = ", ".join(f"{k} {v}" for k, v in sorted(snap["counters"].items())) or "none"
        errors = ", ".join(f"{k} {v}" for k, v in sorted(snap["errors"].items())) or "none"
        return (f"latency p50/p99 ms: {lat or 'no frames yet'}"
                + (f" | frame in -> reply out p50/p99 ms: {wire_text}" if wire_text else "")
                + f" | events: {counters} | errors: {errors}")


class RateLimitedLog:
    """Log a message per key at most once every `interval` seconds, counting what it suppressed."""

    def __init__(self, logger: logging.Logger, interval: float = 5.0) -> None:
        self.logger, self.interval = logger, interval
        self._last: dict[str, float] = {}
        self._suppressed: Counter[str] = Counter()

    def warning(self, key: str, message: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._last.get(key, -float("inf")) < self.interval:
            self._suppressed[key] += 1
            return
        suppressed = self._suppressed.pop(key, 0)
        self._last[key] = now
        suffix = f" ({suppressed} similar suppressed)" if suppressed else ""
        self.logger.warning(message + suffix, *args)
