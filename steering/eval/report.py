"""The evaluation report: its numbers (`EvalReport`), reading it back, and the markdown table.

`build_report` turns a drive (the wire client's `DriveResult`) and its interventions into an
`EvalReport`; `markdown_table` lines up several reports for comparisons and the demo. Scoring
rules live in `steering.eval.scoring`; the files of one drive are written by `steering.eval.evaluate`.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from steering.eval.config import EvalConfig
from steering.eval.scoring import Intervention, abs_cte_stats, autonomy_percent, mean_speed_mph, steering_smoothness
from steering.sim.session import DriveResult
from steering.sim.world import World

REPORT_VERSION = 2  # 2: pacing, target speed, control rate, round trips, machine


@dataclass
class EvalReport:
    """Scores of one drive. Times are simulated seconds except `wall_s`, `frames_per_s` and the round trips."""

    model: str  # label (checkpoint file name by default)
    track: str
    laps_requested: float
    laps_completed: int
    autonomy_pct: float  # PilotNet: (1 - interventions * penalty_s / elapsed_s) * 100
    interventions: int
    interventions_off_road: int
    interventions_no_progress: int
    elapsed_s: float  # simulated time driven
    distance_m: float  # along the centre line
    mean_abs_cte_m: float
    max_abs_cte_m: float
    mean_speed_mph: float
    steering_smoothness: float  # mean |change of the steering command| per step
    steps: int
    frames_per_s: float  # replies applied per wall-clock second (server + simulator + scoring)
    wall_s: float
    penalty_s: float
    road_half_width_m: float
    stop_reason: str  # "laps" when the drive finished; "on_step" = time limit reached
    checkpoint: str = ""
    server: str = ""
    pacing: str = "fixed"  # "fixed" (lock step), "realtime" or "wallclock": see steering.sim.client
    target_speed_mph: float | None = None  # the drive server's target; None = not known (a server on --port)
    control_hz: float | None = None  # replies applied per simulated second (15 in lock step); None = no steps
    round_trip_p50_ms: float | None = None  # wall time from telemetry to reply (the server's latency); None = none
    round_trip_p99_ms: float | None = None
    machine: str = ""  # CPU model and cores: real-time scores depend on them
    perturb: str = "none"  # the camera perturbations driven under (steering.perturb.PerturbPlan), "none" = clean
    intervention_list: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    version: int = REPORT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> EvalReport:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"report.json has unknown field(s) {', '.join(unknown)}; written by a newer version?")
        return cls(**values)

    def summary(self) -> str:
        return (f"{self.model} on {self.track}: autonomy {self.autonomy_pct:.1f} % ({self.interventions} interventions "
                f"in {self.elapsed_s:.0f} s), {self.laps_completed}/{self.laps_requested:g} laps, mean |CTE| "
                f"{self.mean_abs_cte_m:.2f} m (max {self.max_abs_cte_m:.2f}), {self.mean_speed_mph:.1f} mph, "
                f"smoothness {self.steering_smoothness:.4f}, {self.frames_per_s:.0f} frames/s, {self.pacing} pacing: "
                f"{fmt(self.control_hz)} replies per simulated s, round trip p50 {fmt(self.round_trip_p50_ms)} ms "
                f"p99 {fmt(self.round_trip_p99_ms)} ms"
                + (f", camera under {self.perturb}" if self.perturb != "none" else ""))


def fmt(value: float | None, digits: int = 1) -> str:
    """A table number: "-" for one not measured (None or NaN)."""
    return "-" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def machine_description() -> str:
    """`AMD EPYC 7B13, 2 cores`: the CPU model (from /proc/cpuinfo where there is one) and usable cores."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{model or platform.processor() or platform.machine() or 'unknown CPU'}, {cores} cores"


def round_trip_percentiles_ms(round_trips_s: Sequence[float]) -> tuple[float | None, float | None]:
    """(p50, p99) in milliseconds of the round trips (seconds); (None, None) without any."""
    if not round_trips_s:
        return None, None
    p50, p99 = np.percentile(np.asarray(round_trips_s, dtype=np.float64) * 1000.0, [50, 99])
    return float(p50), float(p99)


