"""The simulator's side of the wire: a Socket.IO client that talks to a drive server (e.g. `drive.py`)
byte for byte like the Unity simulator's Autonomous mode.

What the Unity client does (`SocketIOComponent.cs`, `CommandServer.cs`), and so do we:
- opens a raw WebSocket to `steering.udacity.socket_url()` (`/socket.io/?EIO=4&transport=websocket`): no polling
  handshake and no `40` CONNECT packet (it speaks Engine.IO 3 despite the `EIO=4`);
- reads the server's Engine.IO open packet `0{"sid":...,"pingInterval":25000,...}` and tolerates the
  `40` that python-socketio 4 sends after it;
- sends `42["telemetry",{"steering_angle":"-3.5000","throttle":"0.2000","speed":"30.1903","image":"<base64 JPEG>"}]`
  (compact JSON, numbers as `ToString("N4")` strings, wheel angle in degrees, speed in mph, a 320x160 JPEG);
- sends the next telemetry only when a `steer` (or `manual`) arrives: lock step;
- parses `42["steer",{"steering_angle":"0.1","throttle":"0.3"}]` with its culture, clamps both to [-1, 1]
  (steering x 25 degrees; a negative throttle brakes);
- pings `2` every `pingInterval` and expects `3`.

Two quirks of the real one are options, on by default like the simulator:
- `double_open`: its "open" handler fires twice on connect (WebSocket open, then the Engine.IO open
  packet) and each firing sends a telemetry, so two request chains run at once (three when the
  server also sends `steer` on connect, as the classic drive.py does);
- `decimal=","`: a comma-decimal machine sends `"-3,5000"` and reads a reply of `"0.1"` as 1.

Time: with `pacing="fixed"` each `steer` advances the world by exactly one step (`WorldConfig.dt`),
so a drive is the same on any machine. With `pacing="wallclock"` the world runs in real time: the
car keeps going with the old command while the server thinks (latency matters), and a telemetry is
never sent sooner than `dt` after the previous one.
With `pacing="realtime"` the world advances, per reply, by the wall time the server took (from the
newest telemetry to its reply) rounded up to whole rendered frames, at least one frame
(`realtime_advance_s`): the Unity simulator keeps driving the car with the previous command while
drive.py thinks, applies a reply in its next frame and sends the next telemetry from that frame.
`frame_s` is that frame time: 1/60 s, Unity rendering at 60 frames/s (vsync). The client's own
rendering and JPEG encoding are not counted (they are what the frame time stands for), so a fast
server is answered at up to 60 Hz and a slow one steers less often, as on the real simulator. The
world moves in sub-steps of at most `WorldConfig.dt`, so the physics is as stable as in lock step.

Scoring drives (interventions, autonomy) is the evaluator's job; it plugs in through `on_step`.
"""
from __future__ import annotations

import base64
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import websocket

from steering.preprocess import encode_jpeg
from steering.sim.session import Command, DriveResult
from steering.sim.world import StepInfo, World
from steering.udacity import PING_INTERVAL_S, PORT, format_n4, parse_culture_float, socket_url

log = logging.getLogger(__name__)


PACINGS = ("fixed", "wallclock", "realtime")


def realtime_advance_s(waited_s: float, frame_s: float) -> float:
    """Simulated time that passes while the server answers in `waited_s`: whole frames, at least one."""
    return max(1, math.ceil(waited_s / frame_s - 1e-9)) * frame_s


class SimClientError(RuntimeError):
    """The drive server could not be reached, stopped answering telemetry, or broke the protocol."""


@dataclass(frozen=True)
class ClientConfig:
    """How the simulator connects and which of the real simulator's quirks it reproduces."""

    host: str = "127.0.0.1"
    port: int = PORT
    decimal: str = "."  # "," = a comma-decimal locale (de-DE, it-IT, pt-BR): telemetry and reply parsing
    double_open: bool = True  # send telemetry on WebSocket open *and* on the Engine.IO open packet
    pacing: str = "fixed"  # "fixed" (one step per steer), "wallclock" (world in real time) or "realtime" (see above)
    frame_s: float = 1.0 / 60.0  # realtime pacing: the simulator's frame time (Unity at 60 frames/s)
    camera: str = "center"
    jpeg_quality: int = 75  # Unity's EncodeToJPG default
    connect_timeout_s: float = 10.0
    reply_timeout_s: float = 30.0  # no reply to telemetry for this long: the server is stalled, stop with an error

    def __post_init__(self) -> None:
        if self.pacing not in PACINGS:
            raise ValueError(f"pacing must be one of {', '.join(PACINGS)}, got {self.pacing!r}")
        if self.frame_s <= 0:
            raise ValueError(f"frame_s must be > 0, got {self.frame_s}")
        if self.decimal not in (".", ","):
            raise ValueError(f"decimal must be '.' or ',', got {self.decimal!r}")

    @property
    def url(self) -> str:
        return socket_url(self.host, self.port)


