"""The `evaluate`, `compare` and `suite` commands (argument parsing and printing only).

    python -m steering.eval evaluate model.pt --track mountain --laps 1 --out eval/ --video [--realtime]
    python -m steering.eval evaluate --port 4567 --track lake --laps 2      # drive.py already running
    python -m steering.eval evaluate model.pt --wallclock --monitor          # watch on http://127.0.0.1:8887/
    python -m steering.eval compare a.pt b.pt --tracks lake mountain --laps 1 --out cmp/
    python -m steering.eval suite a.pt b.pt --out runs/suite [--quick]
    python -m steering.eval evaluate a.pt --tta flip                         # mean of the frame and its mirror
    python -m steering.eval compare a.pt a.pt+b.pt                           # a.pt+b.pt: one ensemble

`python -m steering.sim evaluate|compare|suite` is the same (the simulator's CLI registers these).
The work happens in `steering.eval.evaluate`, `steering.eval.compare` and `steering.eval.suite`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from steering.eval import misbehaviour
from steering.eval.config import EvalConfig
from steering.eval.evaluate import ModelEntry, entry_name, entry_paths, evaluate
from steering.eval.scoring import InterventionConfig
from steering.sim.client import ClientConfig
from steering.sim.tracks import list_tracks

COMMANDS = ("evaluate", "compare", "suite")
MODEL_HELP = "; A.pt+B.pt is one ensemble (the mean of their steering; same preprocessing required)"


def model_argument(text: str) -> ModelEntry:
    """`a.pt` -> Path; `a.pt+b.pt` -> (Path, Path), an ensemble (unless a file of that very name exists)."""
    if "+" not in text or Path(text).is_file():
        return Path(text)
    return tuple(Path(part) for part in text.split("+") if part)


def _common_arguments(group: "argparse._ArgumentGroup") -> None:
    group.add_argument("--frame-rate", type=float, default=round(1.0 / ClientConfig.frame_s),
                       help="--realtime: the simulator's frames per second; the world moves in whole frames "
                            "(Unity: 60)")
    group.add_argument("--seed", type=int, default=0, help="the world's textures")
    group.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def _scoring_arguments(parser: argparse.ArgumentParser, speed: bool = True, pacing: bool = True) -> None:
    group = parser.add_argument_group("Driving and scoring")
    if speed:
        group.add_argument("--speed", type=float, default=None,
                           help="target speed (mph) of the in-process drive server (default: drive.py's default)")
    group.add_argument("--stall-s", type=float, default=InterventionConfig.stall_s,
                       help="no progress for this many simulated seconds counts as an intervention")
    group.add_argument("--penalty-s", type=float, default=InterventionConfig.penalty_s,
                       help="seconds each intervention costs in the autonomy score (PilotNet: 6)")
    if pacing:
        clock = group.add_mutually_exclusive_group()
        clock.add_argument("--realtime", dest="pacing", action="store_const", const="realtime", default="fixed",
                           help="the world moves by the server's measured round trip (whole simulator frames), "
                                "as the Unity simulator keeps driving while drive.py thinks; default: lock step")
        clock.add_argument("--wallclock", dest="pacing", action="store_const", const="wallclock",
                           help="run the world in real time (sleeping between frames) instead of lock step")
    group.add_argument("--video", action="store_true", help="also write drive.mp4 (center camera, steering overlaid)")
    group.add_argument("--tta", choices=["none", "flip"], default="none",
                       help="test-time augmentation of the in-process drive server: flip = mean of the frame's and "
                            "the mirrored frame's (negated) steering, two forward passes per model and frame "
                            "(drive.py --tta; default none)")
    _common_arguments(group)


def add_commands(commands: "argparse._SubParsersAction") -> None:
    """Register `evaluate`, `compare` and `suite` on a sub-parser set (`python -m steering.eval` and `steering.sim`)."""
    ev = commands.add_parser(
        "evaluate",
        help="drive a model N laps through the wire protocol and score it (autonomy %%)",
        description="Drive a model through the real socket protocol and score it: autonomy % "
        "(PilotNet), laps, |CTE|, speed, smoothness, frames/s.",
    )
    ev.add_argument("model", nargs="?", type=model_argument,
                    help="checkpoint to drive (optional with --port)" + MODEL_HELP)
    ev.add_argument("--track", default="lake", choices=list_tracks())
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
    _scoring_arguments(ev)

    cmp = commands.add_parser("compare", help="several models on the same tracks: one markdown table, one plot",
                              description="Evaluate each model on each track and write compare.md + compare.png.")
    cmp.add_argument("models", nargs="+", type=model_argument, help="checkpoints to compare" + MODEL_HELP)
    cmp.add_argument("--tracks", nargs="+", default=["lake", "mountain"], choices=list_tracks())
    cmp.add_argument("--laps", type=float, default=1.0)
    cmp.add_argument("--out", type=Path, default=Path("runs/compare"), help="folder for the table, plot and each run")
    _scoring_arguments(cmp)

    suite = commands.add_parser("suite", help="the fixed evaluation suite: every model on every row, one table, "
                                              "one plot, one score",
                                description="Each model drives the training track (3 laps), the held-out and the "
                                            "challenge track (1 lap each) at 15 and 25 mph, in lock step and in real "
                                            "time, plus the target rows; writes suite.md, suite.png, suite.json. "
                                            "Score: mean autonomy % over all rows.")
    suite.add_argument("models", nargs="+", type=model_argument, help="checkpoints to score" + MODEL_HELP)
    suite.add_argument("--out", type=Path, default=Path("runs/suite"), help="folder for the table, plot and each run")
    suite.add_argument("--rows", choices=["full", "demo", "quick"], default="full",
                       help="full: every row; demo: what `make demo` drives (lock step at 15 and 25 mph, one lap each, "
                            "and the real-time target rows); quick: one speed, a few metres per row (tests)")
    suite.add_argument("--quick", dest="rows", action="store_const", const="quick", help="same as --rows quick")
    suite.add_argument("--realtime-only", action="store_true", help="only the real-time rows")
    suite.add_argument("--labels", nargs="+", default=None, help="names in the table (default: the file names)")
    _scoring_arguments(suite, speed=False, pacing=False)
    misbehaviour.add_command(commands)  # registers its own runner (args.run)


def _eval_config(args: argparse.Namespace, **overrides) -> EvalConfig:
    speed = {"speed_mph": args.speed} if hasattr(args, "speed") else {}
    pacing = {"pacing": args.pacing} if hasattr(args, "pacing") else {}
    return EvalConfig(**speed, **pacing, frame_s=1.0 / args.frame_rate, video=args.video, seed=args.seed,
                      progress=args.progress, tta=args.tta,
                      interventions=InterventionConfig(stall_s=args.stall_s, penalty_s=args.penalty_s), **overrides)


def run_evaluate(args: argparse.Namespace) -> int:
    from steering.checkpoint import CheckpointError
    from steering.sim.client import SimClientError

    if args.model is None and args.port is None:
        print("error: give a model file to drive, or --port of a running drive.py", file=sys.stderr)
        return 2
    missing = [p for p in entry_paths(args.model) if not p.is_file()] if args.model is not None else []
    if missing and args.port is None:
        print(f"error: model file not found: {', '.join(map(str, missing))}", file=sys.stderr)
        return 2
    name = entry_name(args.model, lambda p: p.stem) if args.model is not None else f"port{args.port}"
    out = args.out if args.out is not None else Path("eval") / f"{name}-{args.track}"
    config = _eval_config(args, track=args.track, laps=args.laps, port=args.port, host=args.host, out_dir=out,
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
    from steering.checkpoint import CheckpointError
    from steering.eval.compare import CompareConfig, compare
    from steering.sim.client import SimClientError

    config = CompareConfig(tracks=tuple(args.tracks), laps=args.laps, out_dir=args.out, base=_eval_config(args))
    try:
        result = compare(args.models, config)
    except (SimClientError, CheckpointError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(result.table)
    print(f"table: {result.table_path}\nplot:  {result.plot_path}")
    return 0


def run_suite_command(args: argparse.Namespace) -> int:
    from steering.checkpoint import CheckpointError
    from steering.eval.suite import SuiteConfig, run_suite
    from steering.sim.client import SimClientError

    settings = {"out_dir": args.out, "base": _eval_config(args)}
    if args.realtime_only:
        settings["pacings"] = ("realtime",)
    config = {"full": SuiteConfig, "demo": SuiteConfig.demo, "quick": SuiteConfig.quick}[args.rows](**settings)
    try:
        result = run_suite(args.models, config, labels=args.labels)
    except (SimClientError, CheckpointError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(result.table)
    print("scores (mean autonomy % over all rows): " + ", ".join(f"{k} {v:.1f}" for k, v in result.scores.items()))
    for kind, path in result.files.items():
        print(f"{kind + ':':7s}{path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from steering.cli import setup_logging

    parser = argparse.ArgumentParser(prog="python -m steering.eval", description="Closed-loop evaluation of models.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    return run(args)


def run(args: argparse.Namespace) -> int:
    """Dispatch a parsed `evaluate`, `compare` or `suite` command (others carry their own `run`)."""
    if getattr(args, "run", None) is not None:
        return args.run(args)
    return {"evaluate": run_evaluate, "compare": run_compare, "suite": run_suite_command}[args.command](args)
