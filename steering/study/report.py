"""The study's report: study.md (one table, entries as rows), study.json and three PNGs."""
from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from steering.eval.metrics import CLASSES, bin_label  # noqa: E402
from steering.eval.report import machine_description  # noqa: E402
from steering.study.config import StudyConfig  # noqa: E402

ROLES = ("training", "held-out", "challenge")


def write_report(entries: Sequence[dict[str, Any]], variants: Sequence[dict[str, Any]], config: StudyConfig,
                 log_path: Path, seconds: float) -> dict[str, Path]:
    out = Path(config.out_dir)
    done = [e for e in entries if e["status"] == "done"]
    files = {"table": out / "study.md", "json": out / "study.json"}
    machine = machine_description()
    if done:
        files["confusion"] = plot_confusions(done, out / "study_confusion.png")
        files["bins"] = plot_bins(done, out / "study_error_by_bin.png")
        files["scatter"] = plot_autonomy_vs_latency(done, variants, out / "study_autonomy_vs_latency.png")
    files["table"].write_text(markdown(entries, variants, config, log_path, machine, seconds))
    files["json"].write_text(json.dumps({"machine": machine, "recording": str(log_path), "budget": config.budget(),
                                         "wall_s": seconds, "entries": list(entries), "variants": list(variants)},
                                        indent=2, default=str) + "\n")
    return files


def _f(value: float | None, digits: int = 1) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def markdown(entries: Sequence[dict[str, Any]], variants: Sequence[dict[str, Any]], config: StudyConfig,
             log_path: Path, machine: str, seconds: float) -> str:
    lines = [f"Recording: {log_path}. Budget (every entry): {config.budget()}. Machine: {machine}. "
             f"Wall time of the entries and variants: {seconds / 60:.1f} min.", "",
             "Validation: MSE/MAE/RMSE/R² of the best epoch against the constant-mean baseline; direction F1 with "
             "|steering| <= 0.05 as straight; MAE on sharp turns = true |steering| >= 0.3. Latency: drive.py's "
             "default runtime, prepare + infer per frame in-process (p50), and the wire round trip seen by the "
             "simulator client in the real-time rows (p50). Autonomy: "
             + ("the suite's short quick rows" if config.quick else "the suite at 20 mph, 1 lap per track")
             + " (lock step and real time averaged per track); score = mean over all rows (each entry's rows: "
             "entries/NAME/suite/suite.md).", "",
             "| entry | val MSE | baseline MSE | MAE | RMSE | R² | F1 left / straight / right | MAE sharp | "
             "train s | img/s | infer ms | wire ms | training % | held-out % | challenge % | score |",
             "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for e in entries:
        if e["status"] != "done":
            continue
        m, f1 = e["metrics"], [e["per_class"][c]["f1"] for c in CLASSES]
        roles = e["suite"]["autonomy_by_role"]
        lines.append(
            f"| {e['name']} | {m['mse']:.4f} | {e['baseline']['mse']:.4f} | {m['mae']:.3f} | {m['rmse']:.3f} "
            f"| {m['r2']:.2f} | {' / '.join(f'{v:.2f}' for v in f1)} | {_f(e['mae_by_bin'][-1]['mae'], 3)} "
            f"| {e['train']['seconds']:.0f} | {e['train']['images_per_s']:.0f} | {_f(e['latency']['p50_ms'])} "
            f"| {_f(e['suite']['round_trip_p50_ms'])} | "
            + " | ".join(_f(roles.get(r)) for r in ROLES) + f" | **{e['suite']['score']:.1f}** |")
    for v in variants:
        roles = v["suite"]["autonomy_by_role"]
        lines.append(f"| {v['name']} ({v['kind']}) | | | | | | | | | | {_f(v['latency']['p50_ms'])} "
                     f"| {_f(v['suite']['round_trip_p50_ms'])} | "
                     + " | ".join(_f(roles.get(r)) for r in ROLES) + f" | **{v['suite']['score']:.1f}** |")
    skipped = [e for e in entries if e["status"] == "skipped"]
    if skipped:
        lines += ["", "Not run here:"] + [f"- {e['name']}: {e['reason']}" for e in skipped]
    chosen = sorted({e["latency"]["runtime"].split(":")[0] for e in entries if e["status"] == "done"})
    lines += ["", f"drive.py's runtime choice (auto, accuracy-gated): {', '.join(chosen)}."]
    return "\n".join(lines) + "\n"


def plot_confusions(done: Sequence[dict[str, Any]], path: Path) -> Path:
    """One 3x3 matrix per entry, rows normalised to recall, counts printed."""
    cols = min(4, len(done))
    rows = math.ceil(len(done) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False)
    for ax in axes.flat[len(done):]:
        ax.axis("off")
    for ax, e in zip(axes.flat, done, strict=False):
        counts = np.array(e["confusion"], dtype=float)
        recall = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        ax.imshow(recall, vmin=0, vmax=1, cmap="Blues")
        for i in range(3):
            for j in range(3):
                ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center",
                        color="white" if recall[i, j] > 0.5 else "black", fontsize=8)
        ax.set_xticks(range(3), CLASSES, fontsize=7)
        ax.set_yticks(range(3), CLASSES, fontsize=7)
        ax.set_title(e["name"], fontsize=8)
    fig.supxlabel("predicted direction")
    fig.supylabel("true direction")
    fig.tight_layout()
    return _save(fig, path)


def plot_bins(done: Sequence[dict[str, Any]], path: Path) -> Path:
    """Grouped bars: validation MAE per true |steering| bin, one colour per entry."""
    bins = [bin_label(b["low"], b["high"]) for b in done[0]["mae_by_bin"]]
    width = 0.8 / len(done)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(bins) + 0.3 * len(done)), 4))
    for k, e in enumerate(done):
        values = [b["mae"] if b["count"] else 0.0 for b in e["mae_by_bin"]]
        ax.bar(np.arange(len(bins)) + k * width, values, width, label=e["name"])
    ax.set_xticks(np.arange(len(bins)) + 0.4 - width / 2, [f"|steering| {b}" for b in bins])
    ax.set_ylabel("validation MAE")
    ax.legend(fontsize=6, ncol=2)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def plot_autonomy_vs_latency(done: Sequence[dict[str, Any]], variants: Sequence[dict[str, Any]], path: Path) -> Path:
    """Suite score against per-frame inference latency: the trade-off a user picks from."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for item, marker in [(e, "o") for e in done] + [(v, "^") for v in variants]:
        x, y = item["latency"]["p50_ms"], item["suite"]["score"]
        ax.scatter([x], [y], marker=marker)
        ax.annotate(item["name"], (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("inference p50 ms (drive.py's default runtime, this machine)")
    ax.set_ylabel("suite score (mean autonomy %)")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
