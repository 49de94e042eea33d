"""The replay's figures in docs/replay.md: `python -m bench.replay [--only speed,calibration,fidelity]`.

Calibration: the Unity rig of steering.udacity (and the prefab's own 9.445 deg pitch) against the real
lake frames, centre warped to each side camera (`steering.replay.calibration`, 30 rows spread over the log).
Fidelity: synthesised vs rendered views in the headless simulator on a straight and a curve of the lake
(`steering.replay.fidelity`), offsets -1.5..1.5 m by 0.75 and headings -10, 0, 10 deg.

NVIDIA's replay (`steering.replay`) over the first N rows of the real lake recording, one thread:
the view synthesis alone (frame decode + two warps), the whole loop with a constant control (no model),
and the loop with a PilotNet checkpoint loaded as drive.py loads it (runtime choice included, warm-up
before the clock). Frames/s = replayed frames per wall-clock second; the recording runs at ~11 frames/s
(a row every ~0.09 s), so anything above that is faster than real time. Prints a markdown table.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path

import numpy as np
import torch

from bench import inputs
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


def lake_log_path() -> Path:
    here = Path(__file__).resolve().parents[1]
    for base in (here.parent, here.parent.parent):
        path = base / "shared" / "data" / "udacity-real" / "lake-two-laps-mouse" / "driving_log.csv"
        if path.is_file():
            return path
    raise SystemExit("the real lake recording is missing: ../shared/data/udacity-real/lake-two-laps-mouse")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replay", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=400, help="rows of the lake recording to replay")
    parser.add_argument("--only", default="speed,calibration,fidelity", help="comma-separated sections")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sections = set(args.only.split(","))
    if "calibration" in sections:
        calibration()
    if "fidelity" in sections:
        fidelity()
    if "speed" in sections:
        speed(args.rows)
    return 0


def calibration() -> None:
    rows = read_logs(lake_log_path()).rows
    picks = rows.iloc[np.linspace(0, len(rows) - 1, 30).astype(int)]
    triples = list(zip(picks["center"], picks["left"], picks["right"]))
    print("| rig | left: unwarped -> warped MAE | right: unwarped -> warped MAE |\n|---|---|---|")
    for name, camera in (("steering.udacity (pitch 7.9 deg, height 1.25 m)", unity_camera()),
                         ("prefab pitch 9.445 deg", dataclasses.replace(unity_camera(), pitch_deg=9.445))):
        left, right = side_camera_fit(camera, triples, "left"), side_camera_fit(camera, triples, "right")
        print(f"| {name} | {left.unwarped_mae:.1f} -> {left.warped_mae:.1f} | "
              f"{right.unwarped_mae:.1f} -> {right.warped_mae:.1f} |")


def fidelity() -> None:
    renderer = Renderer(get_track("lake"))
    print("| section | offset m | heading deg | MAE | SSIM | unwarped MAE | unwarped SSIM |")
    print("|---|---|---|---|---|---|---|")
    for section, progress in (("straight (555 m)", 555.0), ("curve R 29 m (495 m)", 495.0)):
        for p in measure(renderer, progress, [-1.5, -0.75, 0.0, 0.75, 1.5], [-10.0, 0.0, 10.0]):
            print(f"| {section} | {p.offset_m:+.2f} | {p.heading_deg:+.0f} | {p.mae:.1f} | {p.ssim:.3f} | "
                  f"{p.mae_unwarped:.1f} | {p.ssim_unwarped:.3f} |")


def speed(count: int) -> None:
    log = read_logs(lake_log_path())
    log.rows = log.rows.iloc[:count]
    segments = split_segments(log)
    camera = unity_camera()
    config = ReplayConfig(progress=False)
    rows = []

    synth = ViewSynthesiser(camera)
    seg = segments[0]
    start = time.perf_counter()
    for i in range(len(seg)):
        synth.synthesise(load_frame(seg.frame_path(i, "center")), "center", seg.pose(i), (0.3, 0.4, 0.05))
    rows.append(("view synthesis only (decode + 2 warps)", len(seg) / (time.perf_counter() - start)))

    run = replay(ConstantSteering(0.0), segments, camera, config)
    rows.append(("replay loop, constant control", run.frames_per_s))

    model = load_model(inputs.checkpoint("pilotnet"), InferenceConfig(threads=1))
    run = replay(model, segments, camera, config)
    rows.append((f"replay loop, PilotNet (backend {model.backend}, {model.precision})", run.frames_per_s))

    print("| replay, 1 thread | frames/s |\n|---|---|")
    for name, rate in rows:
        print(f"| {name} | {rate:.0f} |")


if __name__ == "__main__":
    raise SystemExit(main())
