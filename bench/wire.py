"""What the simulator feels: the round trip through `python drive.py` in its own process.

A client that speaks to the server exactly like the Unity simulator (`UnityClient`: a raw
WebSocket to `SOCKET_PATH`, no `40` CONNECT, every frame masked, compact-JSON
`42["telemetry",{...}]` with N4 strings, two opening telemetries, lock step, a ping `2` every
25 s; its TCP socket keeps Nagle's algorithm on like the .NET socket Unity's WebSocket library
opens) sends real recorded frames to `python drive.py CHECKPOINT --port 0 [flags]`, started as a
subprocess as a user would run it. Round trip = from handing the telemetry text to the socket until
the `steer` reply is read and parsed: everything the car waits for.

Every variant (drive.py with other flags, and the classic Udacity server of `bench.baselines.naive_drive`
in its own process) runs at the same time; the client goes round them in blocks of 10 frames, so a
burst of load from elsewhere hits every variant alike (bench/timing.py). Each variant gets the
same frames in the same order, so their steering can be compared frame by frame with eager fp32's.
Beside the round trip: each server's own stages, parsed from the summary drive.py prints at Ctrl-C.
"""
from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import websocket

from bench import inputs
from bench.benchmark import Benchmark
from bench.drive_summary import StageTimes, parse_events, parse_summary
from bench.markdown import num, table, verdict
from bench.timing import Stats, interleave
from steering.sim.client import telemetry_packet
from steering.udacity import PING_INTERVAL_S, socket_url

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
NAIVE = "classic P3 path (bench/baselines/naive_drive.py)"
DEFAULT = "drive.py defaults"
EAGER = "eager fp32 (--backend torch)"
LEGACY = "drive.py defaults, eventlet's own socket (no NODELAY, byte-loop unmasking)"
# Round trip through drive.py as the simulator sees it, drive.py's defaults: (p50 ms, p99 ms, x classic path)
GOAL_WIRE = {"resnet50": (4.0, 6.0, 6.0), "pilotnet": (1.5, 3.0, None)}
GOAL_WIRE_DIFF = 0.01  # steering vs eager fp32, frame by frame


def _variants() -> dict[str, tuple[str, ...]]:
    return {DEFAULT: (), "ONNX Runtime fp32 (--backend onnx)": ("--backend", "onnx"),
            "OpenVINO fp32 (--backend openvino --precision fp32)": ("--backend", "openvino", "--precision", "fp32"),
            "bf16 (--precision bf16)": ("--precision", "bf16"),
            "int8 (--precision int8 --calibration LOG)": ("--precision", "int8", "--calibration",
                                                          os.path.relpath(inputs.REAL_LOG, REPO)),
            "NNCF int8 (--backend openvino-nncf --calibration LOG)": (
                "--backend", "openvino-nncf", "--calibration", os.path.relpath(inputs.REAL_LOG, REPO)),
            EAGER: ("--backend", "torch")}


@dataclass
class WireConfig:
    models: tuple[str, ...] = ("resnet50", "pilotnet")
    frames: int = 200  # timed round trips per variant, each on a distinct real frame
    warmup: int = 20  # lock-step exchanges before timing (the opening chains collapse here)
    block: int = 10  # frames per variant per round
    variants: dict[str, tuple[str, ...]] = field(default_factory=_variants)  # label -> drive.py flags
    naive: bool = True
    legacy: bool = True  # also drive.py without steering.drive.udacity.wire (bench/baselines/legacy_drive.py)
    unmask_repeats: int = 30
    start_timeout_s: float = 300.0


@dataclass
class WireVariant:
    command: str
    round_trip: Stats
    unexpected_replies: int
    server: dict[str, StageTimes]  # drive.py's exit summary; empty for the classic server
    steering_head: list[float]
    model: str = ""  # drive.py's `model:` and `runtime:` start-up lines ("" for the classic server)
    runtime: str = ""
    max_abs_diff_vs_fp32: float | None = None  # None when eager fp32 was not among the variants
    events: dict[str, int] = field(default_factory=dict)  # the exit summary's event counters


@dataclass
class WireModel:
    checkpoint: str
    start_s: float
    variants: dict[str, WireVariant]


@dataclass
class UnmaskCost:
    bytes: int
    variants: dict[str, Stats]


@dataclass
class WireResult:
    frames: int
    block: int
    frames_source: str
    models: dict[str, WireModel]
    unmask: UnmaskCost | None = None


