"""offline.md: the offline scores of several models on several recordings as markdown tables.

Input: `steering.eval.offline.run_offline`'s result dicts (one per model and log, `metrics` from
`steering.eval.offline_metrics.score`). One matrix of models x logs (curve agreement, r, R²), then
one detail row per model and log, then the error per speed bin and per |steering| bin.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from steering.eval.metrics import CLASSES, bin_label
from steering.eval.offline_metrics import MetricsConfig


def _f(value: float | None, digits: int = 3) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _speed_label(low: float, high: float) -> str:
    return f">= {low:g}" if high == float("inf") else f"{low:g}-{high:g}"


def curve_cell(result: dict[str, Any]) -> str:
    """`94.0 % of 512 (r 0.66, R² 0.37)` for one model on one log."""
    m = result["metrics"]
    return (f"{_f(m['curve']['agreement_pct'], 1)} % of {m['curve']['frames']} "
            f"(r {_f(m['smoothed']['pearson_r'], 2)}, R² {_f(m['smoothed']['r2'], 2)})")


def markdown(results: Sequence[dict[str, Any]], smooth_s: float, metrics: MetricsConfig, machine: str) -> str:
    models = list(dict.fromkeys(r["model"] for r in results))
    logs = list(dict.fromkeys(r["log"] for r in results))
    by_pair = {(r["model"], r["log"]): r for r in results}
    threshold = metrics.curve_threshold
    lines = [
        "# Offline scores: models on recorded drives", "",
        f"Machine: {machine}. Every centre frame of each log the reader keeps; the human label smoothed over "
        f"{smooth_s:g} s (centred, per session, frame times from the file names). Curve agreement: of the "
        f"frames with smoothed |steering| > {threshold:g}, the share where the model steers the human's way. "
        "Baselines: the label's own mean (its MSE is the label's variance) and zero.", "",
        "## Curve-direction agreement (Pearson r and R² against the smoothed label)", "",
        "| model | " + " | ".join(logs) + " |",
        "|---|" + "---:|" * len(logs),
    ]
    for model in models:
        cells = [curve_cell(by_pair[(model, lg)]) if (model, lg) in by_pair else "-" for lg in logs]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    lines += [
        "", "## Every model and log", "",
        "| model | log | frames scored (missing, unreadable) | MSE raw (mean / zero) | MSE smoothed (mean / zero) "
        "| MAE smoothed (mean / zero) | R² raw | R² smoothed | r smoothed | curve agreement | "
        "F1 " + " / ".join(CLASSES) + " |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        m, raw, smooth = r["metrics"], r["metrics"]["raw"], r["metrics"]["smoothed"]
        f1 = " / ".join(_f(m["confusion"]["per_class"][c]["f1"], 2) for c in CLASSES)
        lines.append(
            f"| {r['model']} | {r['log']} | {r['scored']} ({r['missing_frames']}, {r['unreadable_frames']}) "
            f"| {_f(raw['mse'], 4)} ({_f(raw['mean_baseline_mse'], 4)} / {_f(raw['zero_mse'], 4)}) "
            f"| {_f(smooth['mse'], 4)} ({_f(smooth['mean_baseline_mse'], 4)} / {_f(smooth['zero_mse'], 4)}) "
            f"| {_f(smooth['mae'])} ({_f(smooth['mean_baseline_mae'])} / {_f(smooth['zero_mae'])}) "
            f"| {_f(raw['r2'], 2)} | {_f(smooth['r2'], 2)} | {_f(smooth['pearson_r'], 2)} "
            f"| {_f(m['curve']['agreement_pct'], 1)} % of {m['curve']['frames']} | {f1} |")
    if results:
        speed_bins = results[0]["metrics"]["by_speed"]
        used = [i for i in range(len(speed_bins)) if any(r["metrics"]["by_speed"][i]["count"] for r in results)]
        lines += ["", "## MAE against the smoothed label per speed bin (mph; frames in brackets)", "",
                  "| model | log | " + " | ".join(_speed_label(speed_bins[i]["low"], speed_bins[i]["high"])
                                                for i in used) + " |",
                  "|---|---|" + "---:|" * len(used)]
        for r in results:
            cells = [f"{_f(b['mae'])} ({b['count']})" for b in (r["metrics"]["by_speed"][i] for i in used)]
            lines.append(f"| {r['model']} | {r['log']} | " + " | ".join(cells) + " |")
        steer_bins = results[0]["metrics"]["mae_by_bin"]
        lines += ["", "## MAE per smoothed |steering| bin (frames in brackets)", "",
                  "| model | log | " + " | ".join(bin_label(b["low"], b["high"]) for b in steer_bins) + " |",
                  "|---|---|" + "---:|" * len(steer_bins)]
        for r in results:
            cells = [f"{_f(b['mae'])} ({b['count']})" for b in r["metrics"]["mae_by_bin"]]
            lines.append(f"| {r['model']} | {r['log']} | " + " | ".join(cells) + " |")
    runtimes = dict.fromkeys(f"- {r['model']}: {r['runtime']}" for r in results)
    lines += ["", "Runtime (drive.py's choice):", *runtimes, ""]
    return "\n".join(lines)
