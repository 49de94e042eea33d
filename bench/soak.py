"""Soak: many frames through drive.py's real wire, with reconnects; its memory, threads and fds sampled.

    python -m bench.soak --frames 100000 --reconnect-every 5000 --max-seconds 600

drive.py runs as `python drive.py` would (a subprocess, default runtime, PilotNet with random
weights); a client like the Unity simulator (raw WebSocket, no Socket.IO library, lock-step
`42["telemetry",...]`, a ping every 25 frames) drives it with real frames and reconnects every
`reconnect_every` frames. Every `sample_every` frames the server process's RSS, OS threads and open
descriptors are read (psutil if installed, else /proc), always with one connection open. Growth
is measured from the first sample after `warmup_frames` (first-use allocations: runtime arenas,
caches) to the last. `max_seconds` bounds the run: it stops early and reports the frames it did.
At the end drive.py is stopped with SIGTERM and must exit 0.

Also here: the cost of decoding a frame with the corruption check the drive path uses
(`decode_jpeg(strict=True)`, libjpeg-turbo via simplejpeg) against OpenCV's imdecode, which
cannot report corruption.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import websocket

from bench import inputs
from bench.benchmark import Benchmark
from bench.markdown import num, table, verdict
from bench.timing import Stats, interleave
from steering.preprocess import decode_jpeg

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[1]
GOAL_SOAK_RSS_MB = 10.0


@dataclass
class SoakConfig:
    frames: int = 100_000
    reconnect_every: int = 5_000
    warmup_frames: int = 3_000
    sample_every: int = 1_000
    max_seconds: float = 300.0  # the run stops here even if `frames` are not done
    model: str = "pilotnet"
    decode_repeats: int = 300


@dataclass
class Sample:
    """drive.py's process after `frame` frames, `t_s` seconds in."""

    frame: int
    t_s: float
    rss_mb: float
    threads: int
    fds: int


@dataclass
class Growth:
    """From the first sample at or after warm-up to the last one."""

    warmup_sample: Sample
    last_sample: Sample
    rss_growth_mb: float
    rss_peak_growth_mb: float
    rss_warmup_growth_mb: float  # the warm-up itself: first sample to the warm-up sample
    threads_change: int
    fds_change: int
    threads_range: tuple[int, int]
    fds_range: tuple[int, int]


@dataclass
class DecodeCost:
    frames: str
    pixels_identical: bool
    variants: dict[str, Stats]


@dataclass
class SoakResult:
    config: SoakConfig
    frames_done: int
    stopped_early: bool
    connections: int
    wall_s: float
    frames_per_s: float
    round_trip_ms: Stats
    bad_replies: int
    samples: list[Sample]
    sampler: str
    server_exit: int
    server_summary: str
    server_errors: str
    growth: Growth | None  # None when the run was too short to count growth after warm-up
    decode: DecodeCost | None = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ProcessSampler:
    """RSS, OS threads and open descriptors of one process."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        try:
            import psutil

            self._process = psutil.Process(pid)
            self.source = f"psutil {psutil.__version__}"
        except ImportError:
            self._process = None
            self.source = "/proc"

    def sample(self) -> dict[str, float]:  # rss_mb, threads, fds
        if self._process is not None:
            return {"rss_mb": self._process.memory_info().rss / 2**20, "threads": self._process.num_threads(),
                    "fds": self._process.num_fds()}
        status = Path(f"/proc/{self.pid}/status").read_text().splitlines()
        field = {line.split(":")[0]: line.split(":")[1].split() for line in status if ":" in line}
        return {"rss_mb": int(field["VmRSS"][0]) / 1024, "threads": int(field["Threads"][0]),
                "fds": len(os.listdir(f"/proc/{self.pid}/fd"))}


class Simulator:
    """One raw WebSocket connection, as Unity's client opens it."""

    def __init__(self, port: int) -> None:
        self.ws = websocket.create_connection(f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket",
                                              timeout=30)
        name, _ = self.event()
        assert name == "steer", name  # the greeting

    def event(self) -> tuple[str, Any]:
        while True:
            packet = self.ws.recv()
            if packet.startswith("42"):
                name, *data = json.loads(packet[2:])
                return name, data[0] if data else None

    def close(self) -> None:
        self.ws.close()


