"""What the simulator feels: the round trip through `python drive.py` in its own process.

A client that speaks to the server exactly like the Unity simulator (`UnityClient`: a raw
WebSocket to `SOCKET_PATH`, no `40` CONNECT, every frame masked, compact-JSON
`42["telemetry",{...}]` with N4 strings, two opening telemetries, then lock step; its TCP socket
keeps Nagle's algorithm on like the .NET socket Unity's WebSocket library opens) sends real
recorded frames to `drive.py CHECKPOINT --port 0` started as a subprocess, as a user would run it.
Round trip = from handing the telemetry text to the socket until the `steer` reply is read and
parsed: everything the car waits for. Beside it: the server's own stages from its exit summary,
and the classic Udacity per-frame path (`bench.naive_drive`) serving the same frames over the
same kind of socket, in the same run.
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
from steering.udacity import socket_url

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
NAIVE = "classic P3 path (bench/naive_drive.py)"
DEFAULT = "drive.py defaults"


@dataclass
class WireConfig:
    models: tuple[str, ...] = ("resnet50", "pilotnet")
    frames: int = 200  # timed round trips, each on a distinct real frame
    warmup: int = 20  # lock-step exchanges before timing (the opening chains collapse here)
    # label -> extra drive.py flags; DEFAULT is what a user gets with no flags
    variants: dict[str, tuple[str, ...]] = field(default_factory=lambda: {
        DEFAULT: (), "eager fp32 (--backend torch)": ("--backend", "torch")})
    naive: bool = True
    start_timeout_s: float = 180.0


class UnityClient:
    """One connection, byte for byte like the simulator's Autonomous mode (see module docstring)."""

    def __init__(self, port: int, timeout: float = 30.0) -> None:
        # websocket-client turns TCP_NODELAY on by default; Unity's socket does not.
        self.ws = websocket.create_connection(socket_url("127.0.0.1", port), timeout=timeout,
                                              sockopt=((socket.IPPROTO_TCP, socket.TCP_NODELAY, 0),))
        self.replies = 0

    def recv_command(self) -> tuple[str, dict]:
        """The next `steer`/`manual` event; pongs, the open packet and `40` pass by."""
        while True:
            message = self.ws.recv()
            if message.startswith("42"):
                name, *data = json.loads(message[2:])
                if name in ("steer", "manual"):
                    self.replies += 1
                    return name, (data[0] if data else {})

    def open(self, first: str) -> None:
        """The simulator's opening: a telemetry on WebSocket open and one on the Engine.IO open packet."""
        self.ws.send(first)
        while not self.ws.recv().startswith("0"):  # the Engine.IO open packet
            pass
        self.ws.send(first)

    def close(self) -> None:
        self.ws.close()


def telemetry_texts(count: int) -> list[str]:
    """`count` distinct real frames as the simulator's telemetry text (built before any timing)."""
    return [telemetry_packet(-1.25, 0.3, 8.0 + i % 5, jpeg) for i, jpeg in enumerate(inputs.jpeg_frames(count))]


def round_trips(port: int, texts: list[str], warmup: int) -> dict[str, Any]:
    """Open like the simulator, settle into lock step, then time one round trip per text."""
    client = UnityClient(port)
    try:
        client.open(texts[0])
        # Three chains start (two opening telemetries + the server's connect steer); the server's
        # newest-frame policy collapses them. Each reply here gets the next telemetry, as in Unity.
        for i in range(warmup):
            client.recv_command()
            client.ws.send(texts[i % len(texts)])
        # Drain what the opening chains still owe, so exactly one telemetry is in flight.
        client.ws.settimeout(0.5)
        try:
            while True:
                client.recv_command()
        except websocket.WebSocketTimeoutException:
            pass
        client.ws.settimeout(30.0)
        seconds, steering, before = [], [], client.replies
        for text in texts:
            start = time.perf_counter()
            client.ws.send(text)
            name, data = client.recv_command()
            seconds.append(time.perf_counter() - start)
            steering.append(float(data.get("steering_angle", "nan")) if name == "steer" else float("nan"))
        extra = client.replies - before - len(texts)
    finally:
        client.close()
    return {"round_trip": Stats.of(seconds).to_dict(), "steering": steering, "unexpected_replies": extra}


# ---------------------------------------------------------------- drive.py as a subprocess

_LISTEN = re.compile(r"listening on ws://[^:]+:(\d+)/")


