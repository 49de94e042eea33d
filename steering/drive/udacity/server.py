"""The Udacity simulator's transport: Socket.IO over eventlet, around a `DrivePipeline`.

Run it from code (the evaluator, tests, benchmarks) in a background thread:

    from steering.drive import DriveConfig, running_server, TransportConfig
    with running_server("model.pt", DriveConfig(transport=TransportConfig(port=0))) as server:  # any free port
        connect to server.url ... ;  server.stats["counters"]["steer"]
    # leaving the block sends `steer 0,0`, disconnects the simulator and stops the thread

`python drive.py model.pt` does the same in the foreground. `running_server` also takes several
checkpoints (an ensemble, `steering.inference.ensemble`) or a ready `Predictor` (or any object with
`prepare`, `infer`, `configure_thread`, `describe`).

Protocol (`steering.udacity`, `steering.drive.udacity.protocol`): the simulator is a raw WebSocket client
of `SOCKET_PATH` speaking Engine.IO 3. The pinned python-socketio 4.6.1 + python-engineio 3.13.2
accept that URL and connect the default namespace as soon as the Engine.IO socket opens, so no
shim is needed for the missing `40` CONNECT packet (socketio 5 would drop every event;
engineio >= 3.14 refuses EIO=4). This module is only that glue; what happens to a frame
(decode, newest-frame policy, control, sinks) is `steering.drive.pipeline`.

Guarantees, each covered by tests/test_server_*.py:
- every telemetry is answered exactly once (`steer`, or `manual` for `{}`) unless a newer frame of
  the same connection supersedes it before its reply goes out (the pipeline's policy);
- anything malformed (payload, numbers, base64, JPEG, size, model NaN) gets the safe command:
  throttle 0, last good steering; it is counted in `stats["errors"]` and logged rate-limited;
- replies use the decimal separator the simulator used (comma locales);
- a handshake whose Host does not name this server, or whose Origin is a web page other than this
  server, gets 403 (`steering.drive.http_guard`: other pages in the user's browser cannot drive);
- the model runs in its own OS thread (`steering.drive.worker`) so pings are answered meanwhile;
- every accepted socket has TCP_NODELAY, and client frames are unmasked at C speed
  (`steering.drive.udacity.wire`, installed when a server is built); the socket's timestamps give the
  server's own time per frame and the client's time between a reply and the next frame
  (`stats["wire_ms"]`, see `steering.drive.stats`).
With the simulator exactly one request chain survives the opening: plain lock-step, every command
on the newest frame received (`stats["max_newer_at_infer_start"]`/`["max_newer_at_reply"]` stay 0).
"""
from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

with warnings.catch_warnings():
    # eventlet warns at import that it is in bugfix-only maintenance. Known and accepted: the
    # simulator's Engine.IO 3 dialect needs python-socketio 4 / python-engineio <= 3.13.2, whose
    # WebSocket support without a polling step comes through eventlet (see docs/drive.md).
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    import eventlet
    import eventlet.wsgi
    import socketio
from eventlet.semaphore import Semaphore

from steering.drive.alarm import load_alarm, model_checkpoints
from steering.drive.config import DriveConfig
from steering.drive.http_guard import Address, guarded
from steering.drive.hub import HubThread, close_hub, listen
from steering.drive.pipeline import Command, DrivePipeline, Session, SteeringModel
from steering.drive.score_process import ScoreProcess
from steering.drive.sinks import Recorder, Sink, build_sinks
from steering.drive.stats import DriveStats, RateLimitedLog
from steering.drive.udacity import wire
from steering.drive.udacity.packet_guard import guard_websocket
from steering.drive.udacity.protocol import MalformedTelemetry, format_command, parse_telemetry
from steering.drive.worker import InferenceThread
from steering.inference.ensemble import load_model
from steering.monitors import AlarmMonitor
from steering.udacity import PING_INTERVAL_S, PING_TIMEOUT_S, socket_url

log = logging.getLogger(__name__)
# socketio/engineio log every packet at INFO; keep them to warnings unless asked (drive.py -v).
_wire_log = logging.getLogger(f"{__name__}.wire")
if _wire_log.level == logging.NOTSET:
    _wire_log.setLevel(logging.WARNING)