def build_report(config: EvalConfig, world: World, drive: DriveResult, interventions: Sequence[Intervention],
                 checkpoint: str | Path | None, server: str, target_speed_mph: float | None = None) -> EvalReport:
    """Score `drive`: every number comes from the steps the simulator applied."""
    steps = drive.steps
    elapsed = steps[-1].time_s if steps else 0.0  # a step is not one dt with realtime pacing
    p50, p99 = round_trip_percentiles_ms(drive.round_trip_s)
    mean_cte, max_cte = abs_cte_stats(steps)
    reasons = [iv.reason for iv in interventions]
    penalty = config.interventions.penalty_s
    return EvalReport(
        model=config.label,
        track=world.track.name,
        laps_requested=config.laps,
        laps_completed=world.laps_completed,
        autonomy_pct=autonomy_percent(len(interventions), elapsed, penalty) if steps else 0.0,
        interventions=len(interventions),
        interventions_off_road=reasons.count("off_road"),
        interventions_no_progress=reasons.count("no_progress"),
        elapsed_s=elapsed,
        distance_m=world.distance_along_m,
        mean_abs_cte_m=mean_cte,
        max_abs_cte_m=max_cte,
        mean_speed_mph=mean_speed_mph(steps),
        steering_smoothness=steering_smoothness([c.steering for c in drive.commands]),
        steps=len(steps),
        frames_per_s=len(steps) / drive.wall_s if drive.wall_s > 0 else math.nan,
        wall_s=drive.wall_s,
        penalty_s=penalty,
        road_half_width_m=world.track.half_width_m,
        stop_reason=drive.stop_reason,
        perturb=str(config.perturb),
        checkpoint=str(checkpoint) if checkpoint is not None else "",
        server=server,
        intervention_list=[dataclasses.asdict(iv) for iv in interventions],
        pacing=config.pacing,
        target_speed_mph=target_speed_mph,
        control_hz=len(steps) / elapsed if elapsed > 0 else None,
        round_trip_p50_ms=p50,
        round_trip_p99_ms=p99,
        machine=machine_description(),
    )


def read_report(path: str | Path) -> EvalReport:
    """An EvalReport from a report.json written by `write_outputs`."""
    return EvalReport.from_dict(json.loads(Path(path).read_text()))


def markdown_table(reports: Sequence[EvalReport]) -> str:
    """One row per (model, track): the numbers people compare, as a GitHub markdown table. Real-time
    scores depend on the machine, so when a report is not lock step a line under the table names it."""
    header = ("| model | track | autonomy % | interventions | laps | mean abs CTE m | max abs CTE m | mean speed mph "
              "| steering smoothness | frames/s | pacing | replies per sim s | round trip p50/p99 ms |")
    rule = "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|"
    rows = [
        f"| {r.model} | {r.track} | {r.autonomy_pct:.1f} | {r.interventions} | {r.laps_completed}/{r.laps_requested:g} "
        f"| {r.mean_abs_cte_m:.2f} | {r.max_abs_cte_m:.2f} | {r.mean_speed_mph:.1f} | {r.steering_smoothness:.4f} "
        f"| {r.frames_per_s:.0f} | {r.pacing} | {fmt(r.control_hz)} "
        f"| {fmt(r.round_trip_p50_ms)}/{fmt(r.round_trip_p99_ms)} |"
        for r in reports
    ]
    return "\n".join([header, rule, *rows]) + "\n" + machine_note(reports)


def machine_note(reports: Sequence[EvalReport]) -> str:
    """`\nReal-time rows ran on AMD EPYC ..., 2 cores.\n` when any report is not lock step, else ""."""
    machines = sorted({r.machine or "an unnamed machine" for r in reports if r.pacing != "fixed"})
    return f"\nReal-time rows ran on {'; '.join(machines)}.\n" if machines else ""
