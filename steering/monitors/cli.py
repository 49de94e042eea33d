"""`python -m steering.monitors`: fit a failure monitor on nominal frames, or list the kinds.

    python -m steering.monitors fit data/driving_log.csv --kind autoencoder --out ae.pt
    python -m steering.monitors fit data/driving_log.csv --kind mc-dropout --model runs/x/best.pt --out mcd.pt
    python -m steering.monitors fit data/driving_log.csv --kind ensemble --model a.pt --model b.pt --out ens.pt
    python -m steering.monitors fit data/driving_log.csv --kind saliency --model runs/x/best.pt --out sal.pt
    python -m steering.monitors cost ae.pt mcd.pt --model runs/x/best.pt --log data/driving_log.csv
    python -m steering.monitors list

`drive.py MODEL --alarm KIND --alarm-file F` then scores every frame and raises the alarm.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from steering.checkpoint import CheckpointError
from steering.cli import setup_logging
from steering.inference.gate import log_frames
from steering.monitors import MONITORS, AlarmMonitor, fit_monitor, measure_costs, monitor_names


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m steering.monitors", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    fit = sub.add_parser("fit", help="fit a monitor and its threshold on nominal frames")
    fit.add_argument("logs", type=Path, nargs="+", help="driving_log.csv of nominal driving (the training recording)")
    fit.add_argument("--kind", required=True, choices=monitor_names(), help="which monitor")
    fit.add_argument("--model", type=Path, action="append", default=[],
                     help="checkpoint the monitor watches (mc-dropout, tta, saliency: one; ensemble: several; "
                          "autoencoder: optional, its preprocessing is then reused)")
    fit.add_argument("--out", type=Path, required=True, help="the monitor file drive.py --alarm-file reads")
    fit.add_argument("--false-alarm-rate", type=float, default=0.05,
                     help="share of nominal frames above the threshold, by the gamma fit (default 0.05)")
    fit.add_argument("--frames", type=int, default=2000,
                     help="nominal frames, spread evenly over the logs (default 2000)")
    fit.add_argument("--epochs", type=int, default=30, help="autoencoder training epochs (default 30)")
    fit.add_argument("--passes", type=int, default=16, help="mc-dropout passes per frame (default 16)")
    cost = sub.add_parser("cost", help="per-frame cost of fitted monitors beside the model's own fp32 inference")
    cost.add_argument("files", type=Path, nargs="+", help="monitor files written by `fit`")
    cost.add_argument("--model", type=Path, required=True, help="the driven checkpoint (its input is reused)")
    cost.add_argument("--log", type=Path, required=True, help="driving_log.csv whose frames are scored")
    cost.add_argument("--frames", type=int, default=100, help="frames timed (default 100)")
    cost.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    sub.add_parser("list", help="the monitors there are")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    if args.command == "list":
        for spec in MONITORS.values():
            print(f"{spec.name:12s} {spec.help}")
        return 0
    if args.command == "cost":
        torch.set_num_threads(args.threads)
        frames, source = log_frames([args.log], args.frames)
        monitors = [AlarmMonitor.load(f) for f in args.files]
        print(f"{len(frames)} frames of {source}, {args.threads} thread(s); p50 / p99 ms per frame")
        for label, ms in measure_costs(frames, args.model, monitors).items():
            print(f"{label:24s} {np.percentile(ms, 50):8.3f} {np.percentile(ms, 99):8.3f}")
        return 0
    try:
        frames, source = log_frames(args.logs, args.frames)
        start = time.perf_counter()
        monitor = fit_monitor(args.kind, frames, args.model, args.false_alarm_rate, source=source,
                              options={"epochs": args.epochs, "passes": args.passes, "progress": True})
    except (ValueError, CheckpointError, OSError) as exc:
        print(f"steering.monitors: {exc}", file=sys.stderr)
        return 2
    monitor.save(args.out)
    print(f"{args.out}: {monitor.describe()}; fitted in {time.perf_counter() - start:.1f} s")
    return 0
