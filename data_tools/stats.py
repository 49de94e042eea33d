"""steering-stats: what a recording contains, as numbers and two plots.

Prints and writes `stats.json` (rows, sessions, duration, missing frames, steering/throttle/speed
summaries, the share of near-straight frames), `steering_histogram.png` (before/after the same
balancing rule training's --balance uses) and `timeseries.png` (steering and speed over time,
one colour per session).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from data_tools.clean import session_seconds
from data_tools.cli import add_common, add_logs_input, log_paths, run_tool
from steering.data import balance, read_logs

log = logging.getLogger(__name__)

STRAIGHT = 0.02  # |steering| below this counts as driving straight (0.5 degrees)


def _summary(values: pd.Series) -> dict[str, float]:
    return {k: float(v) for k, v in values.describe(percentiles=[0.05, 0.5, 0.95]).drop("count").items()}


def compute_stats(rows: pd.DataFrame, report: Any, bins: int = 25, cap: float | int = 2.0) -> tuple[dict, Any]:
    """Statistics dict and the BalanceReport of `balance(rows, bins, cap)` (center-camera rows)."""
    _, balance_report = balance(rows, bins=bins, cap=cap)
    seconds = session_seconds(rows)
    duration = float(pd.Series(seconds).groupby(rows["session"]).max().sum())
    stats = {
        "rows_total": report.rows_total,
        "rows_kept": len(rows),
        "missing_center_rows": report.missing_image_rows,
        "missing_side_images": report.missing_side_images,
        "bad_rows_skipped": report.bad_rows_skipped,
        "sessions": int(rows["session"].nunique()),
        "rows_per_session": {int(k): int(v) for k, v in rows.groupby("session").size().items()},
        "duration_s": round(duration, 3),
        "straight_fraction": float((rows["steering"].abs() < STRAIGHT).mean()),
        "left_fraction": float((rows["steering"] <= -STRAIGHT).mean()),
        "right_fraction": float((rows["steering"] >= STRAIGHT).mean()),
        "steering": _summary(rows["steering"]),
        "throttle": _summary(rows["throttle"]),
        "speed": _summary(rows["speed"]),
        "histogram": {"bin_edges": balance_report.bin_edges.round(6).tolist(),
                      "counts": balance_report.counts_before.astype(int).tolist(),
                      "counts_balanced": balance_report.counts_after.astype(int).tolist(),
                      "cap": balance_report.cap},
    }
    return stats, balance_report


def plot_timeseries(rows: pd.DataFrame, path: Path) -> Path:
    """Steering (top) and speed (bottom) against seconds into the recording, sessions back to back."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seconds = session_seconds(rows)
    fig, (ax_steer, ax_speed) = plt.subplots(2, 1, figsize=(10, 5), sharex=True)
    offset = 0.0
    for session, index in rows.groupby("session").groups.items():
        t = seconds[np.asarray(rows.index.get_indexer(index))] + offset
        part = rows.loc[index]
        ax_steer.plot(t, part["steering"], lw=0.8, label=f"session {session}")
        ax_speed.plot(t, part["speed"], lw=0.8)
        offset = float(t.max()) + 1.0
    ax_steer.axhline(0, color="k", lw=0.5)
    ax_steer.set_ylabel("steering (+ right)")
    ax_steer.set_ylim(-1.05, 1.05)
    ax_speed.set_ylabel("speed (mph)")
    ax_speed.set_xlabel("seconds (sessions back to back)")
    if rows["session"].nunique() <= 10:
        ax_steer.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="steering-stats", description=__doc__.splitlines()[0],
                                     epilog="example: steering-stats data/all --out reports/all")
    add_logs_input(parser, "folder for stats.json and the PNG plots")
    hist = parser.add_argument_group("Histogram (same rule as train.py --balance)")
    hist.add_argument("--bins", type=int, default=25, help="steering bins over [-1, 1] (default 25)")
    hist.add_argument("--cap", type=float, default=2.0,
                      help="samples kept per bin: a multiple of the mean non-empty bin (default 2.0)")
    add_common(parser)
    return parser


def _run(args: argparse.Namespace) -> str:
    driving_log = read_logs(log_paths(args.logs), lenient=args.lenient)
    stats, balance_report = compute_stats(driving_log.rows, driving_log.report, args.bins, args.cap)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "stats.json").write_text(json.dumps(stats, indent=2), encoding="utf-8")
    balance_report.save_histogram(args.out / "steering_histogram.png")
    plot_timeseries(driving_log.rows, args.out / "timeseries.png")
    lines = [f"{stats['rows_kept']} rows ({stats['rows_total']} in the logs, {stats['missing_center_rows']} without "
             f"center frame) in {stats['sessions']} sessions, {stats['duration_s']:.1f} s",
             f"straight {stats['straight_fraction']:.0%}, left {stats['left_fraction']:.0%}, "
             f"right {stats['right_fraction']:.0%}"]
    for name in ("steering", "throttle", "speed"):
        s = stats[name]
        lines.append(f"{name:9s} mean {s['mean']:+.3f}  std {s['std']:.3f}  min {s['min']:+.3f}  "
                     f"median {s['50%']:+.3f}  max {s['max']:+.3f}")
    lines += [balance_report.summary(), f"wrote {args.out / 'stats.json'}, steering_histogram.png, timeseries.png"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    return run_tool(build_parser(), _run, argv)


if __name__ == "__main__":
    sys.exit(main())
