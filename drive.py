"""Drive the Udacity simulator (Autonomous Mode) with a trained model.

    python drive.py model.pt              # serve ws://127.0.0.1:4567, then start the simulator
    python drive.py model.pt run1         # also record frames + driving_log.csv into run1/
    python drive.py model.pt --monitor    # and watch it live on http://127.0.0.1:8887/
    python drive.py model.pt --tta flip   # steer with the mean of the frame and its mirror (negated)
    python drive.py a.pt b.pt [run1]      # steer with the mean of several checkpoints
    python drive.py model.pt --alarm autoencoder --alarm-file ae.pt --on-alarm slow   # failure prediction

The logic lives in `steering.drive` (protocol, pipeline, control, runtimes, recording); this file
parses arguments (generated from `DriveConfig`), sets up logging and runs the server until Ctrl-C
or SIGTERM, either of which stops it cleanly: the car gets `steer 0,0`, the recording is flushed,
latency and error counters are printed, and the exit status is 0. The `runtime:` line says which
runtime the accuracy gate let through and why; the stats lines (every --stats-every seconds and at
exit) give the pipeline's stages and what the socket adds (frame in -> reply out, reply -> next frame).
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import sys
import threading
from pathlib import Path

from steering.checkpoint import CheckpointError
from steering.cli import add_config_flags, config_from_args, setup_logging
from steering.drive import DriveConfig, DriveServer
from steering.drive.monitor import Monitor
from steering.drive.sinks import SINKS
from steering.inference.ensemble import load_model, looks_like_model
from steering.inference.exported import model_suffixes


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="drive.py",
        description="Serve a trained steering model to the Udacity simulator (start the simulator in "
                    "Autonomous Mode after this prints 'listening').",
        epilog="Sinks every drive builds when its settings ask for them: "
               + "; ".join(f"{spec.name}: {spec.help}" for spec in SINKS.values()) + ".",
    )
    parser.add_argument("model", type=Path, nargs="+",
                        help="checkpoint written by train.py (e.g. runs/x/best.pt), or a file exported by "
                             "`python -m steering.export` (.onnx, .xml, .ts); several: steer with the mean of their "
                             "steering (same preprocessing required). A last argument that is not a file and does "
                             f"not end in {', '.join(model_suffixes())} is the record_dir: save every received frame "
                             "as IMG/center_*.jpg and a driving_log.csv of the commands, in the simulator's own format")
    add_config_flags(parser, DriveConfig)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def split_record_dir(paths: list[Path]) -> tuple[list[Path], Path | None]:
    """(models, record folder): the last of several arguments is the folder unless it looks like a model."""
    if len(paths) > 1 and not looks_like_model(paths[-1]):
        return paths[:-1], paths[-1]
    return paths, None


def config_from(args: argparse.Namespace) -> DriveConfig:
    _, record_dir = split_record_dir(args.model)
    return dataclasses.replace(config_from_args(DriveConfig, args), record_dir=record_dir)


def stop_on_signals() -> tuple[threading.Event, list[int], dict]:
    """An event set by the first SIGINT or SIGTERM, the signal that set it, and the handlers it replaced.

    SIGINT gets a handler even when it was ignored at start: a job started in the background by a
    script inherits SIGINT ignored, and would otherwise not stop on Ctrl-C (or `kill -INT`) at all.
    A second signal while stopping uses the default action: it ends the process at once.
    """
    stop, received = threading.Event(), []

    def handler(signum: int, frame: object) -> None:
        received.append(signum)
        stop.set()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    return stop, received, previous


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    if args.verbose:
        logging.getLogger("steering.drive.udacity.server.wire").setLevel(logging.DEBUG)  # every Socket.IO packet
    monitor = None
    try:
        config = config_from(args)
        models, _ = split_record_dir(args.model)
        predictor = load_model(models, config.inference)  # a Predictor, or an Ensemble (several, or --tta)
        monitor = Monitor(config.monitor, predictor.checkpoint) if config.monitor.enabled else None
        server = DriveServer(predictor, config, sinks=[monitor.sink] if monitor else [])
        if monitor is not None:
            monitor.start(server)  # first: a taken monitor port fails before the simulator can connect
        server.start()
    except CheckpointError as exc:
        print(f"drive.py: cannot load the model: {exc}", file=sys.stderr)
        return 2
    except (ValueError, OSError, RuntimeError) as exc:
        if monitor is not None:
            monitor.stop()
        print(f"drive.py: {exc}", file=sys.stderr)
        return 2
    stop, received, previous = stop_on_signals()
    print(f"model: {predictor.describe()}", flush=True)
    print(f"runtime: {predictor.choice}", flush=True)
    if server.alarm is not None:
        print(f"alarm: {server.alarm.describe()}; on alarm: {config.control.on_alarm}", flush=True)
    if monitor is not None:
        print(f"monitor: {monitor.url}", flush=True)
    print(f"listening on {server.url}; start the simulator in Autonomous Mode. Ctrl-C stops.", flush=True)
    try:
        while not stop.wait(1.0):  # a signal handler runs in this thread and wakes the wait
            pass
    finally:
        server.stop()
        if monitor is not None:
            monitor.stop()
        how = f" by {signal.Signals(received[0]).name}" if received else ""
        print(f"\nstopped{how}. {server.summary()}", flush=True)
        if server.recorder is not None:
            print(f"recorded {server.recorder.written} frames to {server.recorder.folder} "
                  f"({server.recorder.dropped} dropped)", flush=True)
        for sig, action in previous.items():  # main() may run inside another program (tests)
            signal.signal(sig, action)
    return 0


if __name__ == "__main__":
    sys.exit(main())
