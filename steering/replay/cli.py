"""`python -m steering.eval replay` (also `python -m steering.sim replay`): parsing and printing only;
the work is `steering.replay.command.replay_models`."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from steering.checkpoint import CheckpointError
from steering.data.reading import DrivingLogError
from steering.eval.cli_args import is_log_argument, log_argument
from steering.eval.scoring import InterventionConfig
from steering.replay.command import ReplayOptions, replay_models
from steering.replay.loop import ReplayConfig
from steering.replay.reference import SegmentConfig
from steering.replay.rigs import SIMULATORS


def add_command(commands: argparse._SubParsersAction) -> None:
    rp = commands.add_parser(
        "replay", help="NVIDIA's replay: models steer a simulated car along recorded logs (synthesised views)",
        description="Each model steers a simulated car along the recorded drive; it sees views synthesised from "
                    "the nearest recorded frame (flat ground below the horizon, infinity above); more than "
                    "--max-offset from the recorded path (or --max-heading off its heading) is an intervention "
                    "and the car is put back. Writes report.json, <model>_trajectory.png and with --video "
                    "<model>.mp4. Autonomy = (1 - interventions x 6 s / elapsed s) x 100.")
    rp.add_argument("inputs", nargs="+", metavar="MODEL_OR_LOG",
                    help="models (a.pt, a.pt+b.pt an ensemble; controls: constant:0 never steers, delayed:K:a.pt "
                         "applies a.pt's steering K frames late, recorded:W steers with the recording's own "
                         "steering averaged over W s) then driving_log.csv files (or their folders)")
    rp.add_argument("--out", type=Path, default=Path("runs/replay"), help="folder for the report, plots, videos")
    rp.add_argument("--rows", default=":", help="START:STOP rows of the log(s) to replay, as a Python slice "
                                                 "(e.g. 1600: for the held-out end; default all)")
    rp.add_argument("--simulator", choices=SIMULATORS, default="auto",
                    help="the simulator that recorded the logs, whose car (camera rig, wheelbase) is replayed: "
                         "unity, headless (steering.sim record), auto (default): headless when the headless "
                         "recorder's sim_trace.csv lies beside every log, else unity")
    group = rp.add_argument_group("Driving and scoring")
    group.add_argument("--realtime", action="store_true",
                       help="apply each command after the model's measured latency (default: lock step, at once)")
    group.add_argument("--max-offset", type=float, default=ReplayConfig.max_offset_m,
                       help="metres off the recorded path that count as an intervention (PilotNet: 1.0)")
    group.add_argument("--max-heading", type=float, default=ReplayConfig.max_heading_deg,
                       help="degrees off the recorded heading that count as an intervention")
    group.add_argument("--penalty-s", type=float, default=InterventionConfig.penalty_s,
                       help="seconds each intervention costs in the autonomy score (PilotNet: 6)")
    group.add_argument("--gap-s", type=float, default=SegmentConfig.gap_s,
                       help="a pause between frames longer than this starts a new segment")
    group.add_argument("--video", action="store_true", help="also write <model>.mp4 of the synthesised views")
    group.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def _row_slice(text: str) -> tuple[int | None, int | None]:
    start, _, stop = text.partition(":")
    return (int(start) if start.strip() else None, int(stop) if stop.strip() else None)


def run(args: argparse.Namespace) -> int:
    logs = [log_argument(t) for t in args.inputs if is_log_argument(t)]
    models = [t for t in args.inputs if not is_log_argument(t)]
    if not logs or not models:
        print("error: give at least one model (a.pt, constant:0) and one driving_log.csv", file=sys.stderr)
        return 2
    try:
        rows = _row_slice(args.rows)
    except ValueError:
        print(f"error: --rows takes START:STOP (integers), got {args.rows!r}", file=sys.stderr)
        return 2
    loop = ReplayConfig(max_offset_m=args.max_offset, max_heading_deg=args.max_heading, penalty_s=args.penalty_s,
                        realtime=args.realtime, progress=args.progress)
    options = ReplayOptions(out_dir=args.out, rows=rows, loop=loop, segments=SegmentConfig(gap_s=args.gap_s),
                            video=args.video, simulator=args.simulator)
    try:
        result = replay_models(models, logs, options)
    except (CheckpointError, DrivingLogError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name, run in result.runs.items():
        summary = run.summary()
        print(f"{name}: autonomy {summary['autonomy_percent']:.1f} %, {summary['interventions']} interventions in "
              f"{summary['elapsed_s']:.1f} s, mean |offset| {summary['mean_abs_offset_m']:.2f} m, "
              f"{summary['frames_per_s']:.0f} frames/s")
        for iv in run.interventions:
            print(f"  intervention at segment {iv.segment} row {iv.row} (line {iv.line}): {iv.reason}, "
                  f"offset {iv.offset_m:+.2f} m, heading {iv.heading_deg:+.1f} deg")
    for kind, path in result.files.items():
        print(f"{kind + ':':12s} {path}")
    return 0

