"""steering-augment-preview: a PNG grid of augmented samples titled with their labels (before -> after).

Shows exactly what training feeds the model (`steering.data.augment` with an `AugmentConfig`), so
a flip that forgets to negate the steering, or a shift too large for the road, is seen at a glance.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Sequence

from data_tools.cli import add_common, add_logs_input, log_paths, run_tool
from steering.data import AugmentConfig, preview_grid, read_logs, samples_from_log

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="steering-augment-preview", description=__doc__.splitlines()[0],
                                     epilog="example: steering-augment-preview data/all --out aug.png --n 16")
    group = add_logs_input(parser, "PNG to write")
    group.add_argument("--n", type=int, default=16, help="samples in the grid (default 16)")
    group.add_argument("--seed", type=int, default=0, help="which samples and which augmentations")
    group.add_argument("--cameras", default="center", help="center, all, or a list like center,left")
    group.add_argument("--correction", type=float, default=0.2, help="side-camera steering correction")
    aug = parser.add_argument_group("Augmentation (AugmentConfig fields; defaults as in training)")
    defaults = AugmentConfig()
    for field in dataclasses.fields(AugmentConfig):
        if field.name != "enabled":
            aug.add_argument(f"--{field.name.replace('_', '-')}", type=float, default=getattr(defaults, field.name))
    add_common(parser)
    return parser


def _run(args: argparse.Namespace) -> str:
    if args.n < 1:
        raise ValueError(f"--n must be at least 1, got {args.n}")
    config = AugmentConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(AugmentConfig)
                              if f.name != "enabled"})
    rows = read_logs(log_paths(args.logs), lenient=args.lenient).rows
    samples = samples_from_log(rows, cameras=args.cameras, correction=args.correction)
    path = preview_grid(samples, config, args.out, n=args.n, seed=args.seed)
    return f"wrote {path} ({min(args.n, len(samples))} samples)"


def main(argv: Sequence[str] | None = None) -> int:
    return run_tool(build_parser(), _run, argv)


if __name__ == "__main__":
    sys.exit(main())
