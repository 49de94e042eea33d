#!/usr/bin/env python
"""Train a steering model from simulator recordings.

    python train.py data/driving_log.csv                          # ResNet-50, ImageNet weights, two-phase
    python train.py data/driving_log.csv --model pilotnet --pretrained none   # offline, fast on a CPU
    python train.py data/*/driving_log.csv --config configs/finetune.yaml --epochs 20
    torchrun --nproc_per_node=2 train.py data/driving_log.csv       # DistributedDataParallel

The run folder (--out) gets best.pt (the model to drive: `python drive.py runs/x/best.pt`), last.pt
(for --resume), config.json, history.json and PNG plots. Ctrl-C or SIGTERM stop at once (exit code
130 / 143; the epoch in progress is dropped), a full disk stops at the failed write (exit code 1);
either way last.pt and history.json keep the last finished epoch for --resume. The work happens in
`steering.training`.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from typing import Sequence

from steering.training.config import AUGMENT_MODES, LOSSES, STRATEGIES, ConfigError, TrainConfig, load_config_file

DEFAULTS = TrainConfig()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("logs", nargs="*", metavar="LOG", help="driving_log.csv file(s) recorded by the simulator")
    parser.add_argument("--config", metavar="FILE.yaml",
                        help="YAML file of settings (same names as the flags); flags given here override it")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")

    group = parser.add_argument_group("Model")
    group.add_argument("--model", help=f"registered model name (steering.model.list_models()); default {DEFAULTS.model}")
    group.add_argument("--input-size", metavar="HxW",
                       help="model input after cropping sky and hood, e.g. 66x200 (default: the model's own, "
                            "66x200 for every registered model; docs/model.md shows the latency cost of larger inputs)")
    group.add_argument("--pretrained", metavar="imagenet|none|PATH",
                       help="backbone weights: 'imagenet' (download, needs internet once), 'none' (from scratch) "
                            f"or a local torchvision state_dict file; default {DEFAULTS.pretrained}")
    group.add_argument("--strategy", choices=STRATEGIES,
                       help="frozen: head only; finetune: all layers, backbone at --backbone-lr; two-phase: head "
                            "for --head-epochs, then the top --unfreeze-stages stages; gradual: one more stage "
                            f"every --unfreeze-every epochs; default {DEFAULTS.strategy}")
    group.add_argument("--head-epochs", type=int, help=f"two-phase: head-only epochs (default {DEFAULTS.head_epochs})")
    group.add_argument("--unfreeze-stages", type=int,
                       help=f"two-phase: backbone stages unfrozen from the top (default {DEFAULTS.unfreeze_stages})")
    group.add_argument("--unfreeze-every", type=int,
                       help=f"gradual: epochs between unfreezing stages (default {DEFAULTS.unfreeze_every})")

    group = parser.add_argument_group("Optimisation")
    group.add_argument("--epochs", type=int, help=f"maximum epochs (default {DEFAULTS.epochs})")
    group.add_argument("--batch-size", type=int, help=f"images per batch and process (default {DEFAULTS.batch_size})")
    group.add_argument("--lr", type=float, help=f"head learning rate, AdamW (default {DEFAULTS.lr})")
    group.add_argument("--backbone-lr", type=float,
                       help=f"learning rate of the pretrained backbone layers (default {DEFAULTS.backbone_lr})")
    group.add_argument("--weight-decay", type=float, help=f"AdamW weight decay (default {DEFAULTS.weight_decay})")
    group.add_argument("--loss", choices=LOSSES, help=f"training loss (default {DEFAULTS.loss})")
    group.add_argument("--huber-delta", type=float,
                       help=f"--loss huber: errors above this (steering units) count linearly (default {DEFAULTS.huber_delta})")
    group.add_argument("--grad-clip", type=float, help=f"max gradient norm, 0 = off (default {DEFAULTS.grad_clip})")
    group.add_argument("--accumulate", type=int, metavar="N",
                       help=f"gradient accumulation: one optimizer step every N batches (default {DEFAULTS.accumulate})")
    group.add_argument("--patience", type=int,
                       help=f"early stopping: epochs without validation improvement, 0 = off (default {DEFAULTS.patience})")

    group = parser.add_argument_group("Data")
    group.add_argument("--cameras", choices=("center", "all"), help=f"cameras to train on (default {DEFAULTS.cameras})")
    group.add_argument("--correction", type=float,
                       help=f"steering offset for the side cameras (default {DEFAULTS.correction})")
    group.add_argument("--augment", nargs="?", const="full", choices=AUGMENT_MODES,
                       help="augmentation: full (flip, shifts, brightness…), flip, none, or auto = flip while the "
                            f"backbone is frozen (feature cache), full otherwise; bare --augment means full "
                            f"(default {DEFAULTS.augment})")
    group.add_argument("--no-augment", dest="augment", action="store_const", const="none", help="no augmentation")
    group.add_argument("--balance", action="store_true", default=None,
                       help="cap over-represented steering bins (mostly straight driving) in the training set")
    group.add_argument("--val-fraction", type=float, help=f"share of frames for validation (default {DEFAULTS.val_fraction})")
    group.add_argument("--lenient", action="store_true", default=None, help="skip unreadable log rows instead of stopping")
    group.add_argument("--limit", type=int, help="use only the first N samples (quick checks)")

    group = parser.add_argument_group("Runtime")
    group.add_argument("--seed", type=int, help=f"seeds python, numpy, torch and the data order (default {DEFAULTS.seed})")
    group.add_argument("--out", metavar="DIR", help=f"run folder (default {DEFAULTS.out})")
    group.add_argument("--resume", metavar="PATH", help="continue a run from its last.pt (same flags as the first run)")
    group.add_argument("--device", help=f"auto, cpu or cuda (default {DEFAULTS.device})")
    group.add_argument("--workers", type=int, help=f"data-loading worker processes (default {DEFAULTS.workers})")
    group.add_argument("--amp", action="store_true", default=None,
                       help="mixed precision: bfloat16 autocast where the backbone trains (CUDA: also channels_last); "
                            "on CPUs with AVX512-BF16/AMX fine-tuning ran ~1.8-2.6x faster (docs/benchmarks.md)")
    group.add_argument("--no-cache", dest="cache", action="store_false", default=None,
                       help="do not cache frozen-backbone features (they are cached while the backbone is frozen "
                            "and augmentation is flip-only)")
    group.add_argument("--cache-dir", metavar="DIR", help="where feature caches live (default <out>/feature_cache)")
    group.add_argument("--no-progress", dest="progress", action="store_false", default=None, help="no progress bars")
    return parser


def parse_config(argv: Sequence[str] | None = None) -> tuple[TrainConfig, argparse.Namespace]:
    """Two-stage parse: --config FILE.yaml sets the defaults, then the command line overrides them."""
    parser = build_parser()
    args = parser.parse_args(argv)
    values = load_config_file(args.config) if args.config else {}
    for field in dataclasses.fields(TrainConfig):
        given = getattr(args, field.name, None)
        if given is not None and not (field.name == "logs" and not given):
            values[field.name] = given
    if not values.get("logs"):
        parser.error("no driving logs: pass LOG paths or set 'logs' in --config")
    return TrainConfig.from_given(values), args


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config, args = parse_config(argv)
    except ConfigError as exc:
        print(f"train.py: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("matplotlib").setLevel(logging.WARNING)  # its font search floods --verbose
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun only rank 0 talks
        logging.getLogger().setLevel(logging.WARNING)
        config = dataclasses.replace(config, progress=False)

    from steering.checkpoint import CheckpointError
    from steering.model import PretrainedWeightsError
    from steering.training import NonFiniteLossError, train
    from steering.training.distributed import shutdown_process_group
    from steering.training.interrupts import TrainingInterrupted

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
