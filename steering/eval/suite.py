"""The evaluation suite: a fixed set of drives per model, one table, one plot, one score.

    python -m steering.eval suite runs/pilotnet/best.pt runs/weak/best.pt --out runs/suite [--quick]

Rows (`suite_rows`): the training track (3 laps), the held-out track (1 lap) and the challenge track
(1 lap), each at 15 and 25 mph target speed, in lock step (`pacing="fixed"`: one 1/15 s step per
reply, the same on any machine) and in real time (`pacing="realtime"`: the world moves by the
server's measured round trip, so a slow model steers less often, as on the Unity simulator); then
the target rows: held-out and challenge at 20 mph in real time (target: at least 98 % autonomy),
the training track at 30 mph in real time (target: 100 %); then the robustness rows: the held-out
track at 20 mph in real time under a fixed few camera perturbations (`ROBUSTNESS_ROWS`; one trained on
by `--augment robust`, two held out from it, steering.perturb.splits), so a model that drives every
clean row still has something to lose (`--no-robustness` leaves them out).

Score: the mean autonomy % (PilotNet, `steering.eval.scoring`) over all rows, one number per model;
every row counts the same whatever its length. Real-time rows depend on the machine, so the table
and suite.json name it (CPU model and cores). The corruption score is the mean over the robustness rows.

`--real LOG...` adds each model's figures on real Unity recordings (`steering.eval.real`: steering against
the human's, and NVIDIA's replay of the recording), so a 100 % in the project's own renderer is never read
without how the model steers on the simulator's own frames.

Files in `out`: suite.md (the table), suite.png (the plot), suite.json (rows, scores, machine,
every report), and `<model>/<row>/report.json` with the trajectory files of every drive.
`--quick` keeps the same rows at one speed with short distances and no target or robustness rows (tests);
`SuiteConfig.demo()` is the selection `python -m steering.demo` drives (lock step, the target and the
robustness rows).
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from steering.eval.compare import folder_name, model_labels, require_models
from steering.eval.config import EvalConfig
from steering.eval.evaluate import ModelEntry, evaluate
from steering.eval.offline import json_ready
from steering.eval.plots import plot_suite
from steering.eval.real import RealConfig, RealResult, score_real
from steering.eval.report import EvalReport, fmt, machine_description
from steering.perturb import PerturbPlan
from steering.sim.tracks import list_tracks

log = logging.getLogger(__name__)

# The challenge track once the simulator has one; until then the short test loop stands in.
CHALLENGE_TRACK = "challenge" if "challenge" in list_tracks() else "oval"
PACING_NAMES = {"fixed": "lock step", "realtime": "real time", "wallclock": "wall clock"}
# (role, speed, pacing, --perturb text): severity 5, the top of ImageNet-C's range, where the demo model (trained
# with --augment robust) loses part of a lap but not all (docs/robustness.md); jpeg_compression is in --augment
# robust's training set, spatter (image space) and sun_glare (rendered) are held out
ROBUSTNESS_ROWS: tuple[tuple[str, float, str, str], ...] = (
    ("held-out", 20, "realtime", "jpeg_compression:5"), ("held-out", 20, "realtime", "spatter:5"),
    ("held-out", 20, "realtime", "sun_glare:5"))


@dataclass(frozen=True)
class SuiteRow:
    """One drive every model gets: where, how far, how fast, how time passes, and any pass mark."""

    role: str  # "training", "held-out" or "challenge"
    track: str
    laps: float
    speed_mph: float  # the drive server's target speed
    pacing: str  # "fixed" (lock step) or "realtime"
    target_pct: float | None = None  # a target row: autonomy must reach this
    perturb: str = ""  # a robustness row: the camera under these `--perturb` conditions (NAME:SEV[,...])

    @property
    def name(self) -> str:
        """Folder and JSON key: `lake-15mph-fixed`; a track file `tracks/hills.json` gives `hills-15mph-fixed`;
        a robustness row adds its conditions: `mountain-20mph-realtime-sun_glare-5`."""
        track = Path(self.track).stem if self.track.endswith(".json") else self.track
        conditions = "".join(f"-{c.name}-{c.severity}" for c in PerturbPlan.parse(self.perturb).conditions)
        return f"{track}-{self.speed_mph:g}mph-{self.pacing}{conditions}"

    def meets_target(self, autonomy_pct: float) -> bool | None:
        return None if self.target_pct is None else autonomy_pct >= self.target_pct - 1e-9


@dataclass(frozen=True)
class SuiteConfig:
    """Which tracks and distances, speeds, pacings and target rows; `base` carries every other evaluation setting."""

    training_track: str = "lake"
    held_out_track: str = "mountain"
    challenge_track: str = CHALLENGE_TRACK
    laps: tuple[float, float, float] = (3.0, 1.0, 1.0)  # training, held-out, challenge
    speeds_mph: tuple[float, ...] = (15, 25)  # mph (whole numbers: 25.0 would read as the steering lock)
    pacings: tuple[str, ...] = ("fixed", "realtime")
    # (role, speed, pacing, autonomy target %): the goals the demo model is held to
    targets: tuple[tuple[str, float, str, float], ...] = (
        ("held-out", 20, "realtime", 98.0), ("challenge", 20, "realtime", 98.0), ("training", 30, "realtime", 100.0))
    robustness: tuple[tuple[str, float, str, str], ...] = ROBUSTNESS_ROWS  # () = none (--no-robustness)
    real: tuple[Path, ...] = ()  # real Unity recordings to score every model on beside the rows (--real)
    out_dir: Path = Path("runs/suite")
    base: EvalConfig = field(default_factory=lambda: EvalConfig(progress=False))

    @classmethod
    def quick(cls, **overrides) -> SuiteConfig:
        """Every track and pacing at one speed over a few metres, no target or robustness rows: for tests."""
        values = {"laps": (0.06, 0.04, 0.1), "speeds_mph": (15.0,), "targets": (), "robustness": ()}
        return cls(**{**values, **overrides})

    @classmethod
    def demo(cls, **overrides) -> SuiteConfig:
        """The rows `make demo` has time for on 2 cores: every track at both speeds in lock step, one lap
        each, then the real-time target rows and the robustness rows (the real-time rows at 15 and 25 mph are
        left out)."""
        values = {"laps": (1.0, 1.0, 1.0), "pacings": ("fixed",)}
        return cls(**{**values, **overrides})

    def tracks(self) -> list[tuple[str, str, float]]:
        return [("training", self.training_track, self.laps[0]), ("held-out", self.held_out_track, self.laps[1]),
                ("challenge", self.challenge_track, self.laps[2])]


def suite_rows(config: SuiteConfig) -> list[SuiteRow]:
    """The rows in table order: each track x speed x pacing, then the target rows, then the robustness rows."""
    rows = [SuiteRow(role, track, laps, speed, pacing) for role, track, laps in config.tracks()
            for speed in config.speeds_mph for pacing in config.pacings]
    by_role = {role: (track, laps) for role, track, laps in config.tracks()}
    for role, speed, pacing, target in config.targets:
        track, laps = by_role[role]
        rows.append(SuiteRow(role, track, laps, speed, pacing, target))
    for role, speed, pacing, perturb in config.robustness:
        track, laps = by_role[role]
        rows.append(SuiteRow(role, track, laps, speed, pacing, perturb=perturb))
    names = [r.name for r in rows]
    duplicate = sorted({n for n in names if names.count(n) > 1})
    if duplicate:
        raise ValueError(f"suite rows must differ (same track, speed and pacing twice: {', '.join(duplicate)})")
    return rows


def row_eval_config(config: SuiteConfig, row: SuiteRow, label: str) -> EvalConfig:
    """The evaluation of `row` for the model `label`: `config.base` on the row's track, distance, speed and
    pacing; a robustness row's conditions come after any the whole suite runs under (`--perturb`)."""
    perturb = PerturbPlan(config.base.perturb.conditions + PerturbPlan.parse(row.perturb).conditions)
    return replace(config.base, track=row.track, laps=row.laps, speed_mph=row.speed_mph, pacing=row.pacing,
                   label=label, port=None, perturb=perturb,
                   out_dir=Path(config.out_dir) / folder_name(label) / row.name)


