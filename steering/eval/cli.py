"""`python -m steering.eval`: every evaluation command behind one registry (`COMMANDS`), parsing and printing only.

    python -m steering.eval evaluate model.pt --track mountain --laps 1 --out eval/ --video [--realtime]
    python -m steering.eval evaluate --port 4567 --track lake --laps 2      # drive.py already running
    python -m steering.eval evaluate model.pt --wallclock --monitor          # watch on http://127.0.0.1:8887/
    python -m steering.eval compare a.pt b.pt --tracks lake mountain --laps 1 --out cmp/
    python -m steering.eval suite a.pt b.pt --out runs/suite [--quick] [--real data/driving_log.csv]
    python -m steering.eval evaluate a.pt --tta flip                         # mean of the frame and its mirror
    python -m steering.eval evaluate a.pt --perturb night:3 --perturb-schedule distance_fog:4@200-350
    python -m steering.eval evaluate --perturb list                          # every perturbation's name
    python -m steering.eval robustness a.pt b.pt --out runs/robustness       # every perturbation x severity
    python -m steering.eval compare a.pt a.pt+b.pt                           # a.pt+b.pt: one ensemble
    python -m steering.eval replay a.pt constant:0 data/driving_log.csv --rows 1600: --video   # recorded logs
    python -m steering.eval offline a.pt b.onnx data/driving_log.csv other/driving_log.csv --out off/

evaluate, compare and suite are here; replay (`steering.replay.cli`), robustness (`robustness_cli`) and
offline (`offline_cli`) each in a module of their own, sharing `cli_args`; a new command is one module
and one `COMMANDS` entry. `python -m steering.sim evaluate|...` is the same (the simulator's CLI registers
the simulator's commands). The work happens in `steering.eval.evaluate`, `steering.eval.compare`, `steering.eval.suite`,
`steering.eval.offline` (open loop: models on recorded frames, no simulator) and
`steering.replay.command` (NVIDIA's replay of recorded logs).
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from steering.checkpoint import CheckpointError
from steering.cli import setup_logging
from steering.eval import misbehaviour, offline_cli, robustness_cli
from steering.eval import suite as suites
from steering.eval.cli_args import (
    MODEL_HELP,
    add_camera_argument,
    add_perturb_arguments,
    eval_config,
    log_argument,
    model_argument,
    perturb_plan,
    scoring_arguments,
)
from steering.eval.compare import CompareConfig, compare
from steering.eval.evaluate import entry_name, entry_paths, evaluate
from steering.inference.controls import is_control
from steering.replay import cli as replay_cli
from steering.sim.client import SimClientError
from steering.sim.tracks import list_tracks, track_help

__all__ = ["COMMANDS", "add_camera_argument", "add_commands", "add_perturb_arguments", "main", "model_argument",
           "perturb_plan", "run"]


@dataclass(frozen=True)
class Command:
    """One sub-command: how it adds its parser and what runs it (exit code)."""

    add: Callable[[argparse._SubParsersAction], None]
    run: Callable[[argparse.Namespace], int]
    simulator: bool = True  # also a `python -m steering.sim` command


def _add_drive_commands(commands: argparse._SubParsersAction) -> None:
    """`evaluate`, `compare` and `suite`: models driven in the headless simulator through the wire protocol."""
    ev = commands.add_parser(
        "evaluate",
        help="drive a model N laps through the wire protocol and score it (autonomy %%)",
        description="Drive a model through the real socket protocol and score it: autonomy % "
        "(PilotNet), laps, |CTE|, speed, smoothness, frames/s.",
    )
    ev.add_argument("model", nargs="?", type=model_argument,
                    help="checkpoint to drive (optional with --port)" + MODEL_HELP
                         + "; controls: constant:V always steers V, delayed:K:A.pt steers A.pt's answer K frames late")
    ev.add_argument("--track", default="lake", choices=list_tracks(), help=track_help())
    ev.add_argument("--laps", type=float, default=1.0)
    ev.add_argument(
        "--port", type=int, default=None, help="use the drive server (drive.py) already running on this port"
    )
    ev.add_argument("--host", default="127.0.0.1")
    ev.add_argument("--out", type=Path, default=None,
                    help="folder for report.json, trajectory.png/.csv (default: eval/<model>-<track>)")
    ev.add_argument("--monitor", action="store_true",
                    help="watch the drive live in a browser: drive.py's monitor page for the in-process server "
                         "(http://127.0.0.1:MONITOR_PORT/); add --wallclock to see it in real time")
    ev.add_argument("--monitor-port", type=int, default=8887, help="port of the monitor page; 0 picks a free port")
    scoring_arguments(ev)
    add_perturb_arguments(ev)

    cmp = commands.add_parser("compare", help="several models on the same tracks: one markdown table, one plot",
                              description="Evaluate each model on each track and write compare.md + compare.png.")
    cmp.add_argument("models", nargs="+", type=model_argument, help="checkpoints to compare" + MODEL_HELP)
    cmp.add_argument("--tracks", nargs="+", default=["lake", "mountain"], choices=list_tracks(), help=track_help())
    cmp.add_argument("--laps", type=float, default=1.0)
    cmp.add_argument("--out", type=Path, default=Path("runs/compare"), help="folder for the table, plot and each run")
    scoring_arguments(cmp)
    add_perturb_arguments(cmp)

    suite = commands.add_parser("suite", help="the fixed evaluation suite: every model on every row, one table, "
                                              "one plot, one score",
                                description="Each model drives the training track (3 laps), the held-out and the "
                                            "challenge track (1 lap each) at 15 and 25 mph, in lock step and in real "
                                            "time, plus the target rows and the robustness rows (the held-out track "
                                            "at 20 mph in real time under a few camera perturbations); writes "
                                            "suite.md, suite.png, suite.json. "
                                            "Score: mean autonomy % over all rows.")
    suite.add_argument("models", nargs="+", type=model_argument, help="checkpoints to score" + MODEL_HELP)
    suite.add_argument("--out", type=Path, default=Path("runs/suite"), help="folder for the table, plot and each run")
    suite.add_argument("--rows", choices=["full", "demo", "quick"], default="full",
                       help="full: every row; demo: what `make demo` drives (lock step at 15 and 25 mph, one lap each, "
                            "the real-time target rows and the robustness rows); quick: one speed, a few metres per "
                            "row, no target or robustness rows (tests)")
    suite.add_argument("--quick", dest="rows", action="store_const", const="quick", help="same as --rows quick")
    suite.add_argument("--realtime-only", action="store_true", help="only the real-time rows")
    suite.add_argument("--no-robustness", dest="robustness", action="store_false",
                       help="leave out the robustness rows (the held-out track under "
                            + ", ".join(p for *_, p in suites.ROBUSTNESS_ROWS) + "): a quicker run")
    suite.add_argument("--labels", nargs="+", default=None, help="names in the table (default: the file names)")
    suite.add_argument("--real", nargs="+", type=log_argument, default=[], metavar="LOG",
                       help="real Unity recordings (driving_log.csv or its folder): also score every model on them, "
                            "its steering against the human's and its autonomy in the replay of the recording "
                            "(`offline` and `replay`)")
    scoring_arguments(suite, speed=False, pacing=False)
    add_perturb_arguments(suite)



def run_evaluate(args: argparse.Namespace) -> int:
    if args.model is None and args.port is None:
        print("error: give a model file to drive, or --port of a running drive.py", file=sys.stderr)
        return 2
    # a control spec (constant:0, delayed:K:a.pt) is no file: the loader checks what it wraps
    missing = ([p for p in entry_paths(args.model) if not p.is_file() and not is_control(str(p))]
               if args.model is not None else [])
    if missing and args.port is None:
        print(f"error: model file not found: {', '.join(map(str, missing))}", file=sys.stderr)
        return 2
    name = entry_name(args.model, lambda p: p.stem) if args.model is not None else f"port{args.port}"
    out = args.out if args.out is not None else Path("eval") / f"{name}-{args.track}"
    config = eval_config(args, track=args.track, laps=args.laps, port=args.port, host=args.host, out_dir=out,
                          monitor=args.monitor, monitor_port=args.monitor_port)
    try:
        result = evaluate(args.model, config)
    except (SimClientError, CheckpointError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(result.report.summary())
    for kind, path in sorted(result.files.items()):
        print(f"  {kind:15s} {path}")
    return 0


def run_compare(args: argparse.Namespace) -> int:
    config = CompareConfig(tracks=tuple(args.tracks), laps=args.laps, out_dir=args.out, base=eval_config(args))
    try:
        result = compare(args.models, config)
    except (SimClientError, CheckpointError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(result.table)
    print(f"table: {result.table_path}\nplot:  {result.plot_path}")
    return 0


def run_suite_command(args: argparse.Namespace) -> int:
    settings = {"out_dir": args.out, "base": eval_config(args)}
    if args.realtime_only:
        settings["pacings"] = ("realtime",)
    if not args.robustness:
        settings["robustness"] = ()
    if args.real:
        settings["real"] = tuple(args.real)
    make = {"full": suites.SuiteConfig, "demo": suites.SuiteConfig.demo, "quick": suites.SuiteConfig.quick}[args.rows]
    config = make(**settings)
    try:
        result = suites.run_suite(args.models, config, labels=args.labels)  # looked up at call time
    except (SimClientError, CheckpointError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(result.table)
    print("scores (mean autonomy % over all rows): " + ", ".join(f"{k} {v:.1f}" for k, v in result.scores.items()))
    if result.corruption_scores:
        print("corruption scores (mean autonomy % over the robustness rows): "
              + ", ".join(f"{k} {v:.1f}" for k, v in result.corruption_scores.items()))
    for kind, path in result.files.items():
        print(f"{kind + ':':7s}{path}")
    return 0



def _no_parser(commands: argparse._SubParsersAction) -> None:
    """compare and suite add their parsers with evaluate's (`_add_drive_commands`)."""


# name -> command; `python -m steering.eval` offers all, `python -m steering.sim` the simulator's.
COMMANDS: dict[str, Command] = {
    "evaluate": Command(_add_drive_commands, run_evaluate),
    "compare": Command(_no_parser, run_compare),
    "suite": Command(_no_parser, run_suite_command),
    "replay": Command(replay_cli.add_command, replay_cli.run),
    "robustness": Command(robustness_cli.add_command, robustness_cli.run),
    "offline": Command(offline_cli.add_command, offline_cli.run, simulator=False),
    "misbehaviour": Command(misbehaviour.add_command, misbehaviour.run_command, simulator=False),
}


def add_commands(commands: argparse._SubParsersAction, simulator_only: bool = True) -> None:
    """Register the commands on a sub-parser set (`python -m steering.sim` takes the simulator's)."""
    for command in COMMANDS.values():
        if command.simulator or not simulator_only:
            command.add(commands)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m steering.eval", description="Closed-loop evaluation of models.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True)
    add_commands(commands, simulator_only=False)
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    return run(args)


def run(args: argparse.Namespace) -> int:
    """Dispatch a parsed command."""
    return COMMANDS[args.command].run(args)
