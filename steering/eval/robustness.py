"""`python -m steering.eval robustness MODEL...`: every model under every perturbation and severity.

Each model drives the held-out and the challenge track (one lap, 20 mph, real time by default) clean
and under each perturbation (`steering.perturb`) at each severity. Runs are resumable: a run whose
report.json exists under `out/runs/<model>/<track>/<perturbation>-<severity>/` is read back, not driven
again. `jobs` drives run at once, one process each (default 2: one drive per core, torch on one thread).

Per model: the clean score (mean autonomy % of the clean laps), the corruption score (mean autonomy
over every perturbation, severity and track), the drop between them, and ImageNet-C's corruption error
against a named baseline model: per perturbation CE = sum over severities and tracks of the model's
error (100 - autonomy) / the same sum of the baseline's; mCE = the mean CE over perturbations (100 % =
as robust as the baseline, lower is better; "-" where the baseline never failed under a perturbation).
Files in `out`: robustness.md, robustness.json, heatmap_<model>.png (perturbation x severity, mean
autonomy over the tracks), and where a lap needed help, the table names the place and the conditions.
"""
from __future__ import annotations

import concurrent.futures
import json
import logging
import math
import multiprocessing
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from steering.eval.compare import folder_name, model_labels, require_models  # noqa: E402
from steering.eval.config import EvalConfig  # noqa: E402
from steering.eval.evaluate import ModelEntry, evaluate  # noqa: E402
from steering.eval.report import EvalReport, machine_description, read_report  # noqa: E402
from steering.perturb import HELD_OUT, SEVERITIES, TRAINING, PerturbPlan, list_perturbations  # noqa: E402

log = logging.getLogger(__name__)

CLEAN = "clean"


@dataclass(frozen=True)
class RobustnessConfig:
    """What to drive: tracks, perturbations, severities; `base` carries every other evaluation setting."""

    tracks: tuple[str, ...] = ("mountain", "challenge")  # the held-out and the challenge track
    perturbations: tuple[str, ...] = ()  # () = every registered one
    severities: tuple[int, ...] = SEVERITIES
    out_dir: Path = Path("runs/robustness")
    baseline: str = ""  # label of the model corruption errors are relative to; "" = the first model
    jobs: int = 2  # drives at once, one process each
    base: EvalConfig = field(default_factory=lambda: EvalConfig(laps=1.0, speed_mph=20.0, pacing="realtime",
                                                                progress=False))

    def names(self) -> tuple[str, ...]:
        return self.perturbations or tuple(list_perturbations())


@dataclass(frozen=True)
class Run:
    """One drive: a model on a track under one condition (`clean` at severity 0)."""

    label: str
    track: str
    perturbation: str
    severity: int

    @property
    def condition(self) -> str:
        return CLEAN if self.perturbation == CLEAN else f"{self.perturbation}:{self.severity}"

    def folder(self, out: Path) -> Path:
        name = CLEAN if self.perturbation == CLEAN else f"{self.perturbation}-{self.severity}"
        return out / "runs" / folder_name(self.label) / self.track / name


def plan_runs(labels: Sequence[str], config: RobustnessConfig) -> list[Run]:
    """Every model x track x (clean + perturbation x severity), in the order they are driven."""
    conditions = [(CLEAN, 0)] + [(p, s) for p in config.names() for s in config.severities]
    return [Run(label, track, p, s) for label in labels for track in config.tracks for p, s in conditions]


def _drive(checkpoint: ModelEntry, run: Run, base: EvalConfig, out: Path) -> EvalReport:
    plan = PerturbPlan() if run.perturbation == CLEAN else PerturbPlan.parse(run.condition)
    config = replace(base, track=run.track, label=run.label, perturb=plan, out_dir=run.folder(out), port=None)
    return evaluate(checkpoint, config).report


def _one_thread() -> None:
    import torch  # the worker's own interpreter: one drive per core

    torch.set_num_threads(1)


