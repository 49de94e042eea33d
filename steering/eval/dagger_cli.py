"""The `dagger` command of `python -m steering.sim` (argument parsing and printing only).

    python -m steering.sim dagger runs/pilotnet/best.pt --data data/driving_log.csv --rounds 2 --out runs/dagger
    python -m steering.sim dagger model.pt --data data/driving_log.csv --rounds 1 --laps 0.5 --epochs 1 --quick

The work happens in `steering.eval.dagger`.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from steering.sim.expert import ExpertConfig
from steering.sim.tracks import list_tracks

COMMAND = "dagger"


def add_command(commands: argparse._SubParsersAction) -> None:
    dagger = commands.add_parser(COMMAND, help="DAgger: the model drives, the expert labels its states, retrain, score")
    dagger.add_argument("model", type=Path, help="checkpoint to start from (train.py's best.pt)")
    dagger.add_argument("--data", type=Path, nargs="+", required=True,
                        help="the recording(s) it was trained on (driving_log.csv); the expert's rows are added")
    dagger.add_argument("--rounds", type=int, default=1)
    dagger.add_argument("--out", type=Path, default=Path("runs/dagger"),
                        help="data/ (the aggregated driving_log.csv + IMG/), round<k>/, dagger.json")
    dagger.add_argument("--track", default="lake", choices=list_tracks(),
                        help="where the model drives for data: the training track (held-out tracks are refused)")
    dagger.add_argument("--laps", type=float, default=1.0, help="model driving per round")
    dagger.add_argument("--max-samples", type=int, default=None, help="at most this many labelled states per round")
    dagger.add_argument("--beta", type=float, default=0.0,
                        help="share of steps the expert steers (the paper's mixture policy); 0 = the model only")
    dagger.add_argument("--speed", type=float, default=ExpertConfig.cruise_speed_mph, help="cruise speed, mph")
    dagger.add_argument("--epochs", type=int, default=None, help="retraining epochs (default: the checkpoint's own)")
    dagger.add_argument("--seed", type=int, default=0)
    dagger.add_argument("--backend", default="auto",
                        help="the model's runtime while it drives for data (steering.inference; auto = as evaluated)")
    scoring = dagger.add_argument_group("Scoring (the evaluation suite, steering.eval.suite)")
    scoring.add_argument("--quick", action="store_true", help="the suite's quick rows (a few metres per track)")
    scoring.add_argument("--suite-laps", type=float, nargs=3, metavar=("TRAIN", "HELD_OUT", "CHALLENGE"),
                         help="the suite's laps per track")
    scoring.add_argument("--lock-step", action="store_true",
                         help="the suite's lock-step rows only (no real-time or target rows: no machine dependence)")
    scoring.add_argument("--no-suite", dest="suite", action="store_false", help="do not score the rounds")
    dagger.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    # start-up time: torch, training and the evaluator load only for this command
    from steering.eval.dagger import DaggerConfig, HeldOutTrackError, run_dagger
    from steering.eval.suite import SuiteConfig

    suite = None
    if args.suite:
        suite = SuiteConfig.quick() if args.quick else SuiteConfig()
        changes = {}
        if args.suite_laps:
            changes["laps"] = tuple(args.suite_laps)
        if args.lock_step:
            changes.update(pacings=("fixed",), targets=())
        suite = dataclasses.replace(suite, **changes)
    try:
        config = DaggerConfig(track=args.track, rounds=args.rounds, laps=args.laps, max_samples=args.max_samples,
                              beta=args.beta, speed_mph=args.speed, seed=args.seed, epochs=args.epochs,
                              backend=args.backend, out_dir=args.out, suite=suite, progress=args.progress)
    except (HeldOutTrackError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = run_dagger(args.model, args.data, config)
    for r in result.rounds:
        drove = "" if r.collect is None else (
            f"; drove {r.collect.distance_m:.0f} m, {r.collect.rows} rows labelled, "
            f"{r.collect.interventions} interventions, mean |expert - model| {r.collect.disagreement:.3f}")
        score = "not scored" if r.score is None else f"suite score {r.score:.1f}"
        short = f" (rows cut short: {', '.join(r.cut_short)})" if r.cut_short else ""
        print(f"round {r.round}: {r.checkpoint} {score}{short}{drove}")
    print(f"aggregated log: {result.data_log}")
    return 0
