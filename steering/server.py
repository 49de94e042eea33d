"""The drive server: the Udacity simulator connects, sends telemetry, and we steer.

Run it from code (the simulator's evaluator, tests, benchmarks) in a background thread:

    from steering.server import DriveConfig, running_server
    with running_server("model.pt", DriveConfig(port=0)) as server:   # port 0: any free port
        connect to server.url ... ;  server.stats["counters"]["steer"]
    # leaving the block sends `steer 0,0`, disconnects the simulator and stops the thread

`python drive.py model.pt` does the same in the foreground. `running_server` also takes a ready
`Predictor` (or any object with `prepare`, `infer`, `configure_thread`, `describe`).

Protocol (see `steering.drive_protocol`): the simulator is a raw WebSocket client of
`/socket.io/?EIO=4&transport=websocket` speaking Engine.IO 3. The pinned python-socketio 4.6.1 +
python-engineio 3.13.2 accept that URL and connect the default namespace as soon as the Engine.IO
socket opens, so no shim is needed for the missing `40` CONNECT packet (socketio 5 would drop
every event; engineio >= 3.14 refuses EIO=4).

Guarantees, each covered by tests/test_server_*.py:
- every telemetry is answered exactly once (`steer`, or `manual` for `{}`) unless a newer frame of
  the same connection supersedes it before its reply goes out (below);
- anything malformed (payload, numbers, base64, JPEG, size, model NaN) gets the safe command:
  throttle 0, last good steering; it is counted in `stats["errors"]` and logged rate-limited;
- replies use the decimal separator the simulator used (comma locales);
- the model runs in its own OS thread (`steering.drive_worker`) so pings are answered meanwhile.

Stale frames. The simulator fires its open handler twice and answers our connect `steer` with a
telemetry too, so two or three request chains run at once, each reply triggering the next
telemetry. Answering every frame keeps them all alive, and each command then steers on a frame
that already waited for another chain's inference. Policy, per connection:
- a frame still waiting for the model when a newer one arrives is dropped without a reply;
- when an inference ends and a newer frame already waits, its reply is dropped too (stale) and the
  newer frame's reply goes out instead; only one reply in a row may be dropped this way, so even a
  client that does not wait for replies is answered at least every other inference.
Dropped frames count as `superseded` (`superseded_after_inference` for the second kind). Each
dropped reply ends its chain, and the newest frame is always answered, so exactly one chain
survives the opening: plain lock-step, every command on the newest frame received
(`stats["max_newer_at_infer_start"]` and `stats["max_newer_at_reply"]` stay 0 with the simulator).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
import os
import socket
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Protocol

with warnings.catch_warnings():
    # eventlet warns at import that it is in bugfix-only maintenance. Known and accepted: the
    # simulator's Engine.IO 3 dialect needs python-socketio 4 / python-engineio <= 3.13.2, whose
    # WebSocket support without a polling step comes through eventlet (see docs/drive.md).
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    import eventlet
    import eventlet.greenio
    import eventlet.hubs
    import eventlet.wsgi
    import socketio
from eventlet.hubs import trampoline
from eventlet.semaphore import Semaphore

from steering.control import ControlConfig, Controller
from steering.drive_protocol import (DEFAULT_MAX_IMAGE_CHARS, MalformedTelemetry, format_command,
                                     parse_telemetry)
from steering.drive_recorder import RecordedFrame, Recorder
from steering.drive_stats import DriveStats, RateLimitedLog
from steering.drive_worker import InferenceThread
from steering.inference import InferenceConfig, Predictor
from steering.preprocess import FrameError, decode_base64_jpeg

log = logging.getLogger(__name__)
# socketio/engineio log every packet at INFO; keep them to warnings unless asked (drive.py -v).
_wire_log = logging.getLogger(f"{__name__}.wire")
if _wire_log.level == logging.NOTSET:
    _wire_log.setLevel(logging.WARNING)


@dataclass
class DriveConfig:
    """Everything `drive.py` can set; defaults drive a trained model safely round the lake track."""

    host: str = "127.0.0.1"  # the simulator runs on this machine; 0.0.0.0 only when asked
    port: int = 4567  # the simulator's fixed port; 0 picks a free one (tests)
    speed: float = ControlConfig.target_speed  # mph
    max_throttle: float = ControlConfig.max_throttle
    turn_slowdown: float = ControlConfig.turn_slowdown
    smooth: float = ControlConfig.smooth
    device: str = "auto"
    backend: str = "auto"
    precision: str = "auto"
    threads: int = 0
    record_dir: Path | None = None
    stats_every: float = 30.0  # seconds between latency/counter log lines; 0 turns them off
    max_image_chars: int = DEFAULT_MAX_IMAGE_CHARS

    def control_config(self) -> ControlConfig:
        return ControlConfig(target_speed=self.speed, max_throttle=self.max_throttle,
                             turn_slowdown=self.turn_slowdown, smooth=self.smooth)

    def inference_config(self) -> InferenceConfig:
        return InferenceConfig(device=self.device, backend=self.backend, precision=self.precision, threads=self.threads)


class SteeringModel(Protocol):
    def prepare(self, frame: Any) -> Any: ...
    def infer(self, x: Any) -> float: ...
    def configure_thread(self) -> None: ...
    def describe(self) -> str: ...


@dataclass
class _Connection:
    controller: Controller
    decimal: str = "."  # the simulator's decimal separator, learnt from its telemetry
    newest: int = 0  # number of good frames received; the newest frame's sequence number
    # The previous inference's reply was dropped for a newer frame. The next one is sent whatever
    # arrives meanwhile, so a client that does not wait for replies still gets one every other
    # inference (the lock-step simulator never needs this: its chains end when a reply is dropped).
    dropped_last: bool = False


class DriveServer:
    """Socket.IO server around a model; `start()` runs it in a thread, `stop()` ends it cleanly."""

    def __init__(self, model: SteeringModel, config: DriveConfig | None = None) -> None:
        self.model = model
        self.config = config or DriveConfig()
        self.control_config = self.config.control_config()
        self._stats = DriveStats()
        self._warn = RateLimitedLog(log)
        self._connections: dict[str, _Connection] = {}
        self.sio = socketio.Server(async_mode="eventlet", always_connect=True, logger=_wire_log,
                                   engineio_logger=_wire_log)
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on("telemetry", self._on_telemetry)
        self.sio.eio.on("message", self._on_eio_message)  # replaces socketio's own handler, wrapping it
        self.app = socketio.WSGIApp(self.sio)
        self.recorder: Recorder | None = None
        self._worker: InferenceThread | None = None
        self._infer_lock: Semaphore | None = None
        self._thread: threading.Thread | None = None
        self._listener: socket.socket | None = None
        self._stop_r, self._stop_w = -1, -1
        self._ready = threading.Event()
        self._failure: BaseException | None = None

    # ------------------------------------------------------------------ life cycle

    @property
    def port(self) -> int:
        return self._listener.getsockname()[1] if self._listener else self.config.port

    @property
    def url(self) -> str:
        """What the simulator opens."""
        return f"ws://{self.config.host}:{self.port}/socket.io/?EIO=4&transport=websocket"

    @property
    def stats(self) -> dict[str, Any]:
        """Counters, errors, latency percentiles and staleness, as a plain dict (thread-safe copy)."""
        snap = self._stats.snapshot()
        snap["connections"] = len(self._connections)
        if self.recorder is not None:
            snap["recorded"] = {"written": self.recorder.written, "dropped": self.recorder.dropped}
        return snap

    def summary(self) -> str:
        return self._stats.summary()

    def start(self) -> "DriveServer":
        """Bind (errors raise here, e.g. port in use), then serve in a background thread."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((self.config.host, self.config.port))
        except OSError as exc:
            listener.close()
            raise OSError(exc.errno, f"cannot listen on {self.config.host}:{self.config.port}: {exc.strerror}; "
                                     "is another drive.py (or the headless simulator's server) running? "
                                     "Stop it or choose --port") from exc
        listener.listen(64)
        self._listener = listener
        if self.config.record_dir is not None:
            self.recorder = Recorder(self.config.record_dir)
        self._worker = InferenceThread(self.model.infer, initializer=self.model.configure_thread)
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._serve, name="steering-drive-server", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._failure is not None:
            self.stop()
            raise RuntimeError(f"drive server failed to start: {self._failure}") from self._failure
        log.info("drive server listening on %s (%s)", self.url, self.model.describe())
        return self

    def _serve(self) -> None:
        """The eventlet hub of this server lives in this thread only."""
        try:
            self._infer_lock = Semaphore(1)
            green = eventlet.greenio.GreenSocket(self._listener)
            pool = eventlet.GreenPool(1000)
            server = eventlet.spawn(eventlet.wsgi.server, green, self.app, log=logging.getLogger(f"{__name__}.wsgi"),
                                    log_output=False, custom_pool=pool, socket_timeout=None)
            reporter = eventlet.spawn(self._report_loop) if self.config.stats_every > 0 else None
        except Exception as exc:  # noqa: BLE001 - handed to start(), which raises it in the caller
            self._failure = exc
            self._ready.set()
            return
        self._ready.set()
        trampoline(self._stop_r, read=True)  # parked until stop() writes a byte
        # Leave the car straight with no throttle, then close. A socket the simulator already
        # dropped can block engineio's close (it waits for a writer that is gone), so each close
        # runs in its own greenlet under a deadline.
        closers = [eventlet.spawn(self._close_connection, sid, connection)
                   for sid, connection in list(self._connections.items())]
        with eventlet.Timeout(1.0, False):
            for closer in closers:
                closer.wait()
        for closer in closers:
            closer.kill()
        for greenlet in list(pool.coroutines_running):
            greenlet.kill()
        server.kill()
        if reporter is not None:
            reporter.kill()
        # The hub of this thread is never used again, but greenlets parked in it (engineio's
        # service task) keep it alive, and with it its epoll descriptor: close that explicitly.
        poller = getattr(eventlet.hubs.get_hub(), "poll", None)
        if hasattr(poller, "close"):
            poller.close()

    def _close_connection(self, sid: str, connection: _Connection) -> None:
        steering, throttle = connection.controller.shutdown()
        self.sio.emit("steer", format_command(steering, throttle, connection.decimal), room=sid)
        self.sio.disconnect(sid)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving, stop the model thread, flush the recording. Safe to call twice."""
        if self._thread is not None and self._thread.is_alive():
            os.write(self._stop_w, b"x")
            self._thread.join(timeout)
        self._thread = None
        for fd in (self._stop_r, self._stop_w):
            if fd >= 0:
                os.close(fd)
        self._stop_r = self._stop_w = -1
        if self._worker is not None:
            self._worker.close()
            self._worker = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self.recorder is not None:
            self.recorder.close()
        log.info("drive server stopped: %s", self.summary())

    def _report_loop(self) -> None:
        last = -1
        while True:
            eventlet.sleep(self.config.stats_every)
            frames = self._stats.counters["steer"]
            if frames != last:
                log.info("%s", self.summary())
                last = frames

    # ------------------------------------------------------------------ Socket.IO handlers

    def _on_connect(self, sid: str, environ: dict) -> None:
        # A fresh controller: a reconnecting simulator must not inherit the old integrator.
        self._connections[sid] = _Connection(controller=Controller(self.control_config))
        self._stats.count("connect")
        self.sio.emit("steer", {"steering_angle": "0", "throttle": "0"}, room=sid)  # starts the telemetry

    def _on_disconnect(self, sid: str) -> None:
        self._connections.pop(sid, None)
        self._stats.count("disconnect")

    def _on_eio_message(self, sid: str, data: Any) -> None:
        """socketio's message handler, plus an answer to telemetry whose JSON does not parse
        (socketio would log the error and never reply: the simulator would stall)."""
        try:
            self.sio._handle_eio_message(sid, data)
        except ValueError as exc:
            if isinstance(data, str) and data.startswith('2["telemetry"'):
                self._stats.count("telemetry")
                self._reply_safe(sid, "bad_json", f"{exc}")
            else:
                self._warn.warning("bad_packet", "ignored an undecodable Socket.IO packet %.60r: %s", data, exc)

    def _on_telemetry(self, sid: str, *args: Any) -> None:
        received = time.perf_counter()
        self._stats.count("telemetry")
        connection = self._connections.get(sid)
        if connection is None:  # telemetry racing a disconnect
            return
        try:
            self._handle_telemetry(sid, connection, args[0] if len(args) == 1 else args, received)
        except MalformedTelemetry as exc:
            self._reply_safe(sid, exc.reason, str(exc))
        except Exception as exc:  # noqa: BLE001 - a bug must cost one frame, never the car
            log.exception("drive server: unexpected error on a telemetry frame")
            self._reply_safe(sid, "internal_error", repr(exc))

    def _handle_telemetry(self, sid: str, connection: _Connection, data: Any, received: float) -> None:
        telemetry = parse_telemetry(data, self.config.max_image_chars)
        if telemetry is None:
            self._stats.count("manual")
            self.sio.emit("manual", data={}, room=sid)
            return
        connection.decimal = telemetry.decimal or connection.decimal
        try:
            frame = decode_base64_jpeg(telemetry.image)
            decoded = time.perf_counter()
            x = self.model.prepare(frame)
        except FrameError as exc:
            raise MalformedTelemetry("bad_image", str(exc)) from None
        prepared = time.perf_counter()
        connection.newest += 1
        sequence = connection.newest
        with self._infer_lock:
            eventlet.sleep(0)  # let frames already read from the socket register before choosing
            if connection.newest != sequence:  # a newer frame arrived while this one waited
                self._stats.count("superseded")
                return
            newer_at_start = connection.newest - sequence  # 0 under this policy; kept so stats show it
            start = time.perf_counter()
            try:
                steering_raw = self._worker.run(x)
            except Exception as exc:  # noqa: BLE001 - any model failure costs one frame
                raise MalformedTelemetry("model_error", repr(exc)) from None
            inferred = time.perf_counter()
            eventlet.sleep(0)  # frames read during the inference register before the reply is chosen
            if connection.newest != sequence and not connection.dropped_last:
                # A newer frame waits: this reply would steer on a stale frame and keep a second
                # chain alive. Drop it; the newer frame (next through the lock) gets the reply.
                connection.dropped_last = True
                self._stats.count("superseded")
                self._stats.count("superseded_after_inference")
                return
        connection.dropped_last = False
        self._stats.staleness(newer_at_start, connection.newest - sequence)
        if not math.isfinite(steering_raw):
            raise MalformedTelemetry("model_output_not_finite", f"model returned {steering_raw}")
        steering, throttle = connection.controller.run(steering_raw, telemetry.speed)
        self._emit_steer(sid, connection, steering, throttle)
        done = time.perf_counter()
        for stage, seconds in (("decode", decoded - received), ("preprocess", prepared - decoded),
                               ("infer", inferred - start), ("total", done - received)):
            self._stats.latency(stage, seconds * 1000.0)
        if self.recorder is not None:
            self.recorder.put(RecordedFrame(telemetry.image, dt.datetime.now(), steering, throttle, telemetry.speed))

    def _emit_steer(self, sid: str, connection: _Connection, steering: float, throttle: float) -> None:
        self.sio.emit("steer", format_command(steering, throttle, connection.decimal), room=sid)
        self._stats.count("steer")

    def _reply_safe(self, sid: str, reason: str, detail: str) -> None:
        """Throttle 0, last good steering; counted and logged (at most every few seconds per reason)."""
        self._stats.error(reason)
        self._warn.warning(reason, "telemetry %s (%s): answered with the safe command", reason, detail[:200])
        connection = self._connections.get(sid)
        if connection is None:
            return
        steering, throttle = connection.controller.safe_command()
        self.sio.emit("steer", format_command(steering, throttle, connection.decimal), room=sid)
        self._stats.count("safe")


@contextlib.contextmanager
def running_server(model: str | Path | SteeringModel, config: DriveConfig | None = None) -> Iterator[DriveServer]:
    """A started DriveServer for a checkpoint path (or a ready model), stopped on exit."""
    config = config or DriveConfig()
    if isinstance(model, (str, Path)):
        model = Predictor(model, config.inference_config())
    server = DriveServer(model, config).start()
    try:
        yield server
    finally:
        server.stop()
