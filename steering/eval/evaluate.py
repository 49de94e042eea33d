"""Closed-loop evaluation: drive a model round a simulated track through the real wire protocol and score it.

    from steering.eval import EvalConfig, evaluate
    result = evaluate("model.pt", EvalConfig(track="mountain", laps=1, out_dir="eval/"))
    result.report.autonomy_pct, result.report.mean_abs_cte_m
    evaluate(("a.pt", "b.pt"), EvalConfig(tta="flip"))   # an ensemble, each member also on the mirrored frame

`evaluate` starts the drive server in-process (`steering.drive.running_server`, the code behind
`python drive.py`) unless `EvalConfig.port` names one that already runs, and lets the simulator's
wire client (`steering.sim.client.SimClient`) drive `laps` laps. Every applied reply goes through
an `InterventionDetector` (`steering.eval.scoring`); an intervention puts the car back on the
centre line, facing along the track, as a safety driver would. Time is simulated time: in lock step
(`pacing="fixed"`, the default) one reply = one `WorldConfig.dt`, so a score does not depend on how
fast the machine is and only `frames_per_s` is wall clock; with `pacing="realtime"` the world moves
by the server's measured round trip (whole simulator frames), so the score includes the machine's
latency and the report names the machine.

Step observers see every applied step (`on_step(world, info, command)`, then `close()`): the MP4
writer (`steering.eval.video.DriveVideo`) is one; a caller can pass more (a live monitor, a logger).
Files written: report.json, trajectory.csv and trajectory.png (and drive.mp4).
"""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from tqdm import tqdm

from steering.eval.config import EvalConfig
from steering.eval.plots import plot_trajectory
from steering.eval.report import EvalReport, build_report
from steering.eval.scoring import Intervention, InterventionDetector
from steering.eval.video import DriveVideo
from steering.sim.client import ClientConfig, SimClient
from steering.sim.render import CameraConfig
from steering.sim.session import Command, DriveResult
from steering.sim.tracks import Track
from steering.sim.world import StepInfo, World, WorldConfig

log = logging.getLogger(__name__)

# One model to drive: a checkpoint, or several (a tuple or list) steering as one ensemble.
ModelEntry = str | Path | Sequence[str | Path]

TRAJECTORY_COLUMNS = ("step", "time_s", "x", "y", "heading", "speed_mph", "cte_m", "progress_m", "distance_along_m",
                      "laps", "command_steering", "command_throttle", "intervention")


def entry_paths(entry: ModelEntry) -> list[Path]:
    """The checkpoint files of one model entry."""
    return [Path(entry)] if isinstance(entry, (str, Path)) else [Path(p) for p in entry]


def entry_name(entry: ModelEntry, name: Callable[[Path], str] = lambda p: p.name) -> str:
    """`a.pt`, or `a.pt+b.pt` for an ensemble (the command line's spelling)."""
    return "+".join(name(p) for p in entry_paths(entry))


class StepObserver(Protocol):
    """Sees every step the car applied; `close()` once the drive ends (also after an error)."""

    def on_step(self, world: World, info: StepInfo, command: Command) -> None: ...
    def close(self) -> None: ...


@dataclass
class EvalResult:
    """What `evaluate` returns: the scored report, the raw drive, and the take-overs."""

    report: EvalReport
    drive: DriveResult
    interventions: list[Intervention]
    files: dict[str, Path] = field(default_factory=dict)


class _Scorer:
    """The wire client's `on_step`: detect, hand back, tell observers, show progress, stop at the limit."""

    def __init__(self, world: World, config: EvalConfig, observers: Sequence[StepObserver] = ()):
        self.world, self.config, self.observers = world, config, list(observers)
        self.detector = InterventionDetector(world.track.half_width_m, config.interventions,
                                             half_width_at=world.track.half_width_at)
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
        for observer in self.observers:
            observer.on_step(world, info, command)
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
        for observer in self.observers:
            observer.close()


@contextlib.contextmanager
def _server_port(checkpoint: ModelEntry | None, config: EvalConfig) -> Iterator[tuple[int, str, float | None]]:
    """(port, description, target speed) to drive against: `config.port`, or an in-process server for `checkpoint`."""
    if config.port is not None:
        if config.monitor:
            raise ValueError("evaluate: --monitor serves the in-process server; with --port, start that drive.py "
                             "with --monitor instead")
        if config.tta != "none":
            raise ValueError("evaluate: --tta applies to the in-process server; with --port, start that drive.py "
                             "with --tta instead")
        yield config.port, f"drive server at {config.host}:{config.port}", config.speed_mph
        return
    if checkpoint is None:
        raise ValueError("evaluate: give a checkpoint to serve, or the port of a running drive server (--port)")
    # the in-process drive server only when a checkpoint is served here: eventlet stays out of the
    # evaluator for `--port` drives and of everything that only imports it (the study, the suite's report)
    from steering.drive import ControlConfig, DriveConfig, TransportConfig, running_server
    from steering.drive.monitor import Monitor, MonitorConfig
    from steering.inference import InferenceConfig

    paths = entry_paths(checkpoint)
    control = ControlConfig() if config.speed_mph is None else ControlConfig(target_speed=config.speed_mph)
    drive = DriveConfig(transport=TransportConfig(host=config.host, port=0), control=control, stats_every=0,
                        inference=InferenceConfig(tta=config.tta))
    # The monitor's saliency overlay explains one checkpoint: an ensemble's first member.
    monitor = Monitor(MonitorConfig(enabled=True, port=config.monitor_port), paths[0]) if config.monitor else None
    with running_server(paths, drive, sinks=[monitor.sink] if monitor else None) as server:
        try:
            if monitor is not None:
                monitor.start(server)  # logs the page's address
            yield (server.port, f"in-process drive server ({server.model.describe()}), "
                                f"target {control.target_speed:g} mph", control.target_speed)
        finally:
            if monitor is not None:
                monitor.stop()


