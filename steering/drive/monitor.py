"""A live browser page for a drive: `python drive.py model.pt --monitor`, then open http://127.0.0.1:8887/.

The page (`monitor_page/`, plain HTML/JS/CSS shipped with the package, nothing from a CDN) shows
the newest camera frame the model saw, the steering command as a gauge, 30 s strip charts of
steering, throttle, speed and (drive.py `--alarm`) the failure monitor's score with its threshold
as a line and the alarm periods shaded, latency p50/p99, the runtime, error and safe-command counters,
the connection state, an optional VisualBackProp overlay and a record on/off switch.

Data path, and why it cannot slow the car:
- `MonitorSink` is one more sink of the drive pipeline. Its `put` runs on the control path and
  does three O(1) things: count, keep a reference to the newest `DriveFrame` (replacing the one
  before), append (seq, time, steering, throttle, speed, alarm score, alarm) to a bounded deque
  (score None without a monitor, or before its first score; NaN becomes None: JSON has no NaN). No lock, no copy,
  no decoding, no I/O: nothing in it waits for the page, and with no page open nothing else runs.
- `Monitor` serves the page over plain HTTP with `eventlet.wsgi` in a thread and eventlet hub of
  its own, separate from the drive server's hub, so a slow or stalled browser socket parks only
  monitor greenlets. The page pulls: `/api/state` a few times a second (samples since the last
  poll, stats), `/frame.jpg?after=N` for the next frame (long-poll; base64-decoded here, off
  the control path, the JPEG bytes exactly as the simulator sent them, never re-encoded; at
  most `max_fps` per second across all pages), `/saliency.png` only while the overlay is on.
- The saliency overlay (`steering.drive.monitor_saliency`) runs in its own thread at
  `saliency_hz`, only while a page keeps asking for it.

Endpoints: GET `/` (the page), `/static/<file>`, `/api/state?since=SEQ`, `/frame.jpg?after=SEQ`,
`/saliency.png`; POST `/api/record` with `{"on": true|false}` pauses or resumes the recording.
Every request first passes `steering.drive.http_guard` (its Host names this server; a POST is
JSON from this page or from no page at all); other pages and rebound domains get 403.
"""
from __future__ import annotations

import base64
import binascii
import itertools
import json
import logging
import math
import mimetypes
import socket
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs

with warnings.catch_warnings():  # eventlet's maintenance-mode notice; see udacity/server.py
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    import eventlet
    import eventlet.greenio
    import eventlet.wsgi

from steering.cli import option
from steering.drive.http_guard import Address, guarded
from steering.drive.hub import HubThread, close_hub, listen
from steering.drive.sinks import DriveFrame

log = logging.getLogger(__name__)

PAGE_DIR = Path(__file__).with_name("monitor_page")
DEFAULT_PORT = 8887
_LONG_POLL_S = 1.0  # /frame.jpg waits this long for a newer frame, then answers 204
_SAMPLE_RATE_CAP = 100  # frames per second the history deque is sized for


@dataclass(frozen=True)
class MonitorConfig:
    """The browser monitor: off unless asked for."""

    enabled: bool = option(False, flag="monitor",
                           help="serve a live page of the drive (camera, steering, charts, latency, errors) on "
                                "http://MONITOR_HOST:MONITOR_PORT/; it only reads what the drive already computed")
    host: str = option("127.0.0.1", flag="monitor_host",
                       help="address of the monitor page; 0.0.0.0 shows it to the network")
    port: int = option(DEFAULT_PORT, flag="monitor_port", help="port of the monitor page; 0 picks a free port")
    max_fps: float = 15.0  # camera frames per second sent to pages, all pages together
    saliency_hz: float = 2.0  # VisualBackProp overlays per second while a page shows them
    history_s: float = 30.0  # strip-chart window
    stats_s: float = 1.0  # latency percentiles and counters on the page refresh this often


# (seq, time s, steering, throttle, speed, alarm score or None, alarm 0/1)
Sample = tuple[int, float, float, float, float, float | None, int]


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


class MonitorSink:
    """The drive pipeline's side of the monitor: keeps the newest frame and a short history. Never blocks.

    Written by the drive server's thread, read by the monitor's: `newest` is rebound in one step
    and `deque.append`/`deque.copy` run in C under the GIL, so readers see whole entries without a lock.
    """

    def __init__(self, history_s: float = 30.0) -> None:
        self.frames = 0  # frames put so far: the sequence number of `newest`
        self.newest: tuple[int, DriveFrame] | None = None
        self.samples: deque[Sample] = deque(
            maxlen=max(1, int(history_s * _SAMPLE_RATE_CAP)))
        self.closed = False

    def put(self, frame: DriveFrame) -> None:
        self.frames += 1
        self.newest = (self.frames, frame)
        self.samples.append((self.frames, frame.received.timestamp(), frame.steering, frame.throttle, frame.speed,
                             _finite(frame.alarm_score), int(frame.alarm)))

    def close(self) -> None:
        self.closed = True  # the drive ended; the page keeps showing the last state

    def samples_since(self, since: int, window_s: float) -> list[Sample]:
        """Samples with seq > `since` from the last `window_s` seconds of the drive, oldest first."""
        samples = self.samples.copy()  # C-level copy of references: a consistent view
        if not samples:
            return []
        # Sequence numbers in the deque are consecutive, so the first new one sits at a known index.
        first = max(0, len(samples) - max(0, samples[-1][0] - since))
        start = samples[-1][1] - window_s
        return [s for s in itertools.islice(samples, first, None) if s[1] >= start]


