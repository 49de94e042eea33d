"""Where each driven frame goes besides the reply: sinks fed by `steering.drive.pipeline`.

A sink is any object with `put(frame)` and `close()`. `put` runs on the control path for every
answered frame, so it must never block or raise: hand the work to a thread, drop and count when
behind. `close()` flushes what was accepted. Sinks the server builds from its own settings are a
registry (`SINKS`; `register_sink(SinkSpec(name, help, build))` adds one: `build(DriveConfig)`
returns the sink, or None when that drive does not want it); a sink made elsewhere (the browser
monitor's, which serves a page of its own) is passed as `DriveServer(..., sinks=[...])`.

`Recorder` records a drive as the simulator's Record mode would: `python drive.py model.pt run1`
writes `run1/IMG/center_yyyy_MM_dd_HH_mm_ss_fff.jpg` (the JPEG bytes the simulator sent, not
re-encoded) and appends one row per frame to `run1/driving_log.csv` in the simulator's layout
(`steering.udacity`): what the model commanded (steering, throttle, brake) and the speed the car
reported. Left/right columns stay empty (one camera). With a failure monitor (drive.py `--alarm`)
each row gets `ALARM_COLUMNS` after the simulator's seven: the score (`nan` when none was ready yet),
the threshold, the alarm (1/0) and how many frames late the score is (0: scored on this frame; 1 with
`--alarm-async`: the previous frame's). `steering.data`'s reader ignores numeric columns after the
seventh, so such a recording trains like any other.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
import math
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from steering.udacity import IMAGE_DIR, LOG_NAME, format_log_row, frame_name

log = logging.getLogger(__name__)

ALARM_COLUMNS = ("alarm_score", "alarm_threshold", "alarm", "alarm_frames_late")  # after the simulator's 7


@dataclass(frozen=True)
class DriveFrame:
    """One answered telemetry frame."""

    image_base64: str  # exactly what the simulator sent
    received: dt.datetime
    steering: float  # commanded, [-1, 1]
    throttle: float  # commanded, negative = brake
    speed: float  # reported, mph
    alarm_score: float | None = None  # the failure monitor's score (drive.py --alarm), None without one
    alarm: bool = False  # the score passed the monitor's threshold
    alarm_threshold: float | None = None  # the monitor's threshold (inf: scores only), None without a monitor
    alarm_lag: int = 0  # frames between the scored frame and this one (--alarm-async: 1)


class Sink(Protocol):
    def put(self, frame: DriveFrame) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class SinkSpec:
    """A sink the drive server builds from its own settings when it starts."""

    name: str
    help: str  # one line: what it keeps and when it is on
    build: Callable[[Any], Sink | None]  # (DriveConfig) -> the sink, or None when this drive does not want it


SINKS: dict[str, SinkSpec] = {}


def register_sink(spec: SinkSpec) -> SinkSpec:
    """Add (or replace) a sink; every drive server started from then on builds it."""
    SINKS[spec.name] = spec
    return spec


def unregister_sink(name: str) -> None:
    SINKS.pop(name, None)


def build_sinks(config: Any) -> list[Sink]:
    """The registered sinks this DriveConfig wants, in registration order (the recorder first)."""
    return [sink for spec in SINKS.values() if (sink := spec.build(config)) is not None]


class Recorder:
    """Background writer of frames and log rows; `close()` flushes everything queued."""

    def __init__(self, folder: str | Path, max_queue: int = 256, alarm_columns: bool = False) -> None:
        """`alarm_columns`: append `ALARM_COLUMNS` to every row (drive.py with `--alarm`)."""
        self.folder = Path(folder)
        self.alarm_columns = alarm_columns
        self.image_dir = self.folder / IMAGE_DIR
        try:
            self.image_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OSError(f"cannot create recording folder {self.image_dir}: {exc.strerror or exc}") from exc
        self.log_path = self.folder / LOG_NAME
        self._queue: queue.Queue[DriveFrame | None] = queue.Queue(maxsize=max_queue)
        self.written = 0
        self.dropped = 0
        self.failed = 0
        self.paused = False  # the browser monitor's record switch: frames put while paused are not written
        self._last_name = ""
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="steering-recorder", daemon=True)
        self._thread.start()

    def put(self, frame: DriveFrame) -> None:
        """Queue a frame; drops it (and counts) rather than wait when the writer is behind."""
        if self._closed or self.paused:
            return
        try:
            self._queue.put_nowait(frame)
        except queue.Full:
            self.dropped += 1

    def _unique_name(self, when: dt.datetime) -> str:
        # Two frames within one millisecond would share a name; step the later one forward.
        name = frame_name("center", when)
        while name <= self._last_name:
            when += dt.timedelta(milliseconds=1)
            name = frame_name("center", when)
        self._last_name = name
        return name

    def _loop(self) -> None:
        with open(self.log_path, "a", encoding="utf-8", newline="") as log_file:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                try:
                    self._write(item, log_file)
                    self.written += 1
                except (OSError, binascii.Error, ValueError) as exc:
                    self.failed += 1
                    log.warning("recording: could not write a frame to %s: %s", self.folder, exc)

    def _write(self, item: DriveFrame, log_file) -> None:
        path = self.image_dir / self._unique_name(item.received)
        path.write_bytes(base64.b64decode(item.image_base64))
        throttle, brake = (item.throttle, 0.0) if item.throttle >= 0 else (0.0, -item.throttle)
        row = format_log_row(str(path.resolve()), "", "", item.steering, throttle, brake, item.speed)
        if self.alarm_columns:
            row += "," + alarm_fields(item)
        log_file.write(row + "\n")
        log_file.flush()  # a crash or Ctrl-C keeps every row written so far

    def close(self, timeout: float = 30.0) -> None:
        """Write everything queued, then stop the writer."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout)
        log.info(
            "recording: %d frames in %s (%d dropped, %d failed)", self.written, self.folder, self.dropped, self.failed
        )


def alarm_fields(frame: DriveFrame) -> str:
    """`ALARM_COLUMNS` of one frame. Scores in exponent form (`1.234560e-05`): always a '.', so the log
    reader can tell these rows from comma-decimal ones."""
    score = math.nan if frame.alarm_score is None else frame.alarm_score
    threshold = math.nan if frame.alarm_threshold is None else frame.alarm_threshold
    return f"{score:.6e},{threshold:.6e},{int(frame.alarm)},{frame.alarm_lag}"


def _build_recorder(config: Any) -> Recorder | None:
    if config.record_dir is None:
        return None
    return Recorder(config.record_dir, alarm_columns=bool(config.alarm.kind))


register_sink(SinkSpec(
    name="recorder", help="drive.py's RECORD_DIR: every answered frame and command, as the simulator's Record mode "
                          "(with --alarm, plus the score, threshold and alarm per frame)",
    build=_build_recorder))