def run_robustness(checkpoints: Sequence[ModelEntry], config: RobustnessConfig | None = None,
                   labels: Sequence[str] | None = None) -> RobustnessResult:
    """Drive what is missing, read back what exists, score and write the report (see the module's doc)."""
    config = config or RobustnessConfig()
    require_models(checkpoints, "robustness")
    labels = list(labels) if labels is not None else model_labels(checkpoints)
    if len(labels) != len(checkpoints) or len(set(labels)) != len(labels):
        raise ValueError(f"robustness: need one distinct label per model, got {labels}")
    baseline = config.baseline or labels[0]
    if baseline not in labels:
        raise ValueError(f"robustness: baseline {baseline!r} is not one of the models ({', '.join(labels)})")
    out, by_label = Path(config.out_dir), dict(zip(labels, checkpoints, strict=False))
    runs = plan_runs(labels, config)
    reports: dict[Run, EvalReport] = {}
    todo = []
    for run in runs:
        saved = run.folder(out) / "report.json"
        if saved.is_file():
            reports[run] = read_report(saved)
        else:
            todo.append(run)
    log.info("robustness: %d runs, %d already done, %d to drive", len(runs), len(reports), len(todo))
    bar = tqdm(total=len(todo), unit="lap", desc="robustness", disable=not config.base.progress or not todo)
    if config.jobs <= 1:
        for run in todo:
            reports[run] = _drive(by_label[run.label], run, config.base, out)
            bar.update()
    else:
        spawn = multiprocessing.get_context("spawn")  # eventlet (the drive server) is not fork-safe
        with concurrent.futures.ProcessPoolExecutor(config.jobs, mp_context=spawn, initializer=_one_thread) as pool:
            futures = {pool.submit(_drive, by_label[r.label], r, config.base, out): r for r in todo}
            for future in concurrent.futures.as_completed(futures):
                reports[futures[future]] = future.result()
                bar.update()
    bar.close()
    return write_robustness(runs, reports, baseline, out, config)


def scores(runs: Sequence[Run], reports: dict[Run, EvalReport], baseline: str) -> dict[str, dict]:
    """label -> clean, corruption score, drop, per-perturbation CE (%) and mCE (%) against `baseline`."""
    autonomy = {run: reports[run].autonomy_pct for run in runs}
    labels = list(dict.fromkeys(run.label for run in runs))
    names = list(dict.fromkeys(run.perturbation for run in runs if run.perturbation != CLEAN))

    def error_sum(label: str, name: str) -> float:
        return sum(100.0 - a for run, a in autonomy.items() if run.label == label and run.perturbation == name)

    result = {}
    for label in labels:
        clean = [a for run, a in autonomy.items() if run.label == label and run.perturbation == CLEAN]
        perturbed = [a for run, a in autonomy.items() if run.label == label and run.perturbation != CLEAN]
        ce = {}
        for name in names:
            base_error = error_sum(baseline, name)
            ce[name] = 100.0 * error_sum(label, name) / base_error if base_error > 0 else math.nan
        finite = [v for v in ce.values() if math.isfinite(v)]
        clean_score = float(np.mean(clean)) if clean else math.nan
        corruption = float(np.mean(perturbed)) if perturbed else math.nan
        # `--augment robust` trains on one set and holds the other out: generalisation, not memorisation
        split = {f"corruption_{key}": float(np.mean(part)) if part else math.nan for key, part in (
            ("trained_on", [a for run, a in autonomy.items() if run.label == label and run.perturbation in TRAINING]),
            ("held_out", [a for run, a in autonomy.items() if run.label == label and run.perturbation in HELD_OUT]))}
        result[label] = {"clean": clean_score, "corruption": corruption, **split, "drop": clean_score - corruption,
                         "ce": ce, "mce": float(np.mean(finite)) if finite else math.nan}
    return result


@dataclass
class RobustnessResult:
    scores: dict[str, dict]
    table: str
    files: dict[str, Path] = field(default_factory=dict)


