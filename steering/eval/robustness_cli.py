"""`python -m steering.eval robustness`: parsing and printing only; the work is `steering.eval.robustness`."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from steering.checkpoint import CheckpointError
from steering.eval.cli_args import MODEL_HELP, common_arguments, eval_config, model_argument
from steering.eval.robustness import RobustnessConfig, run_robustness
from steering.eval.scoring import InterventionConfig
from steering.perturb import PerturbError, get_perturbation
from steering.sim.client import SimClientError
from steering.sim.tracks import list_tracks


def add_command(commands: argparse._SubParsersAction) -> None:
    rob = commands.add_parser(
        "robustness", help="every model under every perturbation and severity: clean vs corruption score, mCE",
        description="Each model drives the held-out and challenge tracks clean and under every perturbation at "
                    "every severity (one lap, 20 mph, real time); resumable; writes robustness.md, "
                    "robustness.json and a heat map per model (docs/robustness.md).")
    rob.add_argument("models", nargs="+", type=model_argument, help="checkpoints to score" + MODEL_HELP)
    rob.add_argument("--out", type=Path, default=Path("runs/robustness"), help="folder for the report and each run")
    rob.add_argument("--tracks", nargs="+", default=["mountain", "challenge"], choices=list_tracks())
    rob.add_argument("--perturbations", nargs="+", default=None, metavar="NAME",
                     help="default: every one (`--perturb list`)")
    rob.add_argument("--severities", nargs="+", type=int, default=[1, 2, 3, 4, 5], choices=range(1, 6))
    rob.add_argument("--laps", type=float, default=1.0)
    rob.add_argument("--speed", type=float, default=20.0, help="target speed of the in-process drive server, mph")
    rob.add_argument("--lockstep", dest="pacing", action="store_const", const="fixed", default="realtime",
                     help="lock step instead of real time (scores then do not depend on the machine)")
    rob.add_argument("--baseline", default="", help="label of the model corruption errors are relative to "
                                                    "(default: the first)")
    rob.add_argument("--jobs", type=int, default=2, help="drives at once, one process each (default: 2)")
    rob.add_argument("--labels", nargs="+", default=None, help="names in the table (default: the file names)")
    group = rob.add_argument_group("Driving and scoring")
    group.add_argument("--stall-s", type=float, default=InterventionConfig.stall_s)
    group.add_argument("--penalty-s", type=float, default=InterventionConfig.penalty_s)
    group.add_argument("--video", action="store_true", help="also write drive.mp4 for every run")
    group.add_argument("--tta", choices=["none", "flip"], default="none")
    common_arguments(group)


def run(args: argparse.Namespace) -> int:
    try:
        for name in args.perturbations or ():
            get_perturbation(name)
    except PerturbError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    base = eval_config(args, laps=args.laps)
    config = RobustnessConfig(tracks=tuple(args.tracks), perturbations=tuple(args.perturbations or ()),
                              severities=tuple(args.severities), out_dir=args.out, baseline=args.baseline,
                              jobs=args.jobs, base=base)
    try:
        result = run_robustness(args.models, config, labels=args.labels)
    except (SimClientError, CheckpointError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(result.table)
    for kind, path in result.files.items():
        print(f"{kind + ':':16s}{path}")
    return 0