class DriveSource(Protocol):
    """What the monitor reads from a drive server (`DriveServer` is one): stats, the model, the recorder."""

    @property
    def stats(self) -> dict[str, Any]: ...
    model: Any  # has describe()
    recorder: Any  # a Recorder or None


class Monitor:
    """The page's HTTP server, in a thread of its own. `start(server)` after the drive server started."""

    def __init__(self, config: MonitorConfig | None = None, checkpoint: str | Path | None = None) -> None:
        self.config = config or MonitorConfig(enabled=True)
        self.sink = MonitorSink(self.config.history_s)
        self.saliency = None
        if checkpoint is not None:
            # loaded only with a checkpoint to explain: it brings torch and the saliency code into the server
            from steering.drive.monitor_saliency import SaliencyWorker

            self.saliency = SaliencyWorker(checkpoint, self.sink, hz=self.config.saliency_hz)
        self.source: DriveSource | None = None
        self._listener: socket.socket | None = None
        self._hub: HubThread | None = None
        self._ready = threading.Event()
        self._next_frame_at = 0.0
        self._stats_cache: dict[str, Any] = {}
        self._stats_at = -float("inf")
        self.frames_served = 0

    @property
    def port(self) -> int:
        return self._listener.getsockname()[1] if self._listener else self.config.port

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}/"

    def start(self, source: DriveSource) -> Monitor:
        """Bind (errors raise here) and serve in a background thread."""
        self.source = source
        self._listener = listen(self.config.host, self.config.port, 16, "choose another --monitor-port", "monitor: ")
        self._hub = HubThread(self._serve, "steering-monitor")  # assigned before serve() can park on it
        self._hub.start()
        self._ready.wait()
        log.info("monitor page on %s", self.url)
        return self

    def _serve(self) -> None:
        green = eventlet.greenio.GreenSocket(self._listener)
        pool = eventlet.GreenPool(64)
        app = guarded(self.app, Address(self.config.host, self.port), "monitor")
        server = eventlet.spawn(eventlet.wsgi.server, green, app, log=logging.getLogger(f"{__name__}.wsgi"),
                                log_output=False, custom_pool=pool, socket_timeout=30)
        self._ready.set()
        self._hub.park()
        for greenlet in list(pool.coroutines_running):
            greenlet.kill()
        server.kill()
        close_hub()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and the saliency thread. Safe to call twice."""
        if self._hub is not None:
            self._hub.stop(timeout)
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self.saliency is not None:
            self.saliency.close()

    # ------------------------------------------------------------------ what the page reads

    def state(self, since: int = 0) -> dict[str, Any]:
        """Everything `/api/state` answers: new samples since `since`, stats, runtime, switches."""
        stats = self._stats()
        newest = self.sink.newest
        age = time.time() - newest[1].received.timestamp() if newest else None
        connections = stats.get("connections", 0)
        if self.sink.closed:
            link = "stopped"
        elif age is not None and age < 2.0:  # frames are arriving (the connection count may be a second old)
            link = "driving"
        else:
            link = "connected" if connections else "waiting for the simulator"
        counters = stats.get("counters", {})
        return {
            "frames": self.sink.frames,
            "samples": self.sink.samples_since(since, self.config.history_s),
            "window_s": self.config.history_s,
            "connection": {"state": link, "simulators": connections,
                           "last_frame_age_s": None if age is None else round(age, 3)},
            "latency_ms": stats.get("latency_ms", {}),
            "counters": counters,
            "errors": stats.get("errors", {}),
            "safe": counters.get("safe", 0),
            "runtime": self.source.model.describe() if self.source is not None else "",
            "recording": self._recording(),
            "saliency": self.saliency.status() if self.saliency is not None else {"available": False},
            "max_fps": self.config.max_fps,
            "alarm": self._alarm(newest[1] if newest else None),
        }

    @staticmethod
    def _alarm(frame: DriveFrame | None) -> dict[str, Any]:
        """The score chart's settings: on with a failure monitor; its threshold (None: scores only)."""
        if frame is None or frame.alarm_threshold is None:
            return {"on": False, "threshold": None}
        return {"on": True, "threshold": _finite(frame.alarm_threshold)}

    def _stats(self) -> dict[str, Any]:
        # DriveStats.snapshot computes percentiles over its windows under the lock the control path
        # also takes for every frame: at most once per `stats_s`, whatever the number of pages.
        now = time.monotonic()
        if self.source is not None and now - self._stats_at >= self.config.stats_s:
            self._stats_cache, self._stats_at = self.source.stats, now
        return self._stats_cache

    def _recording(self) -> dict[str, Any] | None:
        recorder = getattr(self.source, "recorder", None)
        if recorder is None:
            return None
        return {"folder": str(recorder.folder), "on": not getattr(recorder, "paused", False),
                "written": recorder.written, "dropped": recorder.dropped}

    def set_recording(self, on: bool) -> dict[str, Any] | None:
        recorder = getattr(self.source, "recorder", None)
        if recorder is not None:
            recorder.paused = not on
            log.info("monitor: recording %s", "resumed" if on else "paused")
        return self._recording()

    def frame_after(self, after: int) -> tuple[int, bytes, DriveFrame] | None:
        """The newest frame if it is newer than `after`: (seq, JPEG bytes as received, frame)."""
        newest = self.sink.newest
        if newest is None or newest[0] <= after:
            return None
        seq, frame = newest
        try:
            return seq, base64.b64decode(frame.image_base64), frame
        except (binascii.Error, ValueError):
            return None

    # ------------------------------------------------------------------ WSGI

    def app(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", "/"), environ.get("REQUEST_METHOD", "GET")
        query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        try:
            if path == "/api/state" and method == "GET":
                return _json(start_response, self.state(_int(query.get("since"))))
            if path == "/frame.jpg" and method == "GET":
                return self._frame(start_response, _int(query.get("after")))
            if path == "/saliency.png" and method == "GET":
                return self._saliency(start_response)
            if path == "/api/record" and method == "POST":
                body = _read_json(environ)
                if not isinstance(body, dict) or not isinstance(body.get("on"), bool):
                    return _respond(start_response, "400 Bad Request", b'expected {"on": true|false}', "text/plain")
                return _json(start_response, {"recording": self.set_recording(body["on"])})
            if method == "GET" and (path == "/" or path.startswith("/static/")):
                return _static(start_response, "index.html" if path == "/" else path[len("/static/"):])
        except Exception:  # noqa: BLE001 - a page request must never take the monitor down
            log.exception("monitor: %s %s failed", method, path)
            return _respond(start_response, "500 Internal Server Error", b"monitor error", "text/plain")
        return _respond(start_response, "404 Not Found", b"not found", "text/plain")

    def _frame(self, start_response: Callable, after: int) -> Iterable[bytes]:
        # Long-poll for a newer frame, then keep all pages together under max_fps.
        deadline = time.monotonic() + _LONG_POLL_S
        found = self.frame_after(after)
        while found is None and time.monotonic() < deadline:
            eventlet.sleep(0.01)
            found = self.frame_after(after)
        if found is None:
            return _respond(start_response, "204 No Content", b"", "text/plain")
        wait = self._next_frame_at - time.monotonic()
        if wait > 0:
            eventlet.sleep(wait)
            found = self.frame_after(after) or found  # a newer one may have come meanwhile
        self._next_frame_at = max(self._next_frame_at, time.monotonic()) + 1.0 / self.config.max_fps
        seq, jpeg, frame = found
        self.frames_served += 1
        return _respond(start_response, "200 OK", jpeg, "image/jpeg",
                        [("X-Frame-Seq", str(seq)), ("X-Steering", repr(frame.steering))])

    def _saliency(self, start_response: Callable) -> Iterable[bytes]:
        if self.saliency is None:
            return _respond(start_response, "404 Not Found", b"no saliency: the monitor has no checkpoint",
                            "text/plain")
        latest = self.saliency.request()
        if latest is None:
            return _respond(start_response, "204 No Content", b"", "text/plain")
        seq, png = latest
        return _respond(start_response, "200 OK", png, "image/png", [("X-Frame-Seq", str(seq))])


def _int(text: str | None) -> int:
    try:
        return int(text) if text is not None else 0
    except ValueError:
        return 0


def _read_json(environ: dict) -> Any:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        return json.loads(environ["wsgi.input"].read(min(length, 4096)) or b"null")
    except (ValueError, KeyError):
        return None


def _respond(start_response: Callable, status: str, body: bytes, content_type: str,
             headers: list[tuple[str, str]] | None = None) -> list[bytes]:
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body))),
                            ("Cache-Control", "no-store"), *(headers or [])])
    return [body]


def _json(start_response: Callable, value: Any) -> list[bytes]:
    return _respond(start_response, "200 OK", json.dumps(value, allow_nan=False).encode(), "application/json")


def _static(start_response: Callable, name: str) -> list[bytes]:
    path = (PAGE_DIR / name).resolve()
    if PAGE_DIR.resolve() not in path.parents or not path.is_file():  # no ../ out of the page folder
        return _respond(start_response, "404 Not Found", b"not found", "text/plain")
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return _respond(start_response, "200 OK", path.read_bytes(), content_type)

