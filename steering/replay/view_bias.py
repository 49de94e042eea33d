"""Does the synthesised view steer a model differently from the true one? Checked where the truth is known.

Along a model's own replay of a headless recording, the renderer draws the true centre-camera view at every
pose the replay synthesised one for; the model steers on both. The pose is placed from the nearest row's true
pose in the recorder's `sim_trace.csv` (the reference path is exact relative to nearby rows, not over a whole
lap), and the true view goes through the recorder's JPEG quality, as the recorded frames did. A mean
difference that depends on where the view came from (which camera) is a bias of the instrument.

    python -m steering.replay.view_bias val_mountain/driving_log.csv e3.pt --track mountain
"""
from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from steering.data.reading import read_logs
from steering.inference import InferenceConfig, load_model
from steering.preprocess import decode_jpeg, encode_jpeg
from steering.replay.fidelity import cg_pose, rear_axle_pose, road_mask
from steering.replay.loop import ReplayConfig, SteeringModel, replay
from steering.replay.reference import Segment, split_segments
from steering.replay.rigs import TRACE_NAME, headless_rig
from steering.replay.synthesis import relative_pose
from steering.sim.car import CarConfig
from steering.sim.recorder import RecordConfig
from steering.sim.world import World, WorldConfig
from steering.udacity import CAMERAS


@dataclass
class ViewPair:
    synthesised: float  # the model's steering on the replay's view
    true: float  # on the renderer's view at the same pose
    offset_m: float  # the car's offset from the reference after the step (positive = right)
    source: str  # camera whose frame was warped
    road_mae: float  # mean absolute RGB difference of the two views over the road


def world_pose(segment: Segment, trace: pd.DataFrame, row: int, pose: tuple[float, float, float],
               car: CarConfig) -> tuple[float, float, float]:
    """The rear-axle pose in the track's frame: `pose` relative to reference row `row`, put at that row's truth."""
    true = trace.loc[Path(segment.frame_path(row, "center")).name]
    ax, ay, ah = rear_axle_pose((float(true["x"]), float(true["y"]), float(true["heading"])), car)
    fwd, left, turn = relative_pose(segment.pose(row), pose)
    return ax + fwd * math.cos(ah) - left * math.sin(ah), ay + fwd * math.sin(ah) + left * math.cos(ah), ah + turn


def compare(model: SteeringModel, log: Path, track: str, every: int = 3, seed: int = 0) -> list[ViewPair]:
    """Replay `model` on the headless recording `log` (recorded on `track` with look `seed`) and pair views."""
    rig, car = headless_rig(), CarConfig()
    segment = split_segments(read_logs(log), bicycle=rig.bicycle)[0]
    trace = pd.read_csv(Path(log).parent / TRACE_NAME)
    trace = trace[trace["recorded"] == 1].set_index("center")
    renderer = World(WorldConfig(track=track, seed=seed)).renderer
    quality = RecordConfig().jpeg_quality
    state = {"pose": segment.pose(0), "row": 0, "n": 0}
    pairs: list[ViewPair] = []

    def observe(frame: np.ndarray, step, intervened: bool) -> None:
        if state["n"] % every == 0:  # the frame was synthesised at the pose before this step
            rear = world_pose(segment, trace, state["row"], state["pose"], car)
            truth = decode_jpeg(encode_jpeg(renderer.render(*cg_pose(rear, car), "center"), quality))
            mask = road_mask(rig.camera, renderer.track, rear) & (frame.sum(axis=-1) > 0)
            mae = float(np.abs(frame.astype(np.float32) - truth)[mask].mean())
            pairs.append(ViewPair(float(model.predict(frame)), float(model.predict(truth)), step.offset_m,
                                  step.source.split("/")[1], mae))
        state["n"] += 1
        state["pose"] = segment.pose(step.row) if intervened else (step.x, step.y, step.heading)
        state["row"] = step.row

    replay(model, [segment], rig.camera, ReplayConfig(progress=False), rig.bicycle, on_frame=observe)
    return pairs


def summary(pairs: Sequence[ViewPair]) -> list[str]:
    """One line overall and one per source camera: mean steering difference (synthesised - true)."""
    diff = np.array([p.synthesised - p.true for p in pairs])
    lines = [f"all: {len(pairs)} frames, synthesised - true {diff.mean():+.4f} (mean abs {np.abs(diff).mean():.4f}), "
             f"r {np.corrcoef([p.synthesised for p in pairs], [p.true for p in pairs])[0, 1]:.3f}, "
             f"road MAE {np.mean([p.road_mae for p in pairs]):.1f}"]
    for source in CAMERAS:
        chosen = [i for i, p in enumerate(pairs) if p.source == source]
        if chosen:
            lines.append(f"from {source}: {len(chosen)} frames, synthesised - true {diff[chosen].mean():+.4f}, "
                         f"mean offset {np.mean([pairs[i].offset_m for i in chosen]):+.2f} m, "
                         f"road MAE {np.mean([pairs[i].road_mae for i in chosen]):.1f}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m steering.replay.view_bias", description=__doc__.split("\n")[0])
    parser.add_argument("log", type=Path, help="driving_log.csv of `python -m steering.sim record` (plain look)")
    parser.add_argument("model", help="checkpoint, loaded as drive.py loads it")
    parser.add_argument("--track", required=True, help="the track the log was recorded on")
    parser.add_argument("--seed", type=int, default=0, help="the recording's --seed (its look)")
    parser.add_argument("--every", type=int, default=3, help="compare every Nth frame")
    args = parser.parse_args(argv)
    pairs = compare(load_model(args.model, InferenceConfig()), args.log, args.track, args.every, args.seed)
    print("\n".join(summary(pairs)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