def _f(value: float) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.1f}"


def write_robustness(runs: Sequence[Run], reports: dict[Run, EvalReport], baseline: str, out: Path,
                     config: RobustnessConfig) -> RobustnessResult:
    """robustness.md, robustness.json and one heat map per model in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    result = scores(runs, reports, baseline)
    base = config.base
    lines = [f"# Robustness: {', '.join(config.tracks)}, {base.laps:g} lap(s) each, "
             f"{base.speed_mph:g} mph, {base.pacing} pacing", "",
             f"Machine: {machine_description()}. Corruption error (CE) relative to `{baseline}` (100 = as robust).",
             "", "| model | clean % | corruption score % | trained on by --augment robust % | held out from it % "
             "| drop (points) | mCE % |", "|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {label} | {_f(s['clean'])} | {_f(s['corruption'])} | {_f(s['corruption_trained_on'])} | "
              f"{_f(s['corruption_held_out'])} | {_f(s['drop'])} | {_f(s['mce'])} |" for label, s in result.items()]
    names = list(dict.fromkeys(r.perturbation for r in runs if r.perturbation != CLEAN))
    lines += ["", "CE per perturbation (%):", "", "| model | " + " | ".join(names) + " |",
              "|---|" + "---:|" * len(names)]
    lines += [f"| {label} | " + " | ".join(_f(s["ce"][n]) for n in names) + " |" for label, s in result.items()]
    failures = [(run, reports[run]) for run in runs if reports[run].interventions]
    if failures:
        lines += ["", "Where a lap needed help (intervention at metres along the track, reason):", ""]
        for run, report in failures:
            where = ", ".join(f"{iv['progress_m']:.0f} m {iv['reason']}" for iv in report.intervention_list)
            lines.append(f"- {run.label} on {run.track} under {run.condition}: {report.autonomy_pct:.1f} %; {where}")
    table = "\n".join(lines) + "\n"
    files = {"table": out / "robustness.md", "json": out / "robustness.json"}
    files["table"].write_text(table)
    files["json"].write_text(json.dumps({
        "baseline": baseline, "machine": machine_description(), "tracks": list(config.tracks),
        "scores": result, "runs": [{**asdict(run), "autonomy_pct": reports[run].autonomy_pct,
                                    "interventions": reports[run].interventions} for run in runs]},
        indent=2, default=str) + "\n")
    for label in result:
        files[f"heatmap {label}"] = plot_heatmap(label, runs, reports, out / f"heatmap_{folder_name(label)}.png")
    return RobustnessResult(result, table, files)


def plot_heatmap(label: str, runs: Sequence[Run], reports: dict[Run, EvalReport], path: Path) -> Path:
    """Mean autonomy % over the tracks, perturbations down, severities across; the clean score in the title."""
    mine = [r for r in runs if r.label == label]
    names = list(dict.fromkeys(r.perturbation for r in mine if r.perturbation != CLEAN))
    severities = sorted({r.severity for r in mine if r.perturbation != CLEAN})
    grid = np.full((len(names), len(severities)), np.nan)
    for i, name in enumerate(names):
        for j, sev in enumerate(severities):
            values = [reports[r].autonomy_pct for r in mine if r.perturbation == name and r.severity == sev]
            grid[i, j] = np.mean(values) if values else np.nan
    clean = np.mean([reports[r].autonomy_pct for r in mine if r.perturbation == CLEAN])
    fig, ax = plt.subplots(figsize=(1.2 * len(severities) + 3, 0.32 * len(names) + 1.5))
    image = ax.imshow(grid, vmin=0, vmax=100, cmap="RdYlGn", aspect="auto")
    for i in range(len(names)):
        for j in range(len(severities)):
            ax.text(j, i, _f(grid[i, j]), ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(severities)), [str(s) for s in severities])
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xlabel("severity")
    ax.set_title(f"{label}: autonomy % (clean {clean:.1f})", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.04)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
