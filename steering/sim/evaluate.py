"""Closed-loop evaluation: drive a model round a simulated track through the real wire protocol and score it.

    from steering.sim.evaluate import EvalConfig, evaluate
    result = evaluate("model.pt", EvalConfig(track="mountain", laps=1, out_dir="eval/"))
    result.report.autonomy_pct, result.report.mean_abs_cte_m

`evaluate` starts the drive server in-process (`steering.server.running_server`, the code behind
`python drive.py`) unless `EvalConfig.port` names one that already runs, and lets the simulator's
wire client (`steering.sim.client.SimClient`) drive `laps` laps. Every applied reply goes through
an `InterventionDetector`; an intervention puts the car back on the centre line, facing along the
track, as a safety driver would.

Scoring follows NVIDIA's PilotNet paper (arXiv 1604.07316, section 7.2): an intervention whenever
the car leaves the road (|CTE| > half the road width) or stops making progress for a few seconds,
each costing 6 s, autonomy = (1 - interventions * 6 s / elapsed s) * 100. Time is simulated time
(one step = `WorldConfig.dt`), so a score does not depend on how fast the machine is; only
`frames_per_s` is wall clock. The scoring rules are small pure functions (`autonomy_percent`,
`steering_smoothness`, `detect_interventions`) so they can be checked against hand-computed cases.

Report files (report.json, trajectory PNG, video) are written by `steering.sim.report*`.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Sequence

import numpy as np
from tqdm import tqdm

from steering.sim.client import ClientConfig, Command, DriveResult, SimClient
from steering.sim.world import StepInfo, World, WorldConfig

if TYPE_CHECKING:
    from steering.sim.report import EvalReport

log = logging.getLogger(__name__)

PENALTY_S = 6.0  # PilotNet paper: "each intervention ... 6 seconds" of human driving


@dataclass(frozen=True)
class InterventionConfig:
    """When a safety driver would take over, and how the car is handed back."""

    off_road_margin_m: float = 0.0  # intervene once |CTE| > half road width + margin (0: the car's centre leaves the road)
    stall_s: float = 4.0  # "stops making progress for a few seconds": no new ground for this long ...
    min_progress_m: float = 1.0  # ... where new ground means beating the best distance along the track by this much
    penalty_s: float = PENALTY_S
    reset_speed_mph: float = 0.0  # the car is handed back standing on the centre line


@dataclass(frozen=True)
class Intervention:
    """One take-over: where and why."""

    step: int  # index into the drive's steps
    time_s: float  # simulated time
    x: float
    y: float
    cte_m: float
    progress_m: float
    reason: str  # "off_road" or "no_progress"


def autonomy_percent(interventions: int, elapsed_s: float, penalty_s: float = PENALTY_S) -> float:
    """PilotNet's autonomy: (1 - interventions * penalty_s / elapsed_s) * 100, floored at 0.

    The floor keeps a hopeless drive (more penalty than driving time) at 0 % instead of a negative
    number the paper never defines. Raises ValueError for a drive without time."""
    if elapsed_s <= 0:
        raise ValueError(f"autonomy needs a positive elapsed time, got {elapsed_s} s (did the drive take any step?)")
    if interventions < 0:
        raise ValueError(f"interventions must be >= 0, got {interventions}")
    return max(0.0, (1.0 - interventions * penalty_s / elapsed_s) * 100.0)


def steering_smoothness(steering: Sequence[float]) -> float:
    """Mean |steering[i+1] - steering[i]| (normalised units per step); 0 for fewer than two commands."""
    values = np.asarray(steering, dtype=np.float64)
    return float(np.abs(np.diff(values)).mean()) if len(values) > 1 else 0.0


class InterventionDetector:
    """A part: `run(step, info)` returns an `Intervention` when a safety driver would take over.

    Leaving the road triggers once per excursion (on the step the car crosses the edge), so a
    recorded trajectory that stays off the road for a while counts one intervention, as does a live
    drive where the evaluator resets the car at once. No progress: the best distance along the track
    has not grown by `min_progress_m` for `stall_s` (stopped, circling or driving backwards). After
    any intervention (or `handed_back`) the stall clock starts again."""

    def __init__(self, half_width_m: float, config: InterventionConfig | None = None):
        self.half_width_m = half_width_m
        self.config = config or InterventionConfig()
        self.reset()

    def reset(self) -> None:
        self._was_off = False
        self._best_m: float | None = None
        self._best_time_s = 0.0

    def handed_back(self, time_s: float, distance_along_m: float) -> None:
        """The car was put back on the road at `time_s`: it is on the road and gets a fresh stall clock."""
        self._was_off = False
        self._best_m, self._best_time_s = distance_along_m, time_s

    def run(self, step: int, info: StepInfo) -> Intervention | None:
        cfg = self.config
        if self._best_m is None:
            self._best_m, self._best_time_s = info.distance_along_m, info.time_s
        off = abs(info.cte_m) > self.half_width_m + cfg.off_road_margin_m
        reason = ""
        if off and not self._was_off:
            reason = "off_road"
        self._was_off = off
        if info.distance_along_m >= self._best_m + cfg.min_progress_m:
            self._best_m, self._best_time_s = info.distance_along_m, info.time_s
        elif not reason and info.time_s - self._best_time_s >= cfg.stall_s - 1e-9:
            reason = "no_progress"
        if not reason:
            return None
        self._best_m, self._best_time_s = max(self._best_m, info.distance_along_m), info.time_s
        return Intervention(step, info.time_s, info.x, info.y, info.cte_m, info.progress_m, reason)


def detect_interventions(steps: Iterable[StepInfo], half_width_m: float,
                         config: InterventionConfig | None = None) -> list[Intervention]:
    """Interventions a safety driver would make along a recorded trajectory (nothing is reset)."""
    detector = InterventionDetector(half_width_m, config)
    return [iv for i, info in enumerate(steps) if (iv := detector.run(i, info)) is not None]


@dataclass(frozen=True)
class EvalConfig:
    """One evaluation: which track, how far, which server, what to write."""

    track: str = "lake"
    laps: float = 1.0
    port: int | None = None  # a drive server already running there (python drive.py); None = start one in-process
    host: str = "127.0.0.1"
    speed_mph: float | None = None  # in-process server's target speed; None = DriveConfig's default
    out_dir: Path | None = None  # report.json, trajectory.png, trajectory.csv (and drive.mp4); None = nothing written
    video: bool = False  # MP4 of the center camera with the steering overlaid (needs out_dir)
    interventions: InterventionConfig = field(default_factory=InterventionConfig)
    wallclock: bool = False  # run the world in real time (server latency matters) instead of lock step
    max_sim_s: float | None = None  # give up after this much simulated time; None = laps at 1.5 m/s + 60 s
    seed: int = 0  # the world's textures
    progress: bool = True  # tqdm bar over the distance driven
    label: str = ""  # name in tables; default: the checkpoint's file name

    def time_limit_s(self, track_length_m: float) -> float:
        # A car that keeps being handed back but crawls still finishes; a hopeless one is stopped.
        return self.max_sim_s if self.max_sim_s is not None else self.laps * track_length_m / 1.5 + 60.0


@dataclass
class EvalResult:
    """What `evaluate` returns: the scored report, the raw drive, and the take-overs."""

    report: "EvalReport"
    drive: DriveResult
    interventions: list[Intervention]
    files: dict[str, Path] = field(default_factory=dict)


class _Scorer:
    """The `on_step` callback of the wire client: detect, hand back, film, show progress, stop at the time limit."""

    def __init__(self, world: World, config: EvalConfig, video: Callable[[World, StepInfo, Command], None] | None):
        self.world, self.config, self.video = world, config, video
        self.detector = InterventionDetector(world.track.half_width_m, config.interventions)
        self.interventions: list[Intervention] = []
        self.steps = 0
        self.limit_s = config.time_limit_s(world.track.length_m)
        total = config.laps * world.track.length_m
        self.bar = tqdm(total=round(total), unit="m", desc=f"evaluating {config.label} on {world.track.name}",
                        disable=not config.progress, leave=False)
        self._shown = 0

    def __call__(self, world: World, info: StepInfo, command: Command) -> bool:
        intervention = self.detector.run(self.steps, info)
        self.steps += 1
        if self.video is not None:
            self.video(world, info, command)
        if intervention is not None:
            self.interventions.append(intervention)
            log.debug("intervention %d (%s) at %.1f s, CTE %.2f m", len(self.interventions), intervention.reason,
                      intervention.time_s, intervention.cte_m)
            world.reset_to_centre(self.config.interventions.reset_speed_mph)
            self.detector.handed_back(info.time_s, world.distance_along_m)
        shown = min(round(world.distance_along_m), self.bar.total or 0)
        if shown > self._shown:
            self.bar.update(shown - self._shown)
            self._shown = shown
            self.bar.set_postfix(laps=world.laps_completed, interventions=len(self.interventions), refresh=False)
        return info.time_s >= self.limit_s

    def close(self) -> None:
        self.bar.close()


@contextlib.contextmanager
def _server_port(checkpoint: str | Path | None, config: EvalConfig) -> Iterator[tuple[int, str]]:
    """The port to drive against: `config.port`, or an in-process drive server for `checkpoint`."""
    if config.port is not None:
        yield config.port, f"drive server at {config.host}:{config.port}"
        return
    if checkpoint is None:
        raise ValueError("evaluate: give a checkpoint to serve, or the port of a running drive server (--port)")
    # the simulator package never needs the server otherwise
    from steering.drive import ControlConfig, DriveConfig, TransportConfig, running_server

    control = ControlConfig() if config.speed_mph is None else ControlConfig(target_speed=config.speed_mph)
    drive = DriveConfig(transport=TransportConfig(host=config.host, port=0), stats_every=0,  # port 0: any free port
                        control=control)
    with running_server(checkpoint, drive) as server:
        yield server.port, (f"in-process drive server ({server.model.describe()}), "
                            f"target {drive.control.target_speed:g} mph")


def evaluate(checkpoint: str | Path | None, config: EvalConfig | None = None) -> EvalResult:
    """Drive `config.laps` laps of `config.track` with `checkpoint` (or the server on `config.port`) and score it.

    Raises SimClientError when the server cannot be reached or stalls, CheckpointError for a
    checkpoint that does not load, OSError when the out folder cannot be written."""
    from steering.sim.report import build_report, write_outputs
    from steering.sim.report_video import DriveVideo

    config = config or EvalConfig()
    if not config.label:
        label = Path(checkpoint).name if checkpoint is not None else f"port {config.port}"
        config = dataclasses.replace(config, label=label)
    if config.video and config.out_dir is None:
        raise ValueError("evaluate: --video needs an output folder (--out DIR)")
    world = World(WorldConfig(track=config.track, seed=config.seed))
    video = DriveVideo(Path(config.out_dir) / "drive.mp4") if config.video else None
    scorer = _Scorer(world, config, video.run if video else None)
    try:
        with _server_port(checkpoint, config) as (port, server_description):
            client = SimClient(world, ClientConfig(host=config.host, port=port,
                                                   pacing="wallclock" if config.wallclock else "fixed"))
            drive = client.run(laps=config.laps, on_step=scorer)
    finally:
        scorer.close()
        if video is not None:
            video.shutdown()
    report = build_report(config, world, drive, scorer.interventions, checkpoint, server_description)
    files = write_outputs(report, config, world.track, drive, scorer.interventions) if config.out_dir else {}
    log.info("%s on %s: autonomy %.1f %%, %d interventions, %d laps, mean |CTE| %.2f m", report.model, report.track,
             report.autonomy_pct, report.interventions, report.laps_completed, report.mean_abs_cte_m)
    return EvalResult(report, drive, scorer.interventions, files)


def drive_locally(pilot: Callable[[World], tuple[float, float]], config: EvalConfig | None = None) -> EvalResult:
    """Score a pilot that is a plain function of the world (e.g. the expert), with no socket.

    The same detector, hand-back and report as `evaluate`; for reference scores and tests of the
    scoring itself. Models are evaluated through `evaluate`, over the wire."""
    from steering.sim.report import build_report, write_outputs

    config = config or EvalConfig()
    config = dataclasses.replace(config, label=config.label or "local pilot")
    world = World(WorldConfig(track=config.track, seed=config.seed))
    scorer = _Scorer(world, config, None)
    drive = DriveResult(stop_reason="")
    started = time.perf_counter()
    target_m = config.laps * world.track.length_m
    try:
        while world.distance_along_m < target_m:
            steering, throttle = pilot(world)
            command = Command(max(-1.0, min(1.0, steering)), max(-1.0, min(1.0, throttle)))
            info = world.step(command.steering, command.throttle)
            drive.steps.append(info)
            drive.commands.append(command)
            if scorer(world, info, command):
                drive.stop_reason = "on_step"
                break
        drive.stop_reason = drive.stop_reason or "laps"
    finally:
        scorer.close()
        drive.wall_s = time.perf_counter() - started
    report = build_report(config, world, drive, scorer.interventions, None, "local pilot (no socket)")
    files = write_outputs(report, config, world.track, drive, scorer.interventions) if config.out_dir else {}
    return EvalResult(report, drive, scorer.interventions, files)


def mean_speed_mph(steps: Sequence[StepInfo]) -> float:
    return float(np.mean([s.speed_mph for s in steps])) if steps else 0.0


def abs_cte_stats(steps: Sequence[StepInfo]) -> tuple[float, float]:
    """(mean, max) |CTE| in metres over the steps; (nan, nan) without steps."""
    if not steps:
        return math.nan, math.nan
    values = np.abs([s.cte_m for s in steps])
    return float(values.mean()), float(values.max())