class DriveServer:
    """Socket.IO server around a model; `start()` runs it in a thread, `stop()` ends it cleanly."""

    def __init__(
        self, model: SteeringModel, config: DriveConfig | None = None, sinks: list[Sink] | None = None,
        alarm: AlarmMonitor | None = None,
    ) -> None:
        self.model = model
        self.config = config or DriveConfig()
        # the failure monitor (--alarm); built here from the config unless given ready
        if alarm is None and self.config.alarm.kind:
            alarm = load_alarm(self.config.alarm, model_checkpoints(model))
        self.alarm = alarm
        self._alarm_worker: InferenceThread | ScoreProcess | None = None
        self._stats = DriveStats()
        self._warn = RateLimitedLog(log)
        self._sessions: dict[str, Session] = {}
        self._extra_sinks = list(sinks or [])
        self.pipeline: DrivePipeline | None = None
        self._sockets: dict[str, Any] = {}  # sid -> the accepted socket (a wire.NoDelaySocket)
        # sid -> (arrival, command ready) of the last answered frame
        self._last_frame: dict[str, tuple[float, float]] = {}
        wire.install()
        # python-engineio 3.13.2 drops a socket whose ping is over 5 s late; Engine.IO 3 allows the announced
        # pingTimeout. (interval, grace) keeps the announced interval and grants that grace, so a simulator
        # (or our headless client) starved of CPU for a few seconds keeps driving.
        self.sio = socketio.Server(async_mode="eventlet", always_connect=True, logger=_wire_log,
                                   engineio_logger=_wire_log, ping_interval=(PING_INTERVAL_S, PING_TIMEOUT_S),
                                   ping_timeout=PING_TIMEOUT_S)
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on("telemetry", self._on_telemetry)
        self.sio.eio.on("message", self._on_eio_message)  # replaces socketio's own handler, wrapping it
        self.sio.eio._async = {**self.sio.eio._async,  # a copy: the dict is engineio's module-level one
                               "websocket": guard_websocket(self.sio.eio._async["websocket"], self._on_bad_message)}
        self.app = socketio.WSGIApp(self.sio)
        self.recorder: Recorder | None = None
        self._worker: InferenceThread | None = None
        self._listener: socket.socket | None = None
        self._hub: HubThread | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None

    # ------------------------------------------------------------------ life cycle

    @property
    def port(self) -> int:
        return self._listener.getsockname()[1] if self._listener else self.config.transport.port

    @property
    def url(self) -> str:
        """What the simulator opens."""
        return socket_url(self.config.transport.host, self.port)

    @property
    def serving(self) -> bool:
        """The server's thread is running (started and not stopped or crashed)."""
        return self._hub is not None and self._hub.alive

    @property
    def stats(self) -> dict[str, Any]:
        """Counters, errors, latency percentiles and staleness, as a plain dict (thread-safe copy)."""
        snap = self._stats.snapshot()
        snap["connections"] = len(self._sessions)
        if self.recorder is not None:
            snap["recorded"] = {"written": self.recorder.written, "dropped": self.recorder.dropped}
        return snap

    def summary(self) -> str:
        return self._stats.summary()

    def start(self) -> DriveServer:
        """Bind (errors raise here, e.g. port in use), then serve in a background thread."""
        host, port = self.config.transport.host, self.config.transport.port
        self._listener = listen(host, port, 64, "is another drive.py (or the headless simulator's server) running? "
                                                "Stop it or choose --port")
        built = build_sinks(self.config)  # the registered ones (the recorder, with a RECORD_DIR) first
        self.recorder = next((sink for sink in built if isinstance(sink, Recorder)), None)
        sinks = [*built, *self._extra_sinks]
        self._worker = InferenceThread(self.model.infer, initializer=self.model.configure_thread)
        # the monitor's own thread: its forward pass must not freeze the hub either; --alarm-async: nobody waits
        late = self.alarm is not None and self.config.alarm.asynchronous
        if late:  # a process of its own at the lowest priority: the next frame's inference comes first
            self._alarm_worker = ScoreProcess(self.alarm)
        elif self.alarm is not None:
            self._alarm_worker = InferenceThread(self.alarm.score, initializer=self.model.configure_thread,
                                                 name="steering-alarm")
        self.pipeline = DrivePipeline(self.model, self.config.control, self._stats, sinks, run_model=self._run_model,
                                      yield_now=lambda: eventlet.sleep(0), alarm=self.alarm,
                                      run_alarm=self._alarm_worker.run if self._alarm_worker and not late else None,
                                      score_async=self._alarm_worker if late else None)
        self._hub = HubThread(self._serve, "steering-drive-server")
        self._hub.start()
        self._ready.wait()
        if self._failure is not None:
            self.stop()
            raise RuntimeError(f"drive server failed to start: {self._failure}") from self._failure
        log.info("drive server listening on %s (%s)", self.url, self.model.describe())
        return self

    def _serve(self) -> None:
        """The eventlet hub of this server lives in this thread only."""
        try:
            self.pipeline.lock = Semaphore(1)  # created in the hub's own thread
            green = wire.NoDelaySocket(self._listener)
            pool = eventlet.GreenPool(1000)
            # engineio refuses a foreign Origin itself, but judges "foreign" against the Host header,
            # which a rebound domain controls; the guard also checks that Host names this server.
            # Engine.IO's polling POSTs are text/plain, and need a session id no foreign page can read.
            app = guarded(self.app, Address(self.config.transport.host, self.port), "drive server", json_only=False)
            server = eventlet.spawn(eventlet.wsgi.server, green, app, log=logging.getLogger(f"{__name__}.wsgi"),
                                    log_output=False, custom_pool=pool, socket_timeout=None)
            reporter = eventlet.spawn(self._report_loop) if self.config.stats_every > 0 else None
        except Exception as exc:  # noqa: BLE001 - handed to start(), which raises it in the caller
            self._failure = exc
            self._ready.set()
            return
        self._ready.set()
        self._hub.park()
        # Leave the car straight with no throttle, then close. A socket the simulator already
        # dropped can block engineio's close (it waits for a writer that is gone), so each close
        # runs in its own greenlet under a deadline.
        closers = [
            eventlet.spawn(self._close_connection, sid, session) for sid, session in list(self._sessions.items())
        ]
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
        close_hub()

    def _close_connection(self, sid: str, session: Session) -> None:
        self._emit(sid, session, self.pipeline.close(session))
        self.sio.disconnect(sid)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving, stop the model thread, flush the recording. Safe to call twice."""
        if self._hub is not None:
            self._hub.stop(timeout)
        if self._worker is not None:
            self._worker.close()
            self._worker = None
        if self._alarm_worker is not None:
            self._alarm_worker.close()
            self._alarm_worker = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self.pipeline is not None:
            self.pipeline.close_sinks()
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

    def connection_sockets(self) -> list[socket.socket]:
        """The server-side sockets of the open connections (tests check their options)."""
        return list(self._sockets.values())

    def _on_connect(self, sid: str, environ: dict) -> None:
        self._sessions[sid] = self.pipeline.open()
        stream = environ.get("eventlet.input")
        if stream is not None:
            self._sockets[sid] = stream.get_socket()
        self._stats.count("connect")
        self.sio.emit("steer", {"steering_angle": "0", "throttle": "0"}, room=sid)  # starts the telemetry

    def _on_disconnect(self, sid: str) -> None:
        self._sessions.pop(sid, None)
        self._sockets.pop(sid, None)
        self._last_frame.pop(sid, None)
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

    def _on_bad_message(self, message: str | bytes, exc: Exception) -> None:
        self._stats.count("undecodable_message")
        self._warn.warning("bad_message", "ignored an undecodable WebSocket message %.40r: %r", message, exc)

    def _run_model(self, x: Any) -> float:
        start = time.perf_counter()
        value = self._worker.run(x)
        self._stats.wire("handoff", (time.perf_counter() - start - self._worker.last_call_s) * 1000.0)
        return value

    def _wire_times(self, sid: str, received: float) -> float:
        """Record what the socket saw since the last answered frame; this frame's arrival time."""
        times = getattr(self._sockets.get(sid), "wire_times", None)
        if times is None or not times.arrived:
            return received
        arrived = times.arrived
        self._stats.wire("receive", (received - arrived) * 1000.0)
        last = self._last_frame.get(sid)
        # Lock step: the last answered frame's reply went out between its arrival and this one's.
        if last is not None and last[0] < times.replied <= arrived:
            self._stats.wire("reply", (times.replied - last[1]) * 1000.0)
            self._stats.wire("server", (times.replied - last[0]) * 1000.0)
            self._stats.wire("client", (arrived - times.replied) * 1000.0)
        return arrived

    def _on_telemetry(self, sid: str, *args: Any) -> None:
        received = time.perf_counter()
        self._stats.count("telemetry")
        session = self._sessions.get(sid)
        if session is None:  # telemetry racing a disconnect
            return
        arrived = self._wire_times(sid, received)
        data = args[0] if len(args) == 1 else args
        try:
            telemetry = parse_telemetry(data, self.config.transport.max_image_chars)
            if telemetry is None:
                self._stats.count("manual")
                self.sio.emit("manual", data={}, room=sid)
                return
            command = self.pipeline.step(session, telemetry, received)
        except MalformedTelemetry as exc:
            self._reply_safe(sid, exc.reason, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - a bug must cost one frame, never the car
            log.exception("drive server: unexpected error on a telemetry frame")
            self._reply_safe(sid, "internal_error", repr(exc))
            return
        if command is not None:
            self._last_frame[sid] = (arrived, time.perf_counter())
            self._emit(sid, session, command)
            self._stats.count("steer")

    def _emit(self, sid: str, session: Session, command: Command) -> None:
        self.sio.emit("steer", format_command(command.steering, command.throttle, session.decimal, command.confidence),
                      room=sid)

    def _reply_safe(self, sid: str, reason: str, detail: str) -> None:
        """Throttle 0, last good steering; counted and logged (at most every few seconds per reason)."""
        self._warn.warning(reason, "telemetry %s (%s): answered with the safe command", reason, detail[:200])
        session = self._sessions.get(sid)
        if session is None:
            self._stats.error(reason)
            return
        self._emit(sid, session, self.pipeline.safe(session, reason))
        self._stats.count("safe")


@contextlib.contextmanager
def running_server(model: str | Path | Sequence[str | Path] | SteeringModel, config: DriveConfig | None = None,
                   sinks: list[Sink] | None = None, alarm: AlarmMonitor | None = None) -> Iterator[DriveServer]:
    """A started DriveServer for a checkpoint path, several (an ensemble) or a ready model, stopped on exit."""
    config = config or DriveConfig()
    if isinstance(model, (str, Path, list, tuple)):
        model = load_model(model, config.inference)  # config.inference.tta applies here
    server = DriveServer(model, config, sinks=sinks, alarm=alarm).start()
    try:
        yield server
    finally:
        server.stop()
