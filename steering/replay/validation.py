"""Is the replay a good instrument? Replay autonomy against true closed-loop autonomy, where both are known.

    python -m steering.replay.validation e1.pt e3.pt weak.pt constant:0 delayed:6:e3.pt \\
        runs/rec/driving_log.csv --track lake --speed 20 --out runs/replay_rank

The headless simulator can record a lap (`python -m steering.sim record`) and can also let each model drive
that track for real (`steering.eval.evaluate`, lock step). So for every model there are two scores: its
replay autonomy on the recording (`steering.replay.command.replay_models`, the headless car's rig) and its
closed-loop autonomy on the same track at the same speed. The instrument is good when it ranks the models as
the closed loop does (Spearman's rank correlation) and when every model that fails the closed loop (autonomy
below `fail_below`) also fails the replay: a replay pass must not hide a real failure.

Writes `validation.md` (table), `validation.json` (settings, rows, verdict) and `validation.png` (one point
per model, Spearman in the title) in `out_dir`; each closed-loop drive under `closed/<label>/` (or
`closed_dir`), the replay under `replay/`. With `reuse`, a closed-loop drive whose report.json is already
there is read, not driven again (another recording of the same track, other replay intervention limits).
The drives and the replay are left to `steering.eval` and `steering.replay.command`; this module pairs their
scores and judges them.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from steering.checkpoint import CheckpointError
from steering.cli import setup_logging
from steering.eval.cli_args import log_argument
from steering.eval.config import EvalConfig
from steering.eval.evaluate import evaluate
from steering.eval.scoring import InterventionConfig
from steering.replay.command import ReplayOptions, model_label, replay_models
from steering.replay.loop import ReplayConfig
from steering.sim.client import SimClientError
from steering.sim.tracks import get_track, list_tracks

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ValidationConfig:
    track: str = "lake"
    speed_mph: float = 20.0  # the closed loop's target speed; record the log at the same (--speed)
    laps: float = 1.0
    fail_below: float = 100.0  # a drive with autonomy below this fails: one take-over on a lap is a failure
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    simulator: str = "auto"  # the recording's simulator (steering.replay.rigs); a headless recording: headless
    out_dir: Path = Path("runs/replay_validation")
    reuse: bool = False  # read closed-loop reports already in closed_dir instead of driving again
    closed_dir: Path | None = None  # the closed-loop drives' folder; None = out_dir/closed (share it between logs)
    # The closed loop's take-over distance from the centre line; None = off the road (half the road width,
    # steering.eval.scoring), 1.0 = PilotNet's rule, the replay's own (without its heading limit).
    closed_max_offset_m: float | None = None
    progress: bool = True


@dataclass(frozen=True)
class ModelScores:
    """One model's two scores."""

    label: str
    spec: str
    closed_loop: float  # autonomy %, the headless simulator's closed loop
    closed_interventions: int
    replay: float  # autonomy %, the replay of the recording
    replay_interventions: int


@dataclass
class Verdict:
    spearman: float  # NaN when either score is the same for every model
    missed_failures: list[str]  # models failing the closed loop that pass the replay
    fail_below: float

    def passes(self, min_spearman: float = 0.8) -> bool:
        return self.spearman >= min_spearman and not self.missed_failures


def spearman(closed: Sequence[float], replayed: Sequence[float]) -> float:
    """Spearman's rank correlation (ties share their mean rank); NaN for fewer than 2 models or no spread."""
    if len(closed) < 2 or len(set(closed)) < 2 or len(set(replayed)) < 2:
        return math.nan
    return float(spearmanr(closed, replayed).statistic)


def missed_failures(rows: Sequence[ModelScores], fail_below: float) -> list[str]:
    """Labels of the models that fail the closed loop (autonomy < fail_below) and pass the replay."""
    return [r.label for r in rows if r.closed_loop < fail_below <= r.replay]


def judge(rows: Sequence[ModelScores], fail_below: float) -> Verdict:
    return Verdict(spearman([r.closed_loop for r in rows], [r.replay for r in rows]),
                   missed_failures(rows, fail_below), fail_below)