class DriveProcess:
    """`python drive.py CHECKPOINT --port 0 ...` until stopped with Ctrl-C (SIGINT), output kept."""

    def __init__(self, checkpoint: Path, flags: tuple[str, ...] = (), timeout: float = 180.0) -> None:
        cmd = [sys.executable, str(REPO / "drive.py"), str(checkpoint), "--port", "0", "--stats-every", "0", *flags]
        self.command = " ".join(["python drive.py", checkpoint.name, "--port 0", *flags])
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=dict(os.environ, PYTHONUNBUFFERED="1"))
        self.lines: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"{self.command} exited before listening:\n" + "".join(self.lines[-20:]))
            self.lines.append(line)
            if match := _LISTEN.search(line):
                self.port = int(match.group(1))
                return
            if time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError(f"{self.command} did not listen within {timeout:.0f} s")

    def stop(self) -> str:
        """Ctrl-C, then everything it printed after listening (the exit summary)."""
        self.proc.send_signal(signal.SIGINT)
        rest, _ = self.proc.communicate(timeout=60)
        self.lines.append(rest)
        return rest

    def startup_lines(self) -> list[str]:
        return [line.rstrip() for line in self.lines if line.startswith(("model:", "runtime:"))]


def serve_and_measure(checkpoint: Path, flags: tuple[str, ...], texts: list[str], config: WireConfig) -> dict[str, Any]:
    started = time.perf_counter()
    drive = DriveProcess(checkpoint, flags, config.start_timeout_s)
    start_s = time.perf_counter() - started
    try:
        result = round_trips(drive.port, texts, config.warmup)
    finally:
        exit_text = drive.stop()
    result.update(command=drive.command, start_s=start_s, startup=drive.startup_lines(),
                  server=parse_summary(exit_text), exit_summary=exit_text.strip().splitlines()[-3:])
    return result


_STAGE = re.compile(r"([a-z_]+) ([\d.]+)/([\d.]+)")


def parse_summary(text: str) -> dict[str, dict[str, float]]:
    """drive.py's exit summary `... ms: decode 0.3/0.5  infer 1.2/2.0 ...` -> {stage: {p50, p99}}."""
    stages: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        if "p50/p99 ms:" not in line:
            continue
        for part in line.split("|"):
            if "p50/p99 ms:" in part:
                for name, p50, p99 in _STAGE.findall(part.split("p50/p99 ms:", 1)[1]):
                    stages[name] = {"p50": float(p50), "p99": float(p99)}
    return stages


# ---------------------------------------------------------------- the classic path on the same wire

def serve_naive(checkpoint: Path, texts: list[str], config: WireConfig) -> dict[str, Any]:
    """The classic drive.py server (python-socketio + eventlet, the model in the handler) in a subprocess."""
    cmd = [sys.executable, "-m", "bench.naive_drive", str(checkpoint), "--port", "0"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    lines = []
    try:
        while True:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError("bench.naive_drive exited before listening:\n" + "".join(lines[-20:]))
            lines.append(line)
            if match := _LISTEN.search(line):
                port = int(match.group(1))
                break
        result = round_trips(port, texts, config.warmup)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    result["command"] = "python -m bench.naive_drive " + checkpoint.name
    return result


def run_model(name: str, config: WireConfig) -> dict[str, Any]:
    checkpoint = inputs.checkpoint(name)
    texts = telemetry_texts(config.frames)
    out: dict[str, Any] = {"variants": {}}
    for label, flags in config.variants.items():
        log.info("wire: %s %s", name, label)
        out["variants"][label] = serve_and_measure(checkpoint, flags, texts, config)
    if config.naive:
        log.info("wire: %s classic path", name)
        out["variants"][NAIVE] = serve_naive(checkpoint, texts, config)
    reference = out["variants"].get("eager fp32 (--backend torch)")
    for entry in out["variants"].values():
        if reference is not None:
            diff = np.abs(np.array(entry["steering"]) - np.array(reference["steering"]))
            entry["max_abs_diff_vs_fp32"] = float(np.nanmax(diff)) if np.isfinite(diff).any() else float("nan")
    for entry in out["variants"].values():
        entry["steering"] = entry["steering"][:8]  # keep results.json small
    return out


def run(config: WireConfig | None = None) -> dict[str, Any]:
    config = config or WireConfig()
    return {"frames": config.frames, "frames_source": inputs.frames_source(),
            "models": {name: run_model(name, config) for name in config.models}}


if __name__ == "__main__":
    import pprint

    from steering.cli import setup_logging

    setup_logging()
    pprint.pprint(run(WireConfig(models=("pilotnet",), frames=100)))
