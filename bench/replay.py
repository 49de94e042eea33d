"""Replay speed on one core: `python -m bench.replay [--rows N]`.

NVIDIA's replay (`steering.replay`) over the first N rows of the real lake recording, one thread:
the view synthesis alone (frame decode + two warps), the whole loop with a constant control (no model),
and the loop with a PilotNet checkpoint loaded as drive.py loads it (runtime choice included, warm-up
before the clock). Frames/s = replayed frames per wall-clock second; the recording runs at ~11 frames/s
(a row every ~0.09 s), so anything above that is faster than real time. Prints a markdown table.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from bench import inputs
from steering.data.reading import read_logs
from steering.drive.ensemble import load_model
from steering.drive.predictor import InferenceConfig
from steering.replay.camera import unity_camera
from steering.replay.frames import load_frame
from steering.replay.loop import ConstantSteering, ReplayConfig, replay
from steering.replay.reference import split_segments
from steering.replay.synthesis import ViewSynthesiser


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
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    log = read_logs(lake_log_path())
    log.rows = log.rows.iloc[: args.rows]
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
