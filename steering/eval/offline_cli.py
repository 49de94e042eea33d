"""`python -m steering.eval offline`: parsing and printing only; the work is `steering.eval.offline`."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from steering.checkpoint import CheckpointError
from steering.data import DrivingLogError
from steering.eval.cli_args import is_log_argument, log_argument, model_argument
from steering.eval.offline import OfflineConfig, run_offline
from steering.eval.offline_metrics import MetricsConfig
from steering.inference.predictor import TTA_MODES, InferenceConfig
from steering.inference.runtimes import DEVICES, PRECISIONS, backends
from steering.udacity import LOG_NAME


def add_command(commands: argparse._SubParsersAction) -> None:
    """Register `offline`: models scored on recorded frames (no simulator)."""
    off = commands.add_parser(
        "offline", help="score models on every centre frame of recorded logs against the human's steering",
        description="Predict the steering of every centre frame of each driving log (any format train.py reads) "
                    "with each model, as drive.py runs it, and compare with the human's: MSE/MAE against the raw "
                    "and the time-smoothed label beside the mean and zero baselines, R², Pearson r, "
                    "curve-direction agreement, a left/straight/right confusion matrix, error per steering and "
                    "speed bin. Writes offline.md, offline.json and per model and log a steering-over-time PNG, "
                    "a scatter PNG and the predictions as CSV.")
    off.add_argument("inputs", nargs="+", metavar="MODEL_OR_LOG",
                     help="models (.pt, .onnx, .xml, .ts; A.pt+B.pt is one ensemble) and driving logs (.csv, or a "
                          "folder holding driving_log.csv), in any order")
    off.add_argument("--out", type=Path, default=Path("runs/offline"), help="folder for the tables, plots and CSVs")
    off.add_argument("--labels", nargs="+", default=None, help="model names in the tables (default: file names)")
    scoring = off.add_argument_group("Scoring")
    scoring.add_argument("--smooth-s", type=float, default=OfflineConfig.smooth_s,
                         help="window (seconds) of the centred mean that smooths the human's steering")
    scoring.add_argument("--curve-threshold", type=float, default=MetricsConfig.curve_threshold,
                         help="smoothed |steering| above which a frame is a curve for the direction agreement")
    scoring.add_argument("--straight-band", type=float, default=MetricsConfig.straight_band,
                         help="|steering| up to which the confusion matrix calls a frame straight")
    running = off.add_argument_group("Running the models (as drive.py)")
    running.add_argument("--tta", choices=list(TTA_MODES), default="none",
                         help="flip: the mean of the frame's and the mirrored frame's (negated) steering")
    running.add_argument("--device", choices=list(DEVICES), default="auto")
    running.add_argument("--backend", choices=list(backends()), default="auto", help="runtime (drive.py --backend)")
    running.add_argument("--precision", choices=list(PRECISIONS), default="auto")
    running.add_argument("--threads", type=int, default=0, help="CPU threads for the model; 0 = all")
    running.add_argument("--batch-size", type=int, default=OfflineConfig.batch_size, help="frames per forward pass")
    running.add_argument("--no-plots", dest="plots", action="store_false", help="tables and CSVs only")
    running.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    logs = [log_argument(t) for t in args.inputs if is_log_argument(t)]
    models = [model_argument(t) for t in args.inputs if not is_log_argument(t)]
    if not models or not logs:
        print("error: give at least one model and one driving log (.csv or a folder holding "
              f"{LOG_NAME}); got {len(models)} model(s) and {len(logs)} log(s)", file=sys.stderr)
        return 2
    try:
        config = OfflineConfig(
            out_dir=args.out, smooth_s=args.smooth_s, batch_size=args.batch_size, plots=args.plots,
            progress=args.progress,
            metrics=MetricsConfig(curve_threshold=args.curve_threshold, straight_band=args.straight_band),
            inference=InferenceConfig(device=args.device, backend=args.backend, precision=args.precision,
                                      threads=args.threads, tta=args.tta))
        result = run_offline(models, logs, config, labels=args.labels)
    except (CheckpointError, DrivingLogError, OSError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(result.table)
    for kind, path in result.files.items():
        print(f"{kind + ':':7s}{path}")
    return 0