def evaluate(checkpoint: ModelEntry | None, config: EvalConfig | None = None,
             observers: Sequence[StepObserver] = ()) -> EvalResult:
    """Drive `config.laps` laps of `config.track` with `checkpoint` (or the server on `config.port`) and score it.

    `checkpoint` may be a tuple or list of checkpoints: one ensemble (`steering.inference.ensemble`).
    Raises SimClientError when the server cannot be reached or stalls, CheckpointError for a
    checkpoint that does not load, OSError when the out folder cannot be written, ValueError for
    ensemble members that preprocess differently."""
    config = config or EvalConfig()
    if not config.label:
        label = entry_name(checkpoint) if checkpoint is not None else f"port {config.port}"
        config = dataclasses.replace(config, label=label)
    if config.video and config.out_dir is None:
        raise ValueError("evaluate: --video needs an output folder (--out DIR)")
    world = World(WorldConfig(track=config.track, seed=config.seed, perturb=config.perturb,
                              camera=CameraConfig.named(config.camera)))
    observers = [*observers, *([DriveVideo(Path(config.out_dir) / "drive.mp4")] if config.video else [])]
    scorer = _Scorer(world, config, observers)
    try:
        with _server_port(checkpoint, config) as (port, server_description, target_speed):
            client = SimClient(world, ClientConfig(host=config.host, port=port, pacing=config.pacing,
                                                   frame_s=config.frame_s))
            drive = client.run(laps=config.laps, on_step=scorer)
    finally:
        scorer.close()
    shown = "+".join(map(str, entry_paths(checkpoint))) if checkpoint is not None else None
    report = build_report(config, world, drive, scorer.interventions, shown, server_description, target_speed)
    files = write_outputs(report, config, world.track, drive, scorer.interventions) if config.out_dir else {}
    log.info("%s on %s: autonomy %.1f %%, %d interventions, %d laps, mean |CTE| %.2f m", report.model, report.track,
             report.autonomy_pct, report.interventions, report.laps_completed, report.mean_abs_cte_m)
    return EvalResult(report, drive, scorer.interventions, files)


def drive_locally(pilot: Callable[[World], tuple[float, float]], config: EvalConfig | None = None) -> EvalResult:
    """Score a pilot that is a plain function of the world (e.g. the expert), with no socket.

    The same detector, hand-back and report as `evaluate`; for reference scores and tests of the
    scoring itself. Models are evaluated through `evaluate`, over the wire."""
    config = config or EvalConfig()
    config = dataclasses.replace(config, label=config.label or "local pilot")
    world = World(WorldConfig(track=config.track, seed=config.seed, perturb=config.perturb,
                              camera=CameraConfig.named(config.camera)))
    scorer = _Scorer(world, config)
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


def write_trajectory_csv(path: Path, drive: DriveResult, interventions: Sequence[Intervention]) -> Path:
    taken = {iv.step: iv.reason for iv in interventions}
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(TRAJECTORY_COLUMNS)
        for i, (s, c) in enumerate(zip(drive.steps, drive.commands, strict=False)):
            writer.writerow([i, f"{s.time_s:.4f}", f"{s.x:.4f}", f"{s.y:.4f}", f"{s.heading:.5f}", f"{s.speed_mph:.3f}",
                             f"{s.cte_m:.4f}", f"{s.progress_m:.3f}", f"{s.distance_along_m:.3f}", s.laps_completed,
                             f"{c.steering:.5f}", f"{c.throttle:.5f}", taken.get(i, "")])
    return path


def write_outputs(report: EvalReport, config: EvalConfig, track: Track, drive: DriveResult,
                  interventions: Sequence[Intervention]) -> dict[str, Path]:
    """report.json, trajectory.csv and trajectory.png in `config.out_dir`; returns their paths."""
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "trajectory_csv": write_trajectory_csv(out / "trajectory.csv", drive, interventions),
        "trajectory_png": plot_trajectory(
            track,
            drive.steps,
            interventions,
            out / "trajectory.png",
            title=f"{report.model} on {track.name}: autonomy {report.autonomy_pct:.1f} %, "
            f"{report.interventions} interventions",
        ),
    }
    if config.video:
        files["video"] = out / "drive.mp4"
    report.files = {name: str(path) for name, path in files.items()}
    files["report"] = out / "report.json"
    report.files["report"] = str(files["report"])
    files["report"].write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    return files
