"""What the simulator feels: the round trip through `python drive.py` in its own process.

A client that speaks to the server exactly like the Unity simulator (`UnityClient`: a raw
WebSocket to `SOCKET_PATH`, no `40` CONNECT, every frame masked, compact-JSON
`42["telemetry",{...}]` with N4 strings, two opening telemetries, lock step, a ping `2` every
25 s; its TCP socket keeps Nagle's algorithm on like the .NET socket Unity's WebSocket library
opens) sends real recorded frames to `python drive.py CHECKPOINT --port 0 [flags]`, started as a
subprocess as a user would run it. Round trip = from handing the telemetry text to the socket until
the `steer` reply is read and parsed: everything the car waits for.

Every variant (drive.py with other flags, and the classic Udacity server of `bench.naive_drive`
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
from typing import Any

import numpy as np
import websocket

from bench import inputs
from bench.timing import Stats
from steering.sim.client import telemetry_packet
from steering.udacity import PING_INTERVAL_S, socket_url

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
NAIVE = "classic P3 path (bench/naive_drive.py)"
DEFAULT = "drive.py defaults"
EAGER = "eager fp32 (--backend torch)"
LEGACY = "drive.py defaults, eventlet's own socket (no NODELAY, byte-loop unmasking)"


def _variants() -> dict[str, tuple[str, ...]]:
    return {DEFAULT: (), "ONNX Runtime fp32 (--backend onnx)": ("--backend", "onnx"),
            "OpenVINO fp32 (--backend openvino --precision fp32)": ("--backend", "openvino", "--precision", "fp32"),
            "bf16 (--precision bf16)": ("--precision", "bf16"),
            "int8 (--precision int8 --calibration LOG)": ("--precision", "int8", "--calibration",
                                                          os.path.relpath(inputs.REAL_LOG, REPO)),
            EAGER: ("--backend", "torch")}


@dataclass
class WireConfig:
    models: tuple[str, ...] = ("resnet50", "pilotnet")
    frames: int = 200  # timed round trips per variant, each on a distinct real frame
    warmup: int = 20  # lock-step exchanges before timing (the opening chains collapse here)
    block: int = 10  # frames per variant per round
    variants: dict[str, tuple[str, ...]] = field(default_factory=_variants)  # label -> drive.py flags
    naive: bool = True
    legacy: bool = True  # also drive.py without steering.drive.udacity.wire (bench/legacy_drive.py)
    unmask_repeats: int = 30
    start_timeout_s: float = 300.0


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


_STAGE = re.compile(r"([a-z_]+) ([\d.]+)/([\d.]+)")


def parse_summary(text: str) -> dict[str, dict[str, float]]:
    """drive.py's exit summary (`... p50/p99 ms: decode 0.30/0.50  infer 1.20/2.00 | ...`) -> {stage: {p50, p99}}"""
    stages: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        if not line.startswith("stopped"):  # "stopped." or "stopped by SIGINT."
            continue
        for part in line.split("|"):
            if "p50/p99 ms:" in part:
                for name, p50, p99 in _STAGE.findall(part.split("p50/p99 ms:", 1)[1]):
                    stages[name] = {"p50": float(p50), "p99": float(p99)}
    return stages


# ---------------------------------------------------------------- one model, every variant at once

def run_model(name: str, config: WireConfig) -> dict[str, Any]:
    checkpoint = inputs.checkpoint(name)
    texts = telemetry_texts(config.frames)
    servers = [ServerProcess(drive_command(checkpoint, flags), label,
                             " ".join(["python drive.py", checkpoint.name, "--port 0", *flags]))
               for label, flags in config.variants.items()]
    if config.legacy:
        servers.append(ServerProcess([sys.executable, "-m", "bench.legacy_drive", *drive_command(checkpoint, ())[2:]],
                                     LEGACY, f"python -m bench.legacy_drive {checkpoint.name} --port 0"))
    if config.naive:
        servers.append(ServerProcess([sys.executable, "-m", "bench.naive_drive", str(checkpoint), "--port", "0"], NAIVE,
                                     f"python -m bench.naive_drive {checkpoint.name} --port 0"))
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
    out: dict[str, Any] = {"checkpoint": checkpoint.name, "start_s": start_s, "variants": {}}
    reference = np.array(steering.get(EAGER, []))
    for server in servers:
        label = server.label
        entry = {"command": server.display, "round_trip": Stats.of(times[label]).to_dict(),
                 "unexpected_replies": extra[label], "server": parse_summary(exits[label]), **server.startup(),
                 "steering_head": steering[label][:4]}
        if reference.size:
            diff = np.abs(np.array(steering[label]) - reference)
            entry["max_abs_diff_vs_fp32"] = float(np.max(diff)) if np.isfinite(diff).all() else float("inf")
        out["variants"][label] = entry
    return out


def unmask_costs(repeats: int) -> dict[str, Any]:
    """Unmasking one real telemetry frame: eventlet's byte loop vs `wire.apply_mask`, interleaved."""
    from bench.timing import interleave
    from steering.drive.udacity import wire as transport

    payload = telemetry_texts(1)[0].encode()
    mask = (0x12, 0x34, 0x56, 0x78)
    original = transport.original_apply_mask()
    stats = interleave({"eventlet RFC6455WebSocket._apply_mask": lambda: original(payload, mask),
                        "steering.drive.udacity.wire.apply_mask": lambda: transport.apply_mask(payload, mask)},
                       repeats=repeats, block=5, warmup=1)
    return {"bytes": len(payload), "variants": {n: s.to_dict() for n, s in stats.items()}}


def run(config: WireConfig | None = None) -> dict[str, Any]:
    config = config or WireConfig()
    results: dict[str, Any] = {"frames": config.frames, "block": config.block, "frames_source": inputs.frames_source(),
                               "unmask": unmask_costs(config.unmask_repeats), "models": {}}
    for name in config.models:
        log.info("wire: %s, %d variants at once", name, len(config.variants) + config.naive + config.legacy)
        results["models"][name] = run_model(name, config)
    return results


if __name__ == "__main__":
    import pprint

    from steering.cli import setup_logging

    setup_logging()
    pprint.pprint(run(WireConfig(models=("pilotnet",), frames=50)))