class UnityClient:
    """One connection, byte for byte like the simulator's Autonomous mode (see module docstring)."""

    def __init__(self, port: int, timeout: float = 30.0) -> None:
        # websocket-client turns TCP_NODELAY on by default; Unity's socket does not.
        self.ws = websocket.create_connection(socket_url("127.0.0.1", port), timeout=timeout,
                                              sockopt=((socket.IPPROTO_TCP, socket.TCP_NODELAY, 0),))
        self.replies = 0
        self.next_ping = time.monotonic() + PING_INTERVAL_S

    def recv_command(self) -> tuple[str, dict]:
        """The next `steer`/`manual` event; pongs, the open packet and `40` pass by."""
        while True:
            message = self.ws.recv()
            if message.startswith("42"):
                name, *data = json.loads(message[2:])
                if name in ("steer", "manual"):
                    self.replies += 1
                    return name, (data[0] if data else {})

    def open(self, first: str, warmup: int, texts: list[str]) -> None:
        """The simulator's opening (a telemetry on WebSocket open and one on the Engine.IO open packet,
        plus the chain the server's connect `steer` starts), then lock step until one chain is left."""
        self.ws.send(first)
        while not self.ws.recv().startswith("0"):  # the Engine.IO open packet
            pass
        self.ws.send(first)
        for i in range(warmup):
            self.recv_command()
            self.ws.send(texts[i % len(texts)])
        self.ws.settimeout(0.5)  # what the superseded opening chains still owe
        try:
            while True:
                self.recv_command()
        except websocket.WebSocketTimeoutException:
            pass
        self.ws.settimeout(30.0)

    def exchange(self, text: str) -> tuple[float, float]:
        """One lock-step round trip: (seconds, steering as sent)."""
        if time.monotonic() >= self.next_ping:  # between frames, as the simulator's timer fires
            self.ws.send("2")
            self.next_ping = time.monotonic() + PING_INTERVAL_S
        start = time.perf_counter()
        self.ws.send(text)
        name, data = self.recv_command()
        seconds = time.perf_counter() - start
        return seconds, float(data.get("steering_angle", "nan")) if name == "steer" else float("nan")

    def close(self) -> None:
        self.ws.close()


def telemetry_texts(count: int) -> list[str]:
    """`count` distinct real frames as the simulator's telemetry text (built before any timing)."""
    return [telemetry_packet(-1.25, 0.3, 8.0 + i % 5, jpeg) for i, jpeg in enumerate(inputs.jpeg_frames(count))]


# ---------------------------------------------------------------- servers as subprocesses

_LISTEN = re.compile(r"^listening on ws://[^:]+:(\d+)/")


class ServerProcess:
    """A server command run until Ctrl-C (SIGINT); its output is kept, its port read from `listening on`."""

    def __init__(self, command: list[str], label: str, display: str) -> None:
        self.label, self.command, self.display = label, command, display
        self.proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=dict(os.environ, PYTHONUNBUFFERED="1"))
        self.lines: list[str] = []
        self.port = 0

    def wait_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.port:
            line = self.proc.stdout.readline()
            if not line or time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError(f"{' '.join(self.command)} did not listen:\n" + "".join(self.lines[-20:]))
            self.lines.append(line)
            if match := _LISTEN.search(line):
                self.port = int(match.group(1))

    def stop(self) -> str:
        """Ctrl-C, then everything it printed after listening (the exit summary)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            rest, _ = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rest, _ = self.proc.communicate()
        self.lines.append(rest or "")
        return rest or ""

    def startup(self) -> dict[str, str]:
        found = {}
        for line in self.lines:
            for key in ("model", "runtime"):
                if line.startswith(f"{key}: "):
                    found[key] = line[len(key) + 2:].strip()
        return found


def drive_command(checkpoint: Path, flags: tuple[str, ...]) -> list[str]:
    return [sys.executable, str(REPO / "drive.py"), str(checkpoint), "--port", "0", "--stats-every", "0", *flags]


# ---------------------------------------------------------------- one model, every variant at once

def run_model(name: str, config: WireConfig) -> WireModel:
    checkpoint = inputs.checkpoint(name)
    texts = telemetry_texts(config.frames)
    servers = [ServerProcess(drive_command(checkpoint, flags), label,
                             " ".join(["python drive.py", checkpoint.name, "--port 0", *flags]))
               for label, flags in config.variants.items()]
    if config.legacy:
        servers.append(ServerProcess(
            [sys.executable, "-m", "bench.baselines.legacy_drive", *drive_command(checkpoint, ())[2:]], LEGACY,
            f"python -m bench.baselines.legacy_drive {checkpoint.name} --port 0"))
    if config.naive:
        servers.append(ServerProcess(
            [sys.executable, "-m", "bench.baselines.naive_drive", str(checkpoint), "--port", "0"], NAIVE,
            f"python -m bench.baselines.naive_drive {checkpoint.name} --port 0"))
    started = time.perf_counter()
    clients: dict[str, UnityClient] = {}
    try:
        for server in servers:
            server.wait_listening(config.start_timeout_s)
        start_s = time.perf_counter() - started
        for server in servers:
            clients[server.label] = UnityClient(server.port)
            clients[server.label].open(texts[0], config.warmup, texts)
        times: dict[str, list[float]] = {s.label: [] for s in servers}
        steering: dict[str, list[float]] = {s.label: [] for s in servers}
        before = {label: c.replies for label, c in clients.items()}
        for first in range(0, len(texts), config.block):
            for label, client in clients.items():
                for text in texts[first:first + config.block]:
                    seconds, value = client.exchange(text)
                    times[label].append(seconds)
                    steering[label].append(value)
        extra = {label: c.replies - before[label] - len(texts) for label, c in clients.items()}
    finally:
        for client in clients.values():
            client.close()
        exits = {server.label: server.stop() for server in servers}
    out = WireModel(checkpoint=checkpoint.name, start_s=start_s, variants={})
    reference = np.array(steering.get(EAGER, []))
    for server in servers:
        label = server.label
        entry = WireVariant(command=server.display, round_trip=Stats.of(times[label]),
                            unexpected_replies=extra[label], server=parse_summary(exits[label]), **server.startup(),
                            steering_head=steering[label][:4], events=parse_events(exits[label]))
        if reference.size:
            diff = np.abs(np.array(steering[label]) - reference)
            entry.max_abs_diff_vs_fp32 = float(np.max(diff)) if np.isfinite(diff).all() else float("inf")
        out.variants[label] = entry
    return out


def unmask_costs(repeats: int) -> UnmaskCost:
    """Unmasking one real telemetry frame: eventlet's byte loop vs `wire.apply_mask`, interleaved."""
    # The serving side (eventlet's patches) is loaded only by this measurement: `python -m bench` lists without it.
    from steering.drive.udacity import wire as transport

    payload = telemetry_texts(1)[0].encode()
    mask = (0x12, 0x34, 0x56, 0x78)
    original = transport.original_apply_mask()
    stats = interleave({"eventlet RFC6455WebSocket._apply_mask": lambda: original(payload, mask),
                        "steering.drive.udacity.wire.apply_mask": lambda: transport.apply_mask(payload, mask)},
                       repeats=repeats, block=5, warmup=1)
    return UnmaskCost(bytes=len(payload), variants=stats)