def robustness_reports(rows: Sequence[SuiteRow], reports: Sequence[EvalReport]) -> list[EvalReport]:
    """The reports of the rows under a perturbation (what the corruption score averages)."""
    return [rep for row, rep in zip(rows, reports, strict=False) if row.perturb]


def suite_score(reports: Sequence[EvalReport]) -> float:
    """The suite's summary score of one model: mean autonomy % over its rows."""
    if not reports:
        raise ValueError("a suite score needs at least one row")
    return sum(r.autonomy_pct for r in reports) / len(reports)


@dataclass
class SuiteResult:
    rows: list[SuiteRow]
    labels: list[str]
    reports: dict[str, list[EvalReport]]  # label -> one report per row, in row order
    scores: dict[str, float]  # label -> mean autonomy %
    table: str
    files: dict[str, Path] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # label -> wall time of its rows
    real: RealResult | None = None  # the models on real recordings (--real), None without

    @property
    def corruption_scores(self) -> dict[str, float]:
        """label -> mean autonomy % over the robustness rows (empty when the suite has none)."""
        if not any(row.perturb for row in self.rows):
            return {}
        return {label: suite_score(robustness_reports(self.rows, runs)) for label, runs in self.reports.items()}


def run_suite(checkpoints: Sequence[ModelEntry], config: SuiteConfig | None = None,
              labels: Sequence[str] | None = None) -> SuiteResult:
    """Drive every checkpoint (a tuple or list of them: one ensemble) through every suite row; write suite.md,
    suite.png and suite.json."""
    config = config or SuiteConfig()
    require_models(checkpoints, "suite")
    labels = list(labels) if labels is not None else model_labels(checkpoints)
    if len(labels) != len(checkpoints) or len(set(labels)) != len(labels):
        raise ValueError(f"suite: need one distinct label per model, got {labels}")
    rows = suite_rows(config)
    out = Path(config.out_dir)
    reports: dict[str, list[EvalReport]] = {}
    seconds: dict[str, float] = {}
    for checkpoint, label in zip(checkpoints, labels, strict=False):
        started = time.perf_counter()
        reports[label] = []
        for row in rows:
            eval_config = row_eval_config(config, row, label)
            report = evaluate(checkpoint, eval_config).report
            log.info("suite %s %s: %s", label, row.name, report.summary())
            reports[label].append(report)
        seconds[label] = time.perf_counter() - started
    real = None
    if config.real:
        real = score_real(checkpoints, labels, RealConfig(logs=config.real, out_dir=out / "real",
                                                          progress=config.base.progress))
    return write_suite(rows, reports, out, seconds, real)