def start_drive(checkpoint: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-W", "ignore", str(REPO / "drive.py"), str(checkpoint),
                             "--port", str(port), "--device", "cpu", "--stats-every", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
    for line in proc.stdout:
        if line.startswith("listening on"):
            return proc
    proc.wait()
    raise RuntimeError(f"drive.py exited with {proc.returncode} before listening")


def soak(config: SoakConfig) -> SoakResult:
    frames = [{"steering_angle": "0.0000", "throttle": "0.2000", "speed": f"{10 + i % 7:.4f}", "image": image}
              for i, image in enumerate(inputs.base64_frames(32))]
    packets = ["42" + json.dumps(["telemetry", frame], separators=(",", ":")) for frame in frames]
    port = _free_port()
    proc = start_drive(inputs.checkpoint(config.model), port)
    sampler = ProcessSampler(proc.pid)
    samples, round_trips, bad_replies, connections = [], [], 0, 1
    started = time.perf_counter()
    done = 0
    try:
        sim = Simulator(port)
        samples.append(Sample(frame=0, t_s=0.0, **sampler.sample()))
        for i in range(config.frames):
            if i and i % config.reconnect_every == 0:
                sim.close()
                sim = Simulator(port)
                connections += 1
            if i % 25 == 0:
                sim.ws.send("2")
            sent = time.perf_counter()
            sim.ws.send(packets[i % len(packets)])
            name, data = sim.event()
            round_trips.append(time.perf_counter() - sent)
            bad_replies += name != "steer"
            done = i + 1
            if done % config.sample_every == 0:
                samples.append(Sample(frame=done, t_s=time.perf_counter() - started, **sampler.sample()))
            if time.perf_counter() - started > config.max_seconds:
                break
        wall = time.perf_counter() - started
        sim.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    summary = next((line for line in out.splitlines() if line.startswith("stopped")), "")
    errors = summary.rpartition("errors: ")[2] if "errors: " in summary else "no summary printed"
    return SoakResult(config=config, frames_done=done, stopped_early=done < config.frames, connections=connections,
                      wall_s=wall, frames_per_s=done / wall, round_trip_ms=Stats.of(round_trips),
                      bad_replies=bad_replies, samples=samples, sampler=sampler.source,
                      server_exit=proc.returncode, server_summary=summary, server_errors=errors,
                      growth=growth(samples, config.warmup_frames))


def growth(samples: list[Sample], warmup_frames: int) -> Growth | None:
    """From the first sample at or after warm-up to the last one (None when the run was too short)."""
    after = [s for s in samples if s.frame >= warmup_frames]
    if len(after) < 2:
        return None
    first, last = after[0], after[-1]
    return Growth(warmup_sample=first, last_sample=last, rss_growth_mb=last.rss_mb - first.rss_mb,
                  rss_peak_growth_mb=max(s.rss_mb for s in after) - first.rss_mb,
                  rss_warmup_growth_mb=first.rss_mb - samples[0].rss_mb,
                  threads_change=last.threads - first.threads, fds_change=last.fds - first.fds,
                  threads_range=(min(s.threads for s in after), max(s.threads for s in after)),
                  fds_range=(min(s.fds for s in after), max(s.fds for s in after)))


def decode_costs(repeats: int) -> DecodeCost:
    """Per-frame decode of the real 320x160 frames: the drive path's checked decode vs OpenCV alone."""
    frames = inputs.jpeg_frames(32)
    state = {"i": 0}

    def next_frame() -> bytes:
        state["i"] += 1
        return frames[state["i"] % len(frames)]

    def opencv(data: bytes) -> np.ndarray:
        return cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)

    variants = {"OpenCV imdecode + BGR->RGB (no corruption check)": lambda: opencv(next_frame()),
                "decode_jpeg(strict=True): simplejpeg, corruption checked":
                    lambda: decode_jpeg(next_frame(), strict=True)}
    same = all(np.array_equal(decode_jpeg(f, strict=True), opencv(f)) for f in frames)
    stats = interleave(variants, repeats=repeats, block=10)
    return DecodeCost(frames=inputs.frames_source(), pixels_identical=same, variants=stats)


def run(config: SoakConfig | None = None) -> SoakResult:
    config = config or SoakConfig()
    result = soak(config)
    result.decode = decode_costs(config.decode_repeats)
    return result


