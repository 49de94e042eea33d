"""Render speed of every built-in track, per camera, on one core; the challenge track per section.

    python -m bench.tracks [--repeats 300] [--out bench/tracks.json]

Each variant renders the next of 200 poses spread over the lap (centre line, +-1.5 m), so the figures
include every section's objects and light. Variants run interleaved in blocks of 10 frames, so a burst
of load from elsewhere hits them alike. "challenge, no scenery" is the challenge track with its sprites,
walls and light switched off: the difference is what upright objects cost. The target is at least 200
frames/s per camera (5 ms per frame) on one core.

Two clocks per frame: the thread's CPU time (what a frame costs one core, blind to time the scheduler
gives to other processes on a shared machine) and wall time. On a loaded machine a frame that outlasts
the rest of its time slice waits a whole slice, so wall medians jump by milliseconds; the CPU-time
figures are the ones that answer "frames/s on one core". Both are medians, with the 99th percentile.
The row "calibration: 2.5 ms CPU spin" is a busy loop of exactly 2.5 ms CPU time: its wall time shows
what the machine's scheduling alone adds to a piece of work that long.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench.benchmark import Benchmark, to_jsonable
from bench.machine import Machine, cpu_line, machine
from steering.sim.randomize import random_track
from steering.sim.render import CAMERAS, CameraConfig, Renderer
from steering.sim.tracks import get_track, list_tracks

TARGET_FPS = 200.0
CHALLENGE_SECTIONS = {
    "bridge": (590.0, 28.0),
    "hairpins, posts": (170.0, 285.0),
    "trees, evening light": (300.0, 420.0),
    "narrow, wall, poles": (455.0, 530.0),
}


@dataclass
class TracksConfig:
    repeats: int = 300  # timed frames per variant
    budget_s: float = 240.0  # stop early after this long (>= 20 frames each)
    lake_looks: int = 3  # random laps of the lake look (randomize.LOOKS["lake"]: trees, hillsides, ponds) timed
    only: str | None = None  # time only the variants whose name contains this


@dataclass
class TrackRate:
    frames: int
    cpu_median_ms: float  # the thread's CPU time per frame
    cpu_p99_ms: float
    wall_median_ms: float
    wall_p99_ms: float
    frames_per_s: float  # on one core, at the CPU-time median


@dataclass
class TracksResult:
    machine: Machine
    load_average: list[list[float]]  # os.getloadavg() before and after
    target_fps: float
    variants: dict[str, TrackRate]


def _cycler(renderer: Renderer, poses: list[tuple[float, float, float]], camera: str) -> Callable[[], Any]:
    state = {"i": 0}

    def render() -> Any:
        state["i"] = (state["i"] + 1) % len(poses)
        return renderer.render(*poses[state["i"]], camera)

    return render


def _poses(
    track, start_m: float = 0.0, end_m: float | None = None, count: int = 200
) -> list[tuple[float, float, float]]:
    span = ((end_m - start_m) % track.length_m) if end_m is not None else track.length_m
    return [track.pose_at(start_m + i * span / count, offset_m=(i % 7 - 3) * 0.5) for i in range(count)]


def _spin(ms: float = 2.5) -> None:
    end = time.thread_time() + ms / 1000
    while time.thread_time() < end:
        pass


def run(config: TracksConfig | None = None) -> TracksResult:
    config = config or TracksConfig()
    repeats, budget_s = config.repeats, config.budget_s
    cv2.setNumThreads(1)  # one core, as the target is stated
    variants: dict[str, Callable[[], Any]] = {}
    for name in list_tracks():
        track = get_track(name)
        renderer, poses = Renderer(track), _poses(track)
        for camera in CAMERAS:
            variants[f"{name}/{camera}"] = _cycler(renderer, poses, camera)
    challenge = get_track("challenge")
    bare = Renderer(challenge)
    bare._sprites, bare._light = None, None  # the same texture, no upright objects, no light gain
    variants["challenge, no scenery/center"] = _cycler(bare, _poses(challenge), "center")
    busy = Renderer(challenge)
    for label, (start, end) in CHALLENGE_SECTIONS.items():
        variants[f"challenge: {label}/center"] = _cycler(busy, _poses(challenge, start, end), "center")
    lake = get_track("lake")
    for lap in range(config.lake_looks):
        look = random_track(lake, 0, lap, ("lake",))
        for rig in ("default", "unity"):
            variants[f"lake look, lap {lap}, {rig} rig/center"] = _cycler(
                Renderer(look, CameraConfig.named(rig)), _poses(look), "center")
    if config.only:
        variants = {name: fn for name, fn in variants.items() if config.only in name}
    variants["calibration: 2.5 ms CPU spin"] = _spin
    load = os.getloadavg()
    times = _interleave(variants, repeats, budget_s)
    summary = {name: TrackRate(frames=len(cpu), cpu_median_ms=float(np.median(cpu)),
                               cpu_p99_ms=float(np.percentile(cpu, 99)), wall_median_ms=float(np.median(wall)),
                               wall_p99_ms=float(np.percentile(wall, 99)), frames_per_s=1000.0 / float(np.median(cpu)))
               for name, (cpu, wall) in times.items()}
    return TracksResult(machine=machine(), load_average=[list(load), list(os.getloadavg())], target_fps=TARGET_FPS,
                        variants=summary)


def quick_config() -> TracksConfig:
    return TracksConfig(repeats=1, budget_s=0.0, lake_looks=1)


def _interleave(variants: dict[str, Callable[[], Any]], repeats: int, budget_s: float) -> dict[str, tuple[list, list]]:
    """Per variant, (CPU ms, wall ms) of each call; round-robin blocks of 10 calls, garbage collection between."""
    times: dict[str, tuple[list, list]] = {name: ([], []) for name in variants}
    for fn in variants.values():
        fn()  # warm-up
    started = time.perf_counter()
    while min(len(cpu) for cpu, _ in times.values()) < repeats:
        if time.perf_counter() - started > budget_s and min(len(cpu) for cpu, _ in times.values()) >= 20:
            break
        for name, fn in variants.items():
            gc.collect()
            gc.disable()
            for _ in range(10):
                c0, w0 = time.thread_time(), time.perf_counter()
                fn()
                times[name][0].append(1000 * (time.thread_time() - c0))
                times[name][1].append(1000 * (time.perf_counter() - w0))
            gc.enable()
    return times


def section(results: TracksResult) -> str:
    m, (before, after) = results.machine, results.load_average
    lines = [f"CPU: {cpu_line(m)} ({m.cores} cores); 1 thread; load average {before[0]:.1f} before, "
             f"{after[0]:.1f} after",
             f"| track / camera | CPU ms median | CPU ms p99 | frames/s per core | >= {results.target_fps:.0f}? "
             "| wall ms median | wall ms p99 |",
             "|---|---:|---:|---:|:---:|---:|---:|"]
    for name, s in results.variants.items():
        ok = "-" if name.startswith("calibration") else "yes" if s.frames_per_s >= results.target_fps else "NO"
        lines.append(f"| {name} | {s.cpu_median_ms:.2f} | {s.cpu_p99_ms:.2f} | {s.frames_per_s:.0f} | {ok} "
                     f"| {s.wall_median_ms:.2f} | {s.wall_p99_ms:.2f} |")
    return "\n".join(lines)


def findings(results: TracksResult) -> list[str]:
    slow = [name for name, s in results.variants.items()
            if not name.startswith("calibration") and s.frames_per_s < results.target_fps]
    return [f"- under {results.target_fps:.0f} frames/s on one core: {', '.join(slow)}"] if slow else []


BENCHMARK = Benchmark(
    name="tracks", help="render speed of every built-in track and camera on one core; the challenge track by section",
    config=TracksConfig, quick=quick_config, run=run, result=TracksResult, section=section, findings=findings,
    doc="printed, quoted in docs/tracks.md", own_process=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tracks", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=300, help="timed frames per variant")
    parser.add_argument("--budget-s", type=float, default=240.0, help="stop early after this long (>= 20 frames each)")
    parser.add_argument("--only", help="time only the variants whose name contains this, e.g. 'lake'")
    parser.add_argument("--out", type=Path, help="also write the results as JSON")
    args = parser.parse_args(argv)
    results = run(TracksConfig(repeats=args.repeats, budget_s=args.budget_s, only=args.only))
    print(section(results))
    if args.out:
        args.out.write_text(json.dumps(to_jsonable(results), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