def run(config: WireConfig | None = None) -> WireResult:
    config = config or WireConfig()
    result = WireResult(frames=config.frames, block=config.block, frames_source=inputs.frames_source(),
                        unmask=unmask_costs(config.unmask_repeats), models={})
    for name in config.models:
        log.info("wire: %s, %d variants at once", name, len(config.variants) + config.naive + config.legacy)
        result.models[name] = run_model(name, config)
    return result


def quick_config() -> WireConfig:
    return WireConfig(models=("pilotnet",), frames=6, warmup=4, block=3, unmask_repeats=2,
                      variants={DEFAULT: (), EAGER: ("--backend", "torch")})


# ---------------------------------------------------------------- docs/benchmarks.md, first section

def section(w: WireResult) -> str:
    out = ["## Round trip as the simulator sees it (drive.py in its own process)", "",
           f"`bench/wire.py`: a client that speaks like the Unity simulator (raw WebSocket, every frame masked, "
           f"Nagle on, two opening telemetries, then lock step) sends {w.frames} distinct frames from the "
           f"{w.frames_source} to `python drive.py CHECKPOINT --port 0 [flags]` started as a subprocess; every "
           f"variant runs at the same time and the client goes round them in blocks of {w.block} frames. "
           "**Round trip** = telemetry handed to the socket -> `steer` read and parsed. The server columns are "
           "drive.py's own exit summary (medians): `in-server` = first bytes of a frame -> reply written; `receive` = "
           "unmasking + Engine.IO/Socket.IO decode; `decode`/`preprocess`/`infer` = the pipeline (infer includes "
           "`handoff`, passing the frame to the model thread and back); `reply` = command ready -> written; "
           "`gap` = reply written -> next frame's first bytes (the client's own time plus the wire both ways). "
           "`vs classic` = classic median / variant median; `max |Δ|` = largest steering difference from eager fp32 "
           "over all frames, as sent on the wire.", ""]
    if w.unmask is not None:
        out += [f"Unmasking one real telemetry frame ({w.unmask.bytes:,} bytes; the simulator masks every frame it "
                "sends), interleaved:", ""]
        out += table(["", "p50 ms", "p99 ms"], [[n, num(v.median_ms, 3), num(v.p99_ms, 3)]
                                                for n, v in w.unmask.variants.items()])
    goals: list[str] = []
    for model, data in w.models.items():
        variants = data.variants
        classic = variants[NAIVE].round_trip.median_ms if NAIVE in variants else None
        rows = []
        for name, v in sorted(variants.items(), key=lambda kv: kv[1].round_trip.median_ms):
            rt, srv = v.round_trip, v.server
            stage = lambda k, srv=srv: num(srv[k].p50, 2) if k in srv else "–"  # noqa: E731
            runtime = v.runtime.split(":")[0].split(" as asked")[0] or "–"
            rows.append([name, runtime, num(rt.median_ms, 2), num(rt.p99_ms, 2),
                         f"{classic / rt.median_ms:.2f}x" if classic else "–", stage("server"), stage("receive"),
                         stage("decode"), stage("preprocess"), stage("infer"), stage("handoff"), stage("reply"),
                         stage("client"),
                         f"{v.max_abs_diff_vs_fp32:.1e}" if v.max_abs_diff_vs_fp32 is not None else "–"])
        out += [f"### {model}", ""]
        out += table(["variant", "runtime", "round trip p50 ms", "p99 ms", "vs classic", "in-server", "receive",
                      "decode", "preprocess", "infer", "handoff", "reply", "gap", "max |Δ|"], rows)
        default = variants.get(DEFAULT)
        if default:
            out += [f"drive.py's choice: `runtime: {default.runtime or '?'}`", ""]
            out += _bounds(model, default)
            goals += _goals(model, default, classic)
    return "\n".join(out + ["### Goals (drive.py's defaults, round trip as the simulator sees it)", ""] + goals + [""])


