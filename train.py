#!/usr/bin/env python
"""Train a steering model from simulator recordings.

    python train.py data/driving_log.csv                          # ResNet-50, ImageNet weights, two-phase
    python train.py data/driving_log.csv --model pilotnet --pretrained none   # offline, fast on a CPU
    python train.py data/*/driving_log.csv --config configs/finetune.yaml --epochs 20
    python train.py my_unity_laps/driving_log.csv --preset unity-recordings   # recorded in the Unity simulator
    torchrun --nproc_per_node=2 train.py data/driving_log.csv       # DistributedDataParallel

The run folder (--out) gets best.pt (the model to drive: `python drive.py runs/x/best.pt`), last.pt
(for --resume), config.json, history.json and PNG plots. Ctrl-C or SIGTERM stop at once (exit code
130 / 143; the epoch in progress is dropped; SIGINT also when a script started the run in the
background), a full disk stops at the failed write (exit code 1); either way last.pt and
history.json keep the last finished epoch for --resume. The work happens in `steering.training`.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from collections.abc import Sequence

from steering.cli import add_config_flags, given_values, setup_logging
from steering.training.config import ConfigError, TrainConfig, load_config_file
from steering.training.presets import load_preset, preset_help, preset_names


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("logs", nargs="*", metavar="LOG", help="driving_log.csv file(s) recorded by the simulator")
    parser.add_argument("--config", metavar="FILE.yaml",
                        help="YAML file of settings (same names as the flags); flags given here override it")
    parser.add_argument("--preset", choices=preset_names(), metavar="NAME",
                        help="a named recipe (--config and flags override it): " + preset_help())
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    add_config_flags(parser.add_argument_group("Training settings"), TrainConfig, group_parser=parser)
    parser.add_argument("--no-augment", dest="augment", action="store_const", const="none", default=argparse.SUPPRESS,
                        help="no augmentation (same as --augment none)")
    return parser


def parse_config(argv: Sequence[str] | None = None) -> tuple[TrainConfig, argparse.Namespace]:
    """Two-stage parse: --config FILE.yaml sets the defaults, then the command line overrides them."""
    parser = build_parser()
    args = parser.parse_args(argv)
    values = load_preset(args.preset) if args.preset else {}
    values.update(load_config_file(args.config) if args.config else {})
    values.update(given_values(TrainConfig, args))
    if args.logs:
        values["logs"] = args.logs
    if not values.get("logs"):
        parser.error("no driving logs: pass LOG paths or set 'logs' in --config")
    return TrainConfig.from_given(values), args


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config, args = parse_config(argv)
    except ConfigError as exc:
        print(f"train.py: {exc}", file=sys.stderr)
        return 2
    setup_logging(args.verbose)
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun only rank 0 talks
        logging.getLogger().setLevel(logging.WARNING)
        config = dataclasses.replace(config, progress=False)

    # start-up time: torch and the training stack load only after the flags parsed (`--help`, flag errors)
    from steering.checkpoint import CheckpointError
    from steering.model import PretrainedWeightsError
    from steering.training import NonFiniteLossError, train
    from steering.training.distributed import shutdown_process_group
    from steering.training.interrupts import TrainingInterrupted, listen_to_ctrl_c

    listen_to_ctrl_c()  # also when a script started train.py in the background with SIGINT ignored
    try:
        result = train(config)
    # Expected failures get one clear line, no traceback: no weights offline, a bad checkpoint to
    # resume, a diverging loss, unreadable logs (steering.data names file and line).
    except (PretrainedWeightsError, CheckpointError, NonFiniteLossError, OSError, ValueError) as exc:
        print(f"train.py: {exc}", file=sys.stderr)
        return 1
    except TrainingInterrupted as exc:  # Ctrl-C or SIGTERM: exit 130 / 143, last.pt and history.json in step
        print(f"train.py: {exc}", file=sys.stderr)
        return exc.exit_code
    finally:
        shutdown_process_group()
    if int(os.environ.get("RANK", "0")) == 0:
        print(result.summary())
        print(f"model to drive: {result.best_path}  (python drive.py {result.best_path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