def markdown_table(rows: Sequence[ModelScores], verdict: Verdict) -> str:
    lines = ["| model | closed-loop autonomy % (interventions) | replay autonomy % (interventions) | both agree |",
             "|---|---:|---:|---|"]
    for r in rows:
        agree = (r.closed_loop < verdict.fail_below) == (r.replay < verdict.fail_below)
        lines.append(f"| {r.label} | {r.closed_loop:.1f} ({r.closed_interventions}) | {r.replay:.1f} "
                     f"({r.replay_interventions}) | {'yes' if agree else 'no'} |")
    missed = ", ".join(verdict.missed_failures) or "none"
    lines.append("")
    lines.append(f"Spearman rank correlation {verdict.spearman:.3f}; failing the closed loop (autonomy < "
                 f"{verdict.fail_below:g} %) but passing the replay: {missed}.")
    return "\n".join(lines) + "\n"


def plot_scatter(path: Path, rows: Sequence[ModelScores], verdict: Verdict, title: str) -> Path:
    import matplotlib  # optional plotting dependency, loaded only when a plot is written

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    ax.plot([0, 100], [0, 100], color="0.8", linewidth=1, zorder=0)
    ax.axvline(verdict.fail_below, color="0.85", linestyle=":", zorder=0)
    ax.axhline(verdict.fail_below, color="0.85", linestyle=":", zorder=0)
    places: dict[tuple[float, float], list[str]] = {}  # models on the same point share one label
    for r in rows:
        ax.scatter(r.closed_loop, r.replay, color="tab:red" if r.label in verdict.missed_failures else "tab:blue")
        places.setdefault((round(r.closed_loop, 1), round(r.replay, 1)), []).append(r.label)
    quadrants: dict[tuple[bool, bool], int] = {}  # labels in one corner of the plot get their own heights
    for (x, y), names in sorted(places.items()):
        corner = (x > 60, y > 50)
        lift = 5 + 11 * (quadrants.setdefault(corner, 0) % 4)
        quadrants[corner] += 1
        ax.annotate(", ".join(names), (x, y), textcoords="offset points", fontsize=7,
                    xytext=(-5 if x > 60 else 5, -lift if y > 50 else lift),
                    ha="right" if x > 60 else "left", va="top" if y > 50 else "bottom",
                    arrowprops={"arrowstyle": "-", "color": "0.7", "linewidth": 0.5})
    ax.set(xlim=(-5, 105), ylim=(-5, 105), xlabel="closed-loop autonomy % (headless simulator)",
           ylabel="replay autonomy % (recorded lap)")
    ax.set_title(f"{title}\nSpearman {verdict.spearman:.2f}; missed failures: "
                 f"{', '.join(verdict.missed_failures) or 'none'}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _closed_loop(spec: str, label: str, config: ValidationConfig) -> tuple[float, int]:
    out = (config.closed_dir or config.out_dir / "closed") / label
    report_path = out / "report.json"
    if config.reuse and report_path.is_file():
        report = json.loads(report_path.read_text())
        log.info("%s: closed loop read from %s", label, report_path)
        return float(report["autonomy_pct"]), int(report["interventions"])
    rules = InterventionConfig()
    if config.closed_max_offset_m is not None:  # the detector's limit is half the road's width plus a margin
        rules = InterventionConfig(off_road_margin_m=config.closed_max_offset_m - get_track(config.track).half_width_m)
    result = evaluate(spec, EvalConfig(track=config.track, laps=config.laps, speed_mph=config.speed_mph,
                                       out_dir=out, progress=config.progress, label=label, interventions=rules))
    return result.report.autonomy_pct, result.report.interventions


def validate(models: Sequence[str], log_path: Path, config: ValidationConfig,
             labels: Sequence[str] | None = None) -> tuple[list[ModelScores], Verdict, dict[str, Path]]:
    """Both instruments on every model; the table, JSON and scatter written to `config.out_dir`."""
    labels = list(labels) if labels else [model_label(m) for m in models]
    if len(labels) != len(models) or len(set(labels)) != len(labels):
        raise ValueError(f"one distinct label per model needed, got {labels} (name them with --labels)")
    if len({model_label(m) for m in models}) != len(models):  # the replay's report names each model so
        raise ValueError(f"models with the same file name: {list(models)}; copy or link them to distinct names")
    config.out_dir.mkdir(parents=True, exist_ok=True)
    closed = {label: _closed_loop(spec, label, config) for spec, label in zip(models, labels, strict=True)}
    options = ReplayOptions(out_dir=config.out_dir / "replay", loop=dataclasses.replace(
        config.replay, progress=config.progress), simulator=config.simulator)
    replayed = replay_models(models, [log_path], options).runs
    rows = [ModelScores(label, spec, closed[label][0], closed[label][1], replayed[model_label(spec)].autonomy,
                        len(replayed[model_label(spec)].interventions)) for spec, label in zip(models, labels,
                                                                                                strict=True)]
    verdict = judge(rows, config.fail_below)
    title = f"{config.track} at {config.speed_mph:g} mph, {log_path.parent.name}"
    files = {"table": config.out_dir / "validation.md", "json": config.out_dir / "validation.json",
             "scatter": config.out_dir / "validation.png"}
    files["table"].write_text(f"{title}\n\n" + markdown_table(rows, verdict))
    settings = {**asdict(config), "out_dir": str(config.out_dir), "closed_dir": str(config.closed_dir or ""),
                "log": str(log_path), "models": list(models)}
    files["json"].write_text(json.dumps({"settings": settings, "rows": [asdict(r) for r in rows],
                                         "verdict": {**asdict(verdict), "passes": verdict.passes()}},
                                        indent=2, default=_json_default) + "\n")
    plot_scatter(files["scatter"], rows, verdict, title)
    return rows, verdict, files


def replot(out_dir: Path) -> dict[str, Path]:
    """The table and scatter again from `out_dir`/validation.json (no drive, no replay)."""
    saved = json.loads((out_dir / "validation.json").read_text())
    rows = [ModelScores(**row) for row in saved["rows"]]
    settings = saved["settings"]
    verdict = judge(rows, settings["fail_below"])
    title = f"{settings['track']} at {settings['speed_mph']:g} mph, {Path(settings['log']).parent.name}"
    files = {"table": out_dir / "validation.md", "scatter": out_dir / "validation.png"}
    files["table"].write_text(f"{title}\n\n" + markdown_table(rows, verdict))
    plot_scatter(files["scatter"], rows, verdict, title)
    return files


def _json_default(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m steering.replay.validation", description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="+", help="models and controls (constant:0, delayed:K:a.pt)")
    parser.add_argument("log", type=Path, help="the recording (driving_log.csv) of --track at --speed")
    parser.add_argument("--track", default="lake", choices=list_tracks())
    parser.add_argument("--speed", type=float, default=ValidationConfig.speed_mph, help="closed-loop target, mph")
    parser.add_argument("--laps", type=float, default=ValidationConfig.laps)
    parser.add_argument("--fail-below", type=float, default=ValidationConfig.fail_below,
                        help="autonomy %% below which a drive fails (default 100: any take-over)")
    parser.add_argument("--max-offset", type=float, default=ReplayConfig.max_offset_m, help="replay: metres")
    parser.add_argument("--max-heading", type=float, default=ReplayConfig.max_heading_deg, help="replay: degrees")
    parser.add_argument("--closed-max-offset", type=float, default=None,
                        help="closed loop: metres from the centre line that count as a take-over (default: off the "
                             "road, half its width; 1.0 = PilotNet's rule, as the replay)")
    parser.add_argument("--simulator", default="auto", choices=["auto", "unity", "headless"])
    parser.add_argument("--labels", nargs="+", default=None, help="names in the table (default: file names)")
    parser.add_argument("--out", type=Path, default=ValidationConfig.out_dir)
    parser.add_argument("--closed", type=Path, default=None,
                        help="folder of the closed-loop drives (default OUT/closed); share it between recordings")
    parser.add_argument("--reuse", action="store_true",
                        help="read closed-loop reports already in that folder instead of driving again")
    parser.add_argument("--no-progress", dest="progress", action="store_false")
    parser.add_argument("--replot", action="store_true",
                        help="only rewrite the table and scatter from --out's validation.json (MODELS and LOG unused)")
    args = parser.parse_args(argv)
    setup_logging(False)
    if args.replot:
        for kind, path in replot(args.out).items():
            print(f"{kind + ':':8s} {path}")
        return 0
    log_path = log_argument(str(args.log))
    config = ValidationConfig(track=args.track, speed_mph=args.speed, laps=args.laps, fail_below=args.fail_below,
                              replay=ReplayConfig(max_offset_m=args.max_offset, max_heading_deg=args.max_heading),
                              simulator=args.simulator, out_dir=args.out, reuse=args.reuse, closed_dir=args.closed,
                              closed_max_offset_m=args.closed_max_offset, progress=args.progress)
    try:
        rows, verdict, files = validate(args.models, log_path, config, args.labels)
    except (CheckpointError, SimClientError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(markdown_table(rows, verdict))
    for kind, path in files.items():
        print(f"{kind + ':':8s} {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
