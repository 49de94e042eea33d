"""The replay's figures in docs/replay.md: `python -m bench.replay [--only speed,calibration,fidelity]`.

Calibration: the Unity rig of steering.udacity (and the prefab's own 9.445 deg pitch) against the real
lake frames, centre warped to each side camera (`steering.replay.calibration`, 30 rows spread over the log).
Fidelity: synthesised vs rendered views in the headless simulator on a straight and a curve of the lake
(`steering.replay.fidelity`), offsets -1.5..1.5 m by 0.75 and headings -10, 0, 10 deg.

NVIDIA's replay (`steering.replay`) over the first N rows of the real lake recording, one thread:
the view synthesis alone (frame decode + two warps), the whole loop with a constant control (no model),
and the loop with a PilotNet checkpoint loaded as drive.py loads it (runtime choice included, warm-up
before the clock). Frames/s = replayed frames per wall-clock second; the recording runs at ~11 frames/s
(a row every ~0.09 s), so anything above that is faster than real time. Prints markdown tables.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from bench import inputs
from bench.benchmark import Benchmark
from bench.machine import cpu_line, machine
from steering.data.reading import read_logs
from steering.inference.ensemble import load_model
from steering.inference.predictor import InferenceConfig
from steering.replay.calibration import side_camera_fit
from steering.replay.camera import unity_camera
from steering.replay.fidelity import measure
from steering.replay.frames import load_frame
from steering.replay.loop import ConstantSteering, ReplayConfig, replay
from steering.replay.reference import split_segments
from steering.replay.synthesis import ViewSynthesiser
from steering.sim.render import Renderer
from steering.sim.tracks import get_track

SECTIONS = ("speed", "calibration", "fidelity")


@dataclass(frozen=True)
class ReplayBenchConfig:
    rows: int = 400  # rows of the real lake recording the speed section replays
    only: tuple[str, ...] = SECTIONS


@dataclass
class CalibrationRow:
    rig: str
    left_unwarped: float
    left_warped: float
    right_unwarped: float
    right_warped: float


@dataclass
class FidelityRow:
    section: str
    offset_m: float
    heading_deg: float
    mae: float
    ssim: float
    mae_unwarped: float
    ssim_unwarped: float


@dataclass
class ReplayBenchResult:
    cpu: str
    calibration: list[CalibrationRow] = field(default_factory=list)
    fidelity: list[FidelityRow] = field(default_factory=list)
    speed: dict[str, float] = field(default_factory=dict)  # variant -> frames/s, one thread


def run(config: ReplayBenchConfig) -> ReplayBenchResult:
    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    result = ReplayBenchResult(cpu=cpu_line(machine()))
    if "calibration" in config.only:
        result.calibration = calibration()
    if "fidelity" in config.only:
        result.fidelity = fidelity()
    if "speed" in config.only:
        result.speed = speed(config.rows)
    return result


def calibration() -> list[CalibrationRow]:
    rows = read_logs(inputs.REAL_DATA / "lake-two-laps-mouse" / "driving_log.csv").rows
    picks = rows.iloc[np.linspace(0, len(rows) - 1, 30).astype(int)]
    triples = list(zip(picks["center"], picks["left"], picks["right"], strict=True))
    found = []
    for name, camera in (("steering.udacity (pitch 7.9 deg, height 1.25 m)", unity_camera()),
                         ("prefab pitch 9.445 deg", dataclasses.replace(unity_camera(), pitch_deg=9.445))):
        left, right = side_camera_fit(camera, triples, "left"), side_camera_fit(camera, triples, "right")
        found.append(CalibrationRow(name, left.unwarped_mae, left.warped_mae, right.unwarped_mae, right.warped_mae))
    return found


def fidelity() -> list[FidelityRow]:
    renderer = Renderer(get_track("lake"))
    return [FidelityRow(section, p.offset_m, p.heading_deg, p.mae, p.ssim, p.mae_unwarped, p.ssim_unwarped)
            for section, progress in (("straight (555 m)", 555.0), ("curve R 29 m (495 m)", 495.0))
            for p in measure(renderer, progress, [-1.5, -0.75, 0.0, 0.75, 1.5], [-10.0, 0.0, 10.0])]


def speed(count: int) -> dict[str, float]:
    log = read_logs(inputs.REAL_DATA / "lake-two-laps-mouse" / "driving_log.csv")
    log.rows = log.rows.iloc[:count]
    segments = split_segments(log)
    camera = unity_camera()
    config = ReplayConfig(progress=False)
    rates = {}
    synth = ViewSynthesiser(camera)
    seg = segments[0]
    start = time.perf_counter()
    for i in range(len(seg)):
        synth.synthesise(load_frame(seg.frame_path(i, "center")), "center", seg.pose(i), (0.3, 0.4, 0.05))
    rates["view synthesis only (decode + 2 warps)"] = len(seg) / (time.perf_counter() - start)
    rates["replay loop, constant control"] = replay(ConstantSteering(0.0), segments, camera, config).frames_per_s
    model = load_model(inputs.checkpoint("pilotnet"), InferenceConfig(threads=1))
    run_ = replay(model, segments, camera, config)
    rates[f"replay loop, PilotNet (backend {model.backend}, {model.precision})"] = run_.frames_per_s
    return rates


def section(result: ReplayBenchResult) -> str:
    out = [f"CPU: {result.cpu}"]
    if result.calibration:
        out += ["", "| rig | left: unwarped -> warped MAE | right: unwarped -> warped MAE |", "|---|---|---|"]
        out += [f"| {r.rig} | {r.left_unwarped:.1f} -> {r.left_warped:.1f} | "
                f"{r.right_unwarped:.1f} -> {r.right_warped:.1f} |" for r in result.calibration]
    if result.fidelity:
        out += ["", "| section | offset m | heading deg | MAE | SSIM | unwarped MAE | unwarped SSIM |",
                "|---|---|---|---|---|---|---|"]
        out += [f"| {r.section} | {r.offset_m:+.2f} | {r.heading_deg:+.0f} | {r.mae:.1f} | {r.ssim:.3f} | "
                f"{r.mae_unwarped:.1f} | {r.ssim_unwarped:.3f} |" for r in result.fidelity]
    if result.speed:
        out += ["", "| replay, 1 thread | frames/s |", "|---|---|"]
        out += [f"| {name} | {rate:.0f} |" for name, rate in result.speed.items()]
    return "\n".join(out)


def quick_config() -> ReplayBenchConfig:
    return ReplayBenchConfig(rows=20, only=("speed",))


BENCHMARK = Benchmark(
    name="replay", help="the replay closed loop: camera calibration on real frames, view fidelity, frames/s",
    config=ReplayBenchConfig, quick=quick_config, run=run, result=ReplayBenchResult, section=section,
    page=True, doc="docs/benchmarks.md, quoted in docs/replay.md", own_process=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replay", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=400, help="rows of the lake recording to replay")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    args = parser.parse_args(argv)
    print(section(run(ReplayBenchConfig(rows=args.rows, only=tuple(args.only.split(","))))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