def telemetry_packet(steering_deg: float, throttle: float, speed_mph: float, image_jpeg: bytes,
                     decimal: str = ".") -> str:
    """The exact text frame the simulator sends: `42["telemetry",{...}]`."""
    data = {
        "steering_angle": format_n4(steering_deg, decimal),
        "throttle": format_n4(throttle, decimal),
        "speed": format_n4(speed_mph, decimal),
        "image": base64.b64encode(image_jpeg).decode("ascii"),
    }
    return "42" + json.dumps(["telemetry", data], separators=(",", ":"))


def describe_packet(packet: str, number: int) -> str:
    """A telemetry packet for an error message: its numbers, the image as its length."""
    if not packet:
        return "no telemetry yet"
    head, found, image = packet.partition('"image":"')
    return f"telemetry #{number} {head}" + (f'"image":<{len(image) - 3:,} base64 chars>}}]' if found else "")


def parse_command(kind: str, data: dict, decimal: str = ".") -> Command:
    """A `steer`/`manual` payload read as the simulator reads it (culture parse, clamp to [-1, 1])."""
    if kind == "manual":
        return Command(0.0, 0.0, "manual")
    raw = (str(data.get("steering_angle", "")), str(data.get("throttle", "")))
    steering = parse_culture_float(raw[0], decimal)
    throttle = parse_culture_float(raw[1], decimal)
    return Command(max(-1.0, min(1.0, steering)), max(-1.0, min(1.0, throttle)), "steer", raw)


StepCallback = Callable[[World, StepInfo, Command], bool | None]


@dataclass
class _Drive:
    """One drive's socket, goal and wire bookkeeping: the state the steps of `SimClient.run` share."""

    ws: websocket.WebSocket
    result: DriveResult
    max_steps: int | None
    target_m: float | None  # distance along the track that ends the drive (from `laps`)
    on_step: StepCallback | None
    ping_interval: float = PING_INTERVAL_S
    next_ping: float = 0.0
    # Only a reply to telemetry is a sign of life: a server whose telemetry handler fails can
    # still answer pings for ever. The clock restarts at each reply and each telemetry sent.
    last_life: float = 0.0
    last_telemetry: float = 0.0
    last_packet: str = ""
    since_reply: int = 0  # other messages (pongs, ...) received since the last reply
    opened: bool = False  # the server's Engine.IO open packet arrived
    in_flight: int = 0  # telemetry sent and not answered yet


