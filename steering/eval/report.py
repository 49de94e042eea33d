"""The evaluation report: its numbers (`EvalReport`), reading it back, and the markdown table.

`build_report` turns a drive (the wire client's `DriveResult`) and its interventions into an
`EvalReport`; `markdown_table` lines up several reports for comparisons and the demo. Scoring
rules live in `steering.eval.scoring`; the files of one drive are written by `steering.eval.evaluate`.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from steering.eval.config import EvalConfig
from steering.eval.scoring import Intervention, abs_cte_stats, autonomy_percent, mean_speed_mph, steering_smoothness
from steering.sim.session import DriveResult
from steering.sim.world import World

REPORT_VERSION = 1


@dataclass
class EvalReport:
    """Scores of one drive. Times are simulated seconds except `wall_s` and `frames_per_s`."""

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
    intervention_list: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    version: int = REPORT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "EvalReport":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"report.json has unknown field(s) {', '.join(unknown)}; written by a newer version?")
        return cls(**values)

    def summary(self) -> str:
        return (f"{self.model} on {self.track}: autonomy {self.autonomy_pct:.1f} % ({self.interventions} interventions "
                f"in {self.elapsed_s:.0f} s), {self.laps_completed}/{self.laps_requested:g} laps, mean |CTE| "
                f"{self.mean_abs_cte_m:.2f} m (max {self.max_abs_cte_m:.2f}), {self.mean_speed_mph:.1f} mph, "
                f"smoothness {self.steering_smoothness:.4f}, {self.frames_per_s:.0f} frames/s")


def build_report(config: EvalConfig, world: World, drive: DriveResult, interventions: Sequence[Intervention],
                 checkpoint: str | Path | None, server: str) -> EvalReport:
    """Score `drive`: every number comes from the steps the simulator applied."""
    steps = drive.steps
    elapsed = len(steps) * world.config.dt
    mean_cte, max_cte = abs_cte_stats(steps)
    reasons = [iv.reason for iv in interventions]
    penalty = config.interventions.penalty_s
    return EvalReport(
        model=config.label, track=world.track.name, laps_requested=config.laps, laps_completed=world.laps_completed,
        autonomy_pct=autonomy_percent(len(interventions), elapsed, penalty) if steps else 0.0,
        interventions=len(interventions), interventions_off_road=reasons.count("off_road"),
        interventions_no_progress=reasons.count("no_progress"), elapsed_s=elapsed,
        distance_m=world.distance_along_m, mean_abs_cte_m=mean_cte, max_abs_cte_m=max_cte,
        mean_speed_mph=mean_speed_mph(steps), steering_smoothness=steering_smoothness([c.steering for c in drive.commands]),
        steps=len(steps), frames_per_s=len(steps) / drive.wall_s if drive.wall_s > 0 else math.nan, wall_s=drive.wall_s,
        penalty_s=penalty, road_half_width_m=world.track.half_width_m, stop_reason=drive.stop_reason,
        checkpoint=str(checkpoint) if checkpoint is not None else "", server=server,
        intervention_list=[dataclasses.asdict(iv) for iv in interventions],
    )


def read_report(path: str | Path) -> EvalReport:
    """An EvalReport from a report.json written by `write_outputs`."""
    return EvalReport.from_dict(json.loads(Path(path).read_text()))


def markdown_table(reports: Sequence[EvalReport]) -> str:
    """One row per (model, track): the numbers people compare, as a GitHub markdown table."""
    header = ("| model | track | autonomy % | interventions | laps | mean abs CTE m | max abs CTE m | mean speed mph "
              "| steering smoothness | frames/s |")
    rule = "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    rows = [f"| {r.model} | {r.track} | {r.autonomy_pct:.1f} | {r.interventions} | {r.laps_completed}/{r.laps_requested:g} "
            f"| {r.mean_abs_cte_m:.2f} | {r.max_abs_cte_m:.2f} | {r.mean_speed_mph:.1f} | {r.steering_smoothness:.4f} "
            f"| {r.frames_per_s:.0f} |" for r in reports]
    return "\n".join([header, rule, *rows]) + "\n"