def _parts(v: WireVariant) -> dict[str, float]:
    """The default's median round trip split into inference alone, decode + preprocessing and the rest."""
    srv, rt = v.server, v.round_trip.median_ms
    if not {"decode", "preprocess", "infer"} <= set(srv):
        return {}
    model_ms = srv["infer"].p50 - (srv["handoff"].p50 if "handoff" in srv else 0.0)
    decode = srv["decode"].p50 + srv["preprocess"].p50
    return {"inference alone": model_ms, "JPEG decode + preprocessing": decode,
            "transport (socket, unmasking, JSON, hand-offs, reply; the rest of the round trip)": rt - model_ms - decode}


def _bounds(model: str, v: WireVariant) -> list[str]:
    """Where the default's round trip goes, from the medians of its stages."""
    parts, rt = _parts(v), v.round_trip.median_ms
    if not parts:
        return []
    bound = max(parts, key=parts.get)
    verdict_text = (f"bounded by {bound}" if parts[bound] >= 0.5 * rt
                    else f"no stage dominates (the largest is {bound.split(' (')[0]})")
    return [f"- {model}: of the {num(rt, 2)} ms round trip (median), " + ", ".join(
        f"{name} {num(ms, 2)} ms ({100 * ms / rt:.0f}%)" for name, ms in parts.items()) + f": {verdict_text}.", ""]


def _goals(model: str, v: WireVariant, classic: float | None) -> list[str]:
    if model not in GOAL_WIRE:
        return []
    p50_goal, p99_goal, ratio_goal = GOAL_WIRE[model]
    rt = v.round_trip
    lines = [f"- {model} p{q} <= {goal:g} ms: " + verdict(value <= goal, f"{num(value, 2)} ms" + _over(value, goal))
             for q, value, goal in ((50, rt.median_ms, p50_goal), (99, rt.p99_ms, p99_goal))]
    inference = _parts(v).get("inference alone")
    if inference is not None and inference >= p50_goal:
        lines.append(f"  - inference alone takes {num(inference, 2)} ms, more than the whole p50 goal: no transport "
                     f"change can meet it on this CPU; it needs a faster model path (the goals were set on a CPU with "
                     f"AMX bf16/int8 units; the Machine table lists this one's)")
    if ratio_goal and classic:
        ratio = classic / rt.median_ms
        short = "" if ratio >= ratio_goal else f", {ratio_goal / ratio:.2f}x short"
        lines.append(f"- {model} >= {ratio_goal:g}x the classic path in the same run: "
                     + verdict(ratio >= ratio_goal, f"{ratio:.2f}x{short}"))
    if v.max_abs_diff_vs_fp32 is not None:
        diff = v.max_abs_diff_vs_fp32
        lines.append(f"- {model} steering within {GOAL_WIRE_DIFF:g} of eager fp32 on every frame: "
                     + verdict(diff <= GOAL_WIRE_DIFF, f"max |Δ| {diff:.1e}"))
    return lines


def _over(value: float, goal: float) -> str:
    return "" if value <= goal else f", {num(value - goal, 2)} ms over"


BENCHMARK = Benchmark(
    name="wire", help="round trip through `python drive.py` in its own process, as the simulator sees it",
    config=WireConfig, quick=quick_config, run=run, result=WireResult, section=section, page=True)
