"""The replay closed loop: a model steers a simulated car along recorded segments; interventions; autonomy.

Per recorded row (time step of the log): synthesise what the car's centre camera sees from the nearest
recorded frame (`frames.py`, `synthesis.py`), ask the model for steering, move the car over the row's time
step at the recorded speed (`bicycle.py`), and measure where it is against the reference: lateral offset
(positive = right of the reference) and heading error in the frame of the nearest reference row.
- Lock step (default): the command applies at once, for the whole step.
- Real time: the command applies after the model's measured latency; the previous one holds until then.
An intervention is |offset| > `max_offset_m` (1.0 m, the paper's) or |heading error| > `max_heading_deg`;
the car is put back on the reference at the nearest row, facing along it. Autonomy is the project's
(`steering.eval.scoring.autonomy_percent`) over the time the car was driven (segments only).
"""
from __future__ import annotations

import bisect
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from tqdm import tqdm

from steering.eval.scoring import PENALTY_S, autonomy_percent
from steering.inference.controls import ConstantSteering  # noqa: F401 - the controls' one definition, re-exported
from steering.replay.bicycle import Bicycle
from steering.replay.camera import CameraModel
from steering.replay.frames import choose_source, load_frame, nearest_row
from steering.replay.reference import Segment
from steering.replay.synthesis import Pose, ViewSynthesiser, relative_pose

log = logging.getLogger(__name__)


class SteeringModel(Protocol):
    def predict(self, frame: np.ndarray) -> float: ...


@dataclass(frozen=True)
class ReplayConfig:
    max_offset_m: float = 1.0  # PilotNet paper: an intervention when the car is more than 1 m off the centre
    # 10 degrees: the view is validated up to +-10 deg (tests/test_replay_fidelity.py) and a turn beyond it
    # leaves f*tan(10 deg) = 24 px of the frame's side without recorded content; at the recorded ~13 m/s such
    # an error also crosses the 1 m limit within half a second, so it mostly fires where the car crawls.
    max_heading_deg: float = 10.0
    penalty_s: float = PENALTY_S
    realtime: bool = False  # apply each command after the model's measured latency
    progress: bool = True


@dataclass(frozen=True)
class ReplayIntervention:
    segment: int
    row: int  # row of the segment where the car was put back
    line: int  # that row's line in its driving_log.csv
    frame: str  # its centre frame
    time_s: float  # replay time (all segments, driven time)
    offset_m: float
    heading_deg: float
    reason: str  # "offset" or "heading"


@dataclass
class ReplayStep:
    segment: int
    row: int  # nearest reference row after the step
    x: float
    y: float
    heading: float
    offset_m: float
    heading_deg: float
    steering: float
    recorded_steering: float
    source: str  # "row/camera" of the warped frame
    latency_s: float


@dataclass
class ReplayRun:
    """One model over the segments."""

    steps: list[ReplayStep] = field(default_factory=list)
    interventions: list[ReplayIntervention] = field(default_factory=list)
    elapsed_s: float = 0.0
    wall_s: float = 0.0
    penalty_s: float = PENALTY_S

    @property
    def autonomy(self) -> float:
        return autonomy_percent(len(self.interventions), self.elapsed_s, self.penalty_s)

    @property
    def frames_per_s(self) -> float:
        return len(self.steps) / self.wall_s if self.wall_s > 0 else math.nan

    def summary(self) -> dict:
        offsets = np.abs([s.offset_m for s in self.steps]) if self.steps else np.array([np.nan])
        latency = np.array([s.latency_s for s in self.steps]) * 1000 if self.steps else np.array([np.nan])
        return {"autonomy_percent": round(self.autonomy, 2), "interventions": len(self.interventions),
                "elapsed_s": round(self.elapsed_s, 2), "frames": len(self.steps),
                "mean_abs_offset_m": round(float(offsets.mean()), 3),
                "max_abs_offset_m": round(float(offsets.max()), 3),
                "latency_ms_p50": round(float(np.median(latency)), 2), "frames_per_s": round(self.frames_per_s, 1)}


FrameObserver = Callable[[np.ndarray, ReplayStep, bool], None]  # (synthesised frame, step, intervened)


class _Commands:
    """The steering the car's wheels follow over time: the active command and those still to apply."""

    def __init__(self, initial: float):
        self.active = initial
        self.pending: list[tuple[float, float]] = []  # (apply at time, steering)

    def drive(self, bicycle: Bicycle, pose: Pose, speed: float, start: float, dt: float) -> Pose:
        end = start + dt
        now = start
        while self.pending and self.pending[0][0] < end:
            at, value = self.pending.pop(0)
            if at > now:
                pose = bicycle.advance(pose, speed, self.active, at - now)
                now = at
            self.active = value
        return bicycle.advance(pose, speed, self.active, end - now)


def replay(model: SteeringModel, segments: Sequence[Segment], camera: CameraModel,
           config: ReplayConfig | None = None, bicycle: Bicycle | None = None,
           on_frame: FrameObserver | None = None) -> ReplayRun:
    """Drive `model` along each segment (each starts on its reference) and score it."""
    config = config or ReplayConfig()
    bicycle = bicycle or Bicycle()
    synth = ViewSynthesiser(camera)
    run = ReplayRun(penalty_s=config.penalty_s)
    total = sum(len(s) - 1 for s in segments)
    bar = tqdm(total=total, desc="replay", unit="frame", disable=not config.progress, leave=False)
    started = time.perf_counter()
    for number, segment in enumerate(segments):
        if hasattr(model, "reset"):  # a model with memory (a delayed control) starts each segment afresh
            model.reset()
        if hasattr(model, "start_segment"):  # a control that steers from the recording itself (recorded:W)
            model.start_segment(segment)
        pose, row = segment.pose(0), 0
        commands = _Commands(float(segment.steering[0]))
        for i in range(len(segment) - 1):
            source_row, source_camera = choose_source(segment, camera, pose, row)
            frame = synth.synthesise(load_frame(segment.frame_path(source_row, source_camera)), source_camera,
                                     segment.pose(source_row), pose)
            tick = time.perf_counter()
            steering = float(model.predict(frame))
            latency = time.perf_counter() - tick
            if not math.isfinite(steering):
                log.warning("segment %d row %d: the model answered %r; steering 0 instead", number, i, steering)
                steering = 0.0
            dt = float(segment.times[i + 1] - segment.times[i])
            now = run.elapsed_s
            bisect.insort(commands.pending, (now + (latency if config.realtime else 0.0), steering))
            pose = commands.drive(bicycle, pose, float(segment.speed_mps[i]), now, dt)
            run.elapsed_s += dt
            row = nearest_row(segment, pose, i + 1)
            forward, left, turn = relative_pose(segment.pose(row), pose)
            step = ReplayStep(number, row, pose[0], pose[1], pose[2], -left, math.degrees(turn), steering,
                              float(segment.steering[i]), f"{source_row}/{source_camera}", latency)
            run.steps.append(step)
            reason = ("offset" if abs(left) > config.max_offset_m
                      else "heading" if abs(math.degrees(turn)) > config.max_heading_deg else "")
            if reason:
                rec = segment.rows.iloc[row]
                run.interventions.append(ReplayIntervention(number, row, int(rec["line"]), str(rec["center"]),
                                                            run.elapsed_s, -left, math.degrees(turn), reason))
                pose = segment.pose(row)
            if on_frame is not None:
                on_frame(frame, step, bool(reason))
            bar.update(1)
    bar.close()
    run.wall_s = time.perf_counter() - started
    return run
