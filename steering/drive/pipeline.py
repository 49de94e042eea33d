"""The drive step, independent of any transport: telemetry in, command out, frames to the sinks.

    pipeline = DrivePipeline(model, ControlConfig(), stats, sinks=[recorder], run_model=worker.run,
                             lock=semaphore, yield_now=lambda: eventlet.sleep(0))
    session = pipeline.open()                    # one per simulator connection
    command = pipeline.step(session, telemetry, received)   # None: superseded, send nothing
    ... pipeline.safe(session, reason, detail) for anything malformed, pipeline.close(session) at the end

A protocol module (`steering.drive.udacity.server` today) parses the wire into `Telemetry`,
calls `step`, and writes the command back; it supplies how the model runs (`run_model`, e.g. in
a worker thread), the lock that serialises inferences, and how to let other frames register
(`yield_now`). The pipeline owns what every protocol must get right the same way: decode and
prepare, the newest-frame policy, control, stats, the failure monitor's score (`alarm`, scored right
after the inference; its alarm goes to the controller, the sinks and the reply), and the fan-out to sinks.

With `score_async` (drive.py `--alarm-async`) the reply does not wait for the score: frame k is handed
to the monitor's process and frame k's reply, command and sinks get the newest score already finished,
frame k-1's when the monitor keeps up (`DriveFrame.alarm_lag` says how many frames late it is). A
frame that arrives while the monitor is still busy is not scored (counted `alarm_skipped`).

Newest-frame policy, per session. A simulator with two or three request chains running at once
(it opens twice, and answers our connect `steer` with a telemetry too) would otherwise steer on
frames that already waited for another chain's inference:
- a frame still waiting for the model when a newer one arrives is dropped without a reply;
- when an inference ends and a newer frame already waits, its reply is dropped too and the newer
  frame's reply goes out instead; only one reply in a row may be dropped this way, so even a
  client that does not wait for replies is answered at least every other inference.
Dropped frames count as `superseded` (`superseded_after_inference` for the second kind).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from steering.drive.control import ControlConfig, Controller
from steering.drive.sinks import DriveFrame, Sink
from steering.drive.stats import DriveStats, RateLimitedLog
from steering.drive.udacity.protocol import MalformedTelemetry, Telemetry
from steering.monitors import AlarmMonitor, ScoreContext
from steering.preprocess import CorruptJPEG, FrameError, decode_base64_jpeg

log = logging.getLogger(__name__)


class SteeringModel(Protocol):
    preprocess: Any  # the PreprocessConfig `prepare` applies (a failure monitor may reuse the prepared frame)

    def prepare(self, frame: Any) -> Any: ...
    def infer(self, x: Any) -> float: ...
    def configure_thread(self) -> None: ...
    def describe(self) -> str: ...


class Background(Protocol):
    """Scores a frame without the caller waiting (`steering.drive.score_process.ScoreProcess` is one)."""

    def submit(self, done: Callable[[Any, BaseException | None, float], None], *args: Any) -> bool: ...


@dataclass
class Session:
    """What the pipeline keeps per connection."""

    controller: Controller
    decimal: str = "."  # the simulator's decimal separator, learnt from its telemetry
    newest: int = 0  # number of good frames received; the newest frame's sequence number
    # The previous inference's reply was dropped for a newer frame; the next one is sent whatever
    # arrives meanwhile (the lock-step simulator never needs this: its chains end when a reply is dropped).
    dropped_last: bool = False
    # --alarm-async: (sequence, score, seconds, error) of the newest finished score, set by the scorer's thread
    scored: tuple[int, float, float, BaseException | None] | None = None
    scored_seen: int = 0  # the newest of those whose cost and error went to the stats


@dataclass(frozen=True)
class Command:
    steering: float
    throttle: float
    confidence: float | None = None  # the failure monitor's score, when drive.py runs one (--alarm)


class DrivePipeline:
    def __init__(self, model: SteeringModel, control: ControlConfig, stats: DriveStats, sinks: Iterable[Sink] = (),
                 *, run_model: Callable[[Any], float] | None = None, lock: AbstractContextManager | None = None,
                 yield_now: Callable[[], None] = lambda: None, alarm: AlarmMonitor | None = None,
                 run_alarm: Callable[[Any, ScoreContext], float] | None = None,
                 score_async: Background | None = None) -> None:
        self.model = model
        self.control = control
        self.stats = stats
        self.sinks = list(sinks)
        self.run_model = run_model or model.infer
        self.lock = lock if lock is not None else contextlib.nullcontext()
        self.yield_now = yield_now
        self.alarm = alarm
        self._warn = RateLimitedLog(log)  # a monitor failing on every frame logs every few seconds, not 15x a second
        # how the monitor's score is computed (the server: in a thread of its own, like the model)
        self.run_alarm = run_alarm or (alarm.score if alarm is not None else None)
        self.score_async = score_async  # runs alarm.score without the reply waiting (one frame late)

    def open(self) -> Session:
        # A fresh controller: a reconnecting simulator must not inherit the old integrator.
        return Session(controller=Controller(self.control))

    def step(self, session: Session, telemetry: Telemetry, received: float) -> Command | None:
        """The command for this frame, or None when a newer frame of the session supersedes it.

        Raises MalformedTelemetry (bad_image, corrupt_jpeg, model_error, model_output_not_finite): answer `safe`.
        """
        session.decimal = telemetry.decimal or session.decimal
        try:
            frame = decode_base64_jpeg(telemetry.image, strict=True)  # damaged JPEGs: CorruptJPEG
            decoded = time.perf_counter()
            x = self.model.prepare(frame)
        except CorruptJPEG as exc:
            raise MalformedTelemetry("corrupt_jpeg", str(exc)) from None
        except FrameError as exc:
            raise MalformedTelemetry("bad_image", str(exc)) from None
        prepared = time.perf_counter()
        session.newest += 1
        sequence = session.newest
        with self.lock:
            self.yield_now()  # let frames already read from the socket register before choosing
            if session.newest != sequence:  # a newer frame arrived while this one waited
                self.stats.count("superseded")
                return None
            newer_at_start = session.newest - sequence  # 0 under this policy; kept so stats show it
            start = time.perf_counter()
            try:
                steering_raw = self.run_model(x)
            except Exception as exc:  # noqa: BLE001 - any model failure costs one frame
                raise MalformedTelemetry("model_error", repr(exc)) from None
            inferred = time.perf_counter()
            self.yield_now()  # frames read during the inference register before the reply is chosen
            if session.newest != sequence and not session.dropped_last:
                # A newer frame waits: this reply would steer on a stale frame and keep a second
                # chain alive. Drop it; the newer frame (next through the lock) gets the reply.
                session.dropped_last = True
                self.stats.count("superseded")
                self.stats.count("superseded_after_inference")
                return None
            # After the drop check, so a superseded frame costs no score; inside the lock, so a
            # synchronous monitor never competes with the next inference for the cores.
            if self.score_async is not None:
                score, lag = self._score_late(session, sequence, frame, x, steering_raw)
            else:
                score, lag = self._score(frame, x, steering_raw), 0
        alarm = self._alarm(score)
        session.dropped_last = False
        self.stats.staleness(newer_at_start, session.newest - sequence)
        if not math.isfinite(steering_raw):
            raise MalformedTelemetry("model_output_not_finite", f"model returned {steering_raw}")
        steering, throttle = session.controller.run(steering_raw, telemetry.speed, alarm)
        done = time.perf_counter()
        for stage, seconds in (("decode", decoded - received), ("preprocess", prepared - decoded),
                               ("infer", inferred - start), ("total", done - received)):
            self.stats.latency(stage, seconds * 1000.0)
        if self.sinks:
            threshold = self.alarm.threshold if self.alarm is not None else None
            frame_out = DriveFrame(telemetry.image, dt.datetime.now(), steering, throttle, telemetry.speed,
                                   score, alarm, threshold, lag)
            for sink in self.sinks:
                sink.put(frame_out)
        return Command(steering, throttle, score)

    def _score(self, frame: Any, x: Any, steering: float) -> float | None:
        """The failure monitor's score of this frame (NaN if it failed); None without a monitor."""
        if self.alarm is None:
            return None
        start = time.perf_counter()
        try:
            score = float(self.run_alarm(frame, ScoreContext(x, steering, self.model.preprocess)))
        except Exception as exc:  # noqa: BLE001 - a broken monitor must not cost the frame: alarm instead
            self._alarm_failed(exc)
            score = math.nan
        self.stats.latency("alarm", (time.perf_counter() - start) * 1000.0)
        return score

    def _score_late(self, session: Session, sequence: int, frame: Any, x: Any,
                    steering: float) -> tuple[float | None, int]:
        """(newest finished score, frames it is late) and this frame handed to the scorer."""
        scored = session.scored  # read before submitting: this frame's own score cannot be in it yet
        if scored is not None and scored[0] > session.scored_seen:
            session.scored_seen = scored[0]
            self.stats.latency("alarm", scored[2] * 1000.0)
            if scored[3] is not None:
                self._alarm_failed(scored[3])

        def done(value: Any, error: BaseException | None, seconds: float) -> None:
            # in the scorer's own thread: one rebinding, read whole by the next step
            session.scored = (sequence, math.nan if error is not None else float(value), seconds, error)

        if not self.score_async.submit(done, frame, ScoreContext(x, steering, self.model.preprocess)):
            self.stats.count("alarm_skipped")
        if scored is None:
            return None, 0  # nothing scored yet on this connection: no score, no alarm
        return scored[1], sequence - scored[0]

    def _alarm_failed(self, exc: BaseException) -> None:
        self.stats.error("alarm_error")
        self._warn.warning("alarm_error", "alarm: the monitor failed on a frame (alarm raised): %r", exc)

    def _alarm(self, score: float | None) -> bool:
        """Above the threshold, or NaN (a failed score); False without a score."""
        if self.alarm is None or score is None:
            return False
        alarm = self.alarm.alarm(score)
        if alarm:
            self.stats.count("alarm")
        return alarm

    def safe(self, session: Session, reason: str) -> Command:
        """Throttle 0, last good steering: the answer to anything malformed (counted by reason)."""
        self.stats.error(reason)
        steering, throttle = session.controller.safe_command()
        return Command(steering, throttle)

    def close(self, session: Session) -> Command:
        """Wheels straight, no throttle: what a stopping server sends last."""
        steering, throttle = session.controller.shutdown()
        return Command(steering, throttle)

    def close_sinks(self) -> None:
        for sink in self.sinks:
            sink.close()
