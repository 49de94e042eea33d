"""`python -m steering.sim`: record expert laps, drive through a drive server, list tracks, benchmark.

    python -m steering.sim record --track lake --laps 2 --out data/ [--randomize-style]
    python -m steering.sim record --track lake --out data_rain/ --perturb rain:3 --perturb-schedule night:2@300-
    python -m steering.sim drive --port 4567 --track mountain --laps 1      # drive.py must be running
    python -m steering.sim tracks
    python -m steering.sim bench --frames 500
    python -m steering.sim evaluate model.pt --track mountain --laps 1 --out eval/ [--port 4567] [--video]
    python -m steering.sim compare a.pt b.pt --tracks lake mountain --laps 1 --out cmp/
    python -m steering.sim suite a.pt b.pt --out runs/suite [--quick]
    python -m steering.sim dagger model.pt --data data/driving_log.csv --rounds 2 --out runs/dagger [--quick]
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

from steering.cli import setup_logging
from steering.eval import cli as eval_cli
from steering.eval import dagger_cli
from steering.preprocess import encode_jpeg
from steering.sim.client import ClientConfig, SimClient, SimClientError
from steering.sim.expert import ExpertConfig
from steering.sim.randomize import LOOKS
from steering.sim.recorder import RecordConfig, record, steering_profile
from steering.sim.render import CameraConfig
from steering.sim.tracks import TRACKS, get_track, list_tracks, track_help
from steering.sim.world import World, WorldConfig
from steering.udacity import CAMERAS, PORT


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m steering.sim", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True)

    rec = commands.add_parser("record", help="drive the expert and write driving_log.csv + IMG/ like Record mode")
    rec.add_argument("--track", default="lake", choices=list_tracks(), help=track_help())
    rec.add_argument("--laps", type=float, default=1.0)
    rec.add_argument("--out", type=Path, required=True, help="folder for driving_log.csv and IMG/ (appended to)")
    rec.add_argument("--seed", type=int, default=0, help="expert's manoeuvres and the world's textures")
    rec.add_argument("--speed", type=float, default=ExpertConfig.cruise_speed_mph, help="expert's cruise speed, mph")
    rec.add_argument("--no-recoveries", action="store_true", help="centre-line driving only")
    rec.add_argument("--record-drift", action="store_true", help="also record the drift towards the edge")
    rec.add_argument(
        "--decimal", choices=[".", ","], default=".", help="',' writes numbers like a comma-decimal machine"
    )
    rec.add_argument("--start-time", help="first frame's time, e.g. 2024-05-01T12:00:00 (default: now)")
    rec.add_argument("--randomize-style", action="store_true",
                     help="domain randomisation: every lap a new random look of the track (colours, light, shadows)")
    rec.add_argument("--looks", default="classic", type=_looks,
                     help="with --randomize-style: comma-separated families of looks, taken in turn, one per lap: "
                          f"{', '.join(LOOKS)} (the Unity lake's look; docs/realdata.md), e.g. classic,lake "
                          "(default classic)")
    rec.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    eval_cli.add_camera_argument(rec)
    eval_cli.add_perturb_arguments(rec)

    drive = commands.add_parser("drive", help="be the simulator for a running drive server (drive.py)")
    drive.add_argument("--host", default="127.0.0.1")
    drive.add_argument("--port", type=int, default=PORT)
    drive.add_argument("--track", default="lake", choices=list_tracks(), help=track_help())
    drive.add_argument("--laps", type=float, default=1.0)
    drive.add_argument("--max-steps", type=int, default=None)
    drive.add_argument("--decimal", choices=[".", ","], default=".", help="',' behaves like a comma-decimal machine")
    drive.add_argument("--single-open", action="store_true", help="one telemetry on connect (the real one sends two)")
    clock = drive.add_mutually_exclusive_group()
    clock.add_argument("--wallclock", dest="pacing", action="store_const", const="wallclock", default="fixed",
                       help="run the world in real time (server latency matters)")
    clock.add_argument("--realtime", dest="pacing", action="store_const", const="realtime",
                       help="the world moves by the server's measured round trip in whole frames of 1/60 s")
    drive.add_argument("--seed", type=int, default=0, help="the world's textures and the perturbations' randomness")
    eval_cli.add_camera_argument(drive)
    eval_cli.add_perturb_arguments(drive)

    commands.add_parser("tracks", help="list the tracks")

    bench = commands.add_parser("bench", help="render speed per camera on one core")
    bench.add_argument("--track", default="lake", choices=list_tracks(), help=track_help())
    bench.add_argument("--frames", type=int, default=500)

    eval_cli.add_commands(commands)  # evaluate, compare, suite (steering.eval)
    dagger_cli.add_command(commands)  # dagger (steering.eval.dagger)
    return parser


def _looks(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in LOOKS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown look {', '.join(unknown) or text!r}; choose from {', '.join(LOOKS)}")
    return names


def _record(args: argparse.Namespace) -> int:
    start = dt.datetime.fromisoformat(args.start_time) if args.start_time else None
    summary = record(
        args.out,
        WorldConfig(track=args.track, seed=args.seed, perturb=eval_cli.perturb_plan(args),
                    camera=CameraConfig.named(args.camera)),
        ExpertConfig(cruise_speed_mph=args.speed, recoveries=not args.no_recoveries, seed=args.seed),
        RecordConfig(laps=args.laps, record_drift=args.record_drift, decimal=args.decimal, start_time=start,
                     randomize_style=args.randomize_style, looks=args.looks, progress=args.progress),
    )
    profile = steering_profile(summary.steering)
    if args.perturb or args.perturb_schedule:
        print(f"camera frames under {eval_cli.perturb_plan(args)}")
    print(
        f"wrote {summary.rows} rows ({summary.laps} laps, max |CTE| {summary.max_abs_cte_m:.2f} m) "
        f"to {summary.log_path}"
    )
    if args.randomize_style:
        families = "" if args.looks == ("classic",) else f" from {', '.join(args.looks)}"
        print(f"{len(set(summary.track_keys))} random looks of {args.track} (one per lap){families}")
    print("rows per expert phase: " + ", ".join(f"{k} {v}" for k, v in sorted(summary.phases.items())))
    if profile:
        print("steering: " + ", ".join(f"{k} {v:.0%}" for k, v in profile.items()))
    return 0


def _drive(args: argparse.Namespace) -> int:
    world = World(WorldConfig(track=args.track, seed=args.seed, perturb=eval_cli.perturb_plan(args),
                              camera=CameraConfig.named(args.camera)))
    config = ClientConfig(host=args.host, port=args.port, decimal=args.decimal, double_open=not args.single_open,
                          pacing=args.pacing)
    try:
        result = SimClient(world, config).run(max_steps=args.max_steps, laps=args.laps)
    except SimClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    ctes = [abs(s.cte_m) for s in result.steps] or [0.0]
    off = sum(s.off_road for s in result.steps)
    print(
        f"{len(result.steps)} steps ({result.stop_reason}), {world.laps_completed} laps, "
        f"max |CTE| {max(ctes):.2f} m, {off} steps off the road, "
        f"{len(result.steps) / max(result.wall_s, 1e-9):.0f} steps/s"
    )
    return 0


def _bench(args: argparse.Namespace) -> int:
    import cv2

    cv2.setNumThreads(1)  # one core, as the target is stated
    world = World(WorldConfig(track=args.track))
    world.render()  # paint the texture outside the timing
    track = get_track(args.track)
    poses = [track.pose_at(i * track.length_m / args.frames, offset_m=(i % 7 - 3) * 0.5) for i in range(args.frames)]
    for camera in CAMERAS:
        started = time.perf_counter()
        for x, y, heading in poses:
            world.renderer.render(x, y, heading, camera)
        elapsed = time.perf_counter() - started
        print(
            f"{camera:>6}: {args.frames / elapsed:7.0f} frames/s ({1000 * elapsed / args.frames:.2f} ms/frame, 1 core)"
        )
    started = time.perf_counter()
    for x, y, heading in poses:
        for frame in world.renderer.render_all(x, y, heading).values():
            encode_jpeg(frame, 75)
    elapsed = time.perf_counter() - started
    print(f"record sample (3 cameras + 3 JPEG encodes): {args.frames / elapsed:.0f} samples/s")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    setup_logging(args.verbose)
    if args.command == "record":
        return _record(args)
    if args.command == "drive":
        return _drive(args)
    if args.command == "bench":
        return _bench(args)
    if args.command == dagger_cli.COMMAND:
        return dagger_cli.run(args)
    if args.command in eval_cli.COMMANDS:
        return eval_cli.run(args)
    for name in list_tracks():
        track = get_track(name)
        print(f"{name:10s} {track.length_m:5.0f} m, road {track.road_width_m:.1f} m wide: {TRACKS[name].description}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