def quick_config() -> SoakConfig:
    return SoakConfig(frames=300, reconnect_every=100, warmup_frames=100, sample_every=50, max_seconds=120,
                      decode_repeats=5)


def section(soak: SoakResult) -> str:
    c = soak.config
    done = soak.frames_done
    rate = f"{num(soak.frames_per_s)} frames/s"
    ran = f"{done:,} frames" + (f" of the {c.frames:,} asked: the {c.max_seconds:.0f} s limit came first "
                                f"({rate} on this shared machine)" if soak.stopped_early else f" ({rate})")
    out = ["## 7. Soak through the wire", "",
           f"`python -m bench.soak`: drive.py ({c.model}, default runtime) in its own process, a Unity-like raw "
           f"WebSocket client sending lock-step telemetry of real frames, reconnecting every {c.reconnect_every:,} "
           f"frames, a ping every 25. {ran}, {soak.connections} connections. Round trip p50 "
           f"{num(soak.round_trip_ms.median_ms)} ms, p99 {num(soak.round_trip_ms.p99_ms)} ms. drive.py's "
           f"RSS, OS threads and open descriptors read every {c.sample_every:,} frames ({soak.sampler}) with one "
           f"connection open; growth counts from frame {c.warmup_frames:,} (warm-up: first-use allocations).", ""]
    rows = [[f"{s.frame:,}", num(s.t_s, 0), num(s.rss_mb), str(s.threads), str(s.fds)] for s in soak.samples]
    if len(rows) > 12:  # first, warm-up and evenly spaced samples keep the table short
        keep = sorted({0, len(rows) - 1, *range(0, len(rows), max(1, len(rows) // 10))})
        rows = [rows[i] for i in keep]
    out += table(["frame", "s", "RSS MB", "threads", "fds"], rows)
    g = soak.growth
    if g is None:
        out += [f"- too few frames for a growth after warm-up (needs more than {c.warmup_frames:,})", ""]
    else:
        out += [f"- RSS growth after warm-up < {GOAL_SOAK_RSS_MB:.0f} MB: " + verdict(
                    g.rss_growth_mb < GOAL_SOAK_RSS_MB, f"{g.rss_growth_mb:+.1f} MB from frame "
                    f"{g.warmup_sample.frame:,} to {g.last_sample.frame:,} (peak {g.rss_peak_growth_mb:+.1f} MB; "
                    f"warm-up itself {g.rss_warmup_growth_mb:+.1f} MB)"),
                "- threads unchanged: " + verdict(g.threads_range[0] == g.threads_range[1],
                                                  f"{g.threads_range[0]}-{g.threads_range[1]}"),
                "- open descriptors unchanged: " + verdict(g.fds_range[0] == g.fds_range[1],
                                                           f"{g.fds_range[0]}-{g.fds_range[1]}")]
    out += ["- every frame answered with `steer`: " + verdict(soak.bad_replies == 0, f"{soak.bad_replies} other "
                                                              f"replies; server errors: {soak.server_errors}"),
            "- SIGTERM stops drive.py with exit 0 and its summary: " + verdict(
                soak.server_exit == 0 and soak.server_summary.startswith("stopped by SIGTERM"),
                f"exit {soak.server_exit}"), ""]
    if soak.decode is not None:
        dec = soak.decode
        out += ["### Decoding a frame, with and without the corruption check", "",
                f"320x160 JPEGs from the {dec.frames}, interleaved; pixels identical: {dec.pixels_identical}.", ""]
        out += table(["decoder", "p50 ms", "p99 ms"], [[n, num(v.median_ms, 3), num(v.p99_ms, 3)]
                                                       for n, v in dec.variants.items()])
    return "\n".join(out)


BENCHMARK = Benchmark(
    name="soak", help="many frames through drive.py's real wire with reconnects: its memory, threads and fds over time",
    config=SoakConfig, quick=quick_config, run=run, result=SoakResult, section=section, page=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.splitlines()[0])
    defaults = SoakConfig()
    for name in ("frames", "reconnect_every", "warmup_frames", "sample_every", "max_seconds"):
        value = getattr(defaults, name)
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value, help=f"default {value}")
    args = parser.parse_args(argv)
    config = SoakConfig(**{k: v for k, v in vars(args).items()})
    result = run(config)
    print(section(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