class SimClient:
    """Drives `world` from a drive server's replies. One thread, one socket, no background work."""

    def __init__(self, world: World, config: ClientConfig | None = None) -> None:
        self.world = world
        self.config = config or ClientConfig()
        self._command = Command(0.0, 0.0, "steer")
        self._last_step_wall: float | None = None

    def run(self, max_steps: int | None = None, laps: float | None = None,
            on_step: StepCallback | None = None) -> DriveResult:
        """Connect, drive until `max_steps` replies were applied, `laps` were driven, or `on_step`
        returns True; then close the socket. `on_step(world, info, command)` may also reset the world
        (an intervention). Raises SimClientError if the server cannot be reached or stops answering telemetry
        (pongs and other packets are no sign of life: a broken telemetry handler can still answer pings)."""
        started = time.perf_counter()
        drive = self._connect(max_steps, laps, on_step)
        try:
            if self.config.double_open:
                self._send_telemetry(drive)  # the WebSocket "open" event
            while not self._finished(drive):
                now = time.monotonic()
                self._ping_when_due(drive, now)
                self._check_alive(drive, now)
                received = self._receive(drive, now)
                if received is not None:
                    self._dispatch(drive, *received)
        finally:
            drive.ws.close()
            drive.result.wall_s = time.perf_counter() - started
        result = drive.result
        log.info("drive ended (%s): %d steps, %d telemetry, %d chains, %.1f s", result.stop_reason,
                 len(result.steps), result.telemetry_sent, result.max_in_flight, result.wall_s)
        return result

    # -- the steps of a drive, in the order `run` takes them ----------------------------------------

    def _connect(self, max_steps: int | None, laps: float | None, on_step: StepCallback | None) -> _Drive:
        """Open the raw WebSocket (no polling handshake, no CONNECT packet: as Unity does) and start the clocks."""
        cfg = self.config
        try:
            ws = websocket.create_connection(cfg.url, timeout=cfg.connect_timeout_s, enable_multithread=False)
        except (OSError, websocket.WebSocketException) as exc:
            raise SimClientError(f"cannot connect to the drive server at {cfg.url}: {exc}; is drive.py running "
                                 f"on port {cfg.port}?") from exc
        target_m = None if laps is None else laps * self.world.track.length_m
        drive = _Drive(ws, DriveResult(), max_steps, target_m, on_step)
        drive.next_ping = time.monotonic() + drive.ping_interval
        drive.last_life = time.monotonic()
        drive.last_telemetry = time.monotonic()
        return drive

    def _send_telemetry(self, drive: _Drive) -> None:
        """Render, encode and send one telemetry (after `dt` since the last one with wall-clock pacing)."""
        cfg, result = self.config, drive.result
        if cfg.pacing == "wallclock":
            wait = self.world.config.dt - (time.monotonic() - drive.last_telemetry)
            if wait > 0:
                time.sleep(wait)
        st = self.world.car.state
        frame = self.world.render(cfg.camera)
        steering_deg = st.steering * self.world.car.config.max_steer_deg
        packet = telemetry_packet(steering_deg, self._command.throttle, st.speed_mph,
                                  encode_jpeg(frame, cfg.jpeg_quality), cfg.decimal)
        drive.last_telemetry = time.monotonic()  # before sending: a busy machine may pause us right after the send
        drive.ws.send(packet)
        drive.last_life = time.monotonic()
        drive.last_packet = packet
        result.telemetry_sent += 1
        if result.steers_received + result.manual_received == 0:
            result.opening_telemetry += 1
        drive.in_flight += 1
        result.max_in_flight = max(result.max_in_flight, drive.in_flight)

    def _finished(self, drive: _Drive) -> bool:
        """Whether the drive is over: stopped for a reason already, or (once the server opened) at its goal."""
        result = drive.result
        if drive.opened and not result.stop_reason:
            result.stop_reason = self._goal_reached(drive)
        return bool(result.stop_reason)

    def _goal_reached(self, drive: _Drive) -> str:
        """"max_steps" or "laps" when that goal is reached, else ""."""
        if drive.max_steps is not None and len(drive.result.steps) >= drive.max_steps:
            return "max_steps"
        if drive.target_m is not None and self.world.distance_along_m >= drive.target_m:
            return "laps"
        return ""

    def _ping_when_due(self, drive: _Drive, now: float) -> None:
        """Send the Engine.IO ping `2` every ping interval, as the simulator does."""
        if now >= drive.next_ping:
            drive.ws.send("2")
            drive.result.pings_sent += 1
            drive.next_ping = now + drive.ping_interval

    def _check_alive(self, drive: _Drive, now: float) -> None:
        """Raise SimClientError when no telemetry was answered for `reply_timeout_s`, saying what was going on."""
        cfg, result = self.config, drive.result
        if now - drive.last_life > cfg.reply_timeout_s:
            raise SimClientError(
                f"drive server at {cfg.url} answered no telemetry for {cfg.reply_timeout_s:g} s; last sent: "
                f"{describe_packet(drive.last_packet, result.telemetry_sent)}; {drive.in_flight} telemetry "
                f"unanswered, {drive.since_reply} other messages received meanwhile ({result.pongs_received} pongs "
                f"in all), {result.parse_errors} unreadable replies")

    def _receive(self, drive: _Drive, now: float) -> tuple[str, float] | None:
        """The next message and when it arrived; None when the wait ran out before the next ping or the
        stall deadline, or when the server closed the connection (then `stop_reason` says so)."""
        drive.ws.settimeout(max(0.01, min(drive.next_ping, drive.last_life + self.config.reply_timeout_s) - now))
        try:
            message = drive.ws.recv()
        except websocket.WebSocketTimeoutException:
            return None
        except websocket.WebSocketConnectionClosedException:
            drive.result.stop_reason = "server closed the connection"
            return None
        received = time.monotonic()
        drive.since_reply += 1
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        return message, received

    def _dispatch(self, drive: _Drive, message: str, received: float) -> None:
        """Act on one Engine.IO / Socket.IO message as the simulator does."""
        if message.startswith("0"):  # Engine.IO open: the second "open" event
            self._on_open(drive, message)
        elif message == "3":
            drive.result.pongs_received += 1
        elif message == "2":  # a server-side ping (Engine.IO 4 servers): answer it
            drive.ws.send("3")
        elif message.startswith("42"):
            self._on_reply(drive, message, received)
        elif message.startswith("41") or message.startswith("1"):
            drive.result.stop_reason = "server disconnected"
        # "40" (Socket.IO CONNECT from python-socketio 4) and anything else: tolerated, ignored.

    def _on_open(self, drive: _Drive, message: str) -> None:
        """The Engine.IO open packet: take its ping interval and send telemetry (the second "open" event)."""
        drive.ping_interval = json.loads(message[1:] or "{}").get("pingInterval", PING_INTERVAL_S * 1000) / 1000.0
        drive.next_ping = time.monotonic() + drive.ping_interval
        drive.opened = True
        self._send_telemetry(drive)

    def _on_reply(self, drive: _Drive, message: str, received: float) -> None:
        """A Socket.IO event: a reply ends its chain's wait; an applied one sends the next telemetry (lock step)."""
        result = drive.result
        outcome = self._apply_event(drive, message, received - drive.last_telemetry)
        if outcome != "ignored":
            drive.in_flight = max(0, drive.in_flight - 1)  # this chain's telemetry was answered
            drive.last_life, drive.since_reply = time.monotonic(), 0
        if outcome == "applied":
            result.stop_reason = result.stop_reason or self._goal_reached(drive)
            if not result.stop_reason:
                self._send_telemetry(drive)

    def _apply_event(self, drive: _Drive, message: str, waited_s: float) -> str:
        """Handle one event: "applied" (a reply moved the car; a telemetry is due), "unreadable"
        (a reply the culture cannot parse: the simulator sends nothing, this chain ends) or "ignored"."""
        result = drive.result
        try:
            name, *payload = json.loads(message[2:])
        except (json.JSONDecodeError, ValueError) as exc:
            raise SimClientError(f"unreadable Socket.IO event from the drive server: {message[:80]!r} ({exc})") from exc
        if name not in ("steer", "manual"):
            log.debug("ignoring event %r", name)
            return "ignored"
        data = payload[0] if payload and isinstance(payload[0], dict) else {}
        if name == "manual":
            result.manual_received += 1
            command = Command(self._command.steering, self._command.throttle, "manual")
        else:
            result.steers_received += 1
            try:
                command = parse_command(name, data, self.config.decimal)
            except ValueError as exc:
                # The simulator throws a FormatException here and sends nothing: this chain ends.
                result.parse_errors += 1
                log.error(
                    "simulator cannot read steer %r in its culture (decimal %r): %s", data, self.config.decimal, exc
                )
                return "unreadable"
        previous, self._command = self._command, command
        info = self._advance(command, previous, waited_s)
        result.round_trip_s.append(waited_s)
        result.steps.append(info)
        result.commands.append(command)
        if drive.on_step is not None and drive.on_step(self.world, info, command):
            result.stop_reason = "on_step"
        return "applied"

    def _advance(self, command: Command, previous: Command, waited_s: float) -> StepInfo:
        """Apply `command` for one step; with wall-clock pacing for the real time since the last step;
        with realtime pacing drive `previous` for the frames the server took, in steps of at most dt."""
        world = self.world
        if self.config.pacing == "fixed":
            return world.step(command.steering, command.throttle)
        if self.config.pacing == "realtime":
            left = realtime_advance_s(waited_s, self.config.frame_s)
            while left > 1e-12:
                dt = min(world.config.dt, left)
                info = world.step(previous.steering, previous.throttle, dt)
                left -= dt
            return info
        now = time.monotonic()
        last = self._last_step_wall
        steps = 1 if last is None else max(1, int((now - last) / world.config.dt))
        self._last_step_wall = now if last is None else last + steps * world.config.dt
        for _ in range(steps):
            info = world.step(command.steering, command.throttle)
        return info