def write_suite(rows: Sequence[SuiteRow], reports: dict[str, list[EvalReport]], out_dir: str | Path,
                seconds: dict[str, float] | None = None, real: RealResult | None = None) -> SuiteResult:
    """suite.md, suite.png and suite.json for `reports` (label -> one report per row) in `out_dir`; with `real`,
    the models' figures on real recordings follow the table and go into suite.json."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for label, runs in reports.items():
        if len(runs) != len(rows):
            raise ValueError(f"suite: {label} has {len(runs)} reports for {len(rows)} rows")
    scores = {label: suite_score(runs) for label, runs in reports.items()}
    table = suite_table(rows, reports) + ("\n" + real.table if real else "")
    files = {"table": out / "suite.md", "plot": out / "suite.png", "json": out / "suite.json"}
    if real:
        files["real"] = real.files["table"]
    files["table"].write_text(table)
    plot_suite([r.name for r in rows], [r.target_pct for r in rows],
               {label: [r.autonomy_pct for r in runs] for label, runs in reports.items()}, scores, files["plot"])
    result = SuiteResult(list(rows), list(reports), reports, scores, table, files, dict(seconds or {}), real)
    summary = {
        "score": "mean autonomy % over all rows",
        "corruption_score": "mean autonomy % over the robustness rows (rows with a perturbation)",
        "machine": machine_description(),
        "rows": [{**asdict(r), "name": r.name} for r in rows],
        "scores": scores,
        "corruption_scores": result.corruption_scores,
        "seconds": seconds or {},
        "targets_met": {label: {r.name: r.meets_target(rep.autonomy_pct) for r, rep in zip(rows, runs, strict=False)
                                if r.target_pct is not None} for label, runs in reports.items()},
        "reports": {label: [rep.to_dict() for rep in runs] for label, runs in reports.items()},
    }
    if real:
        summary["real"] = json_ready(real.rows)
    files["json"].write_text(json.dumps(summary, indent=2) + "\n")
    return result


def suite_table(rows: Sequence[SuiteRow], reports: dict[str, list[EvalReport]]) -> str:
    """One markdown table: a line per (model, row) and a score line per model, with the score's definition
    and the machine in the header lines above it."""
    machines = sorted({rep.machine or "an unnamed machine" for runs in reports.values() for rep in runs
                       if rep.pacing != "fixed"})
    where = f", measured on {'; '.join(machines)}" if machines else ""
    lines = [f"Suite score = mean autonomy % over all {len(rows)} rows (PilotNet autonomy; higher is better). "
             f"Lock step: one 1/15 s step per reply; real time: the world moves by the measured round trip "
             f"in simulator frames{where}.", "",
             "| model | row | track | laps | target mph | pacing | autonomy % | target | interventions "
             "| mean abs CTE m | mean speed mph | replies per sim s | round trip p50/p99 ms |",
             "|---|---|---|---:|---:|---|---:|---|---:|---:|---:|---:|---:|"]
    for label, runs in reports.items():
        for row, rep in zip(rows, runs, strict=False):
            met = row.meets_target(rep.autonomy_pct)
            target = "" if met is None else f"{'met' if met else 'MISSED'} (>= {row.target_pct:g})"
            laps = f"{row.laps:g}" if rep.stop_reason == "laps" else f"{rep.laps_completed}/{row.laps:g} (time limit)"
            role = f"{row.role} under {row.perturb}" if row.perturb else row.role
            lines.append(f"| {label} | {role} | {row.track} | {laps} "
                         f"| {row.speed_mph:g} | {PACING_NAMES.get(row.pacing, row.pacing)} "
                         f"| {rep.autonomy_pct:.1f} | {target} "
                         f"| {rep.interventions} | {fmt(rep.mean_abs_cte_m, 2)} | {fmt(rep.mean_speed_mph)} "
                         f"| {fmt(rep.control_hz)} | {fmt(rep.round_trip_p50_ms)}/{fmt(rep.round_trip_p99_ms)} |")
        lines.append(f"| **{label}** | **score** (mean of {len(runs)} rows) | | | | | **{suite_score(runs):.1f}** "
                     f"| | {sum(r.interventions for r in runs)} | | | | |")
        robust = robustness_reports(rows, runs)
        if robust:
            failures = sum(r.interventions for r in robust)
            lines.append(f"| **{label}** | **corruption score** (mean of the {len(robust)} perturbed rows) "
                         f"| | | | | **{suite_score(robust):.1f}** | | {failures} | | | | |")
    return "\n".join(lines) + "\n"
