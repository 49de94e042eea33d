"""steering-balance: write a log whose steering histogram obeys a cap per bin.

The rule is `steering.data.balance`, the one training's `--balance` applies: bins over [-1, 1],
bins above the cap are down-sampled at random (seeded), row order is kept. It balances rows by
their center steering; training with `--cameras all` balances the camera samples instead.
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from data_tools.cli import add_common, add_logs_input, log_paths, output_log, run_tool
from steering.data import balance, read_logs, write_log

log = logging.getLogger(__name__)


def parse_cap(text: str) -> int | float:
    """"300" -> 300 samples per bin; "2.0" -> twice the mean non-empty bin (balance's two meanings)."""
    try:
        return int(text)
    except ValueError:
        return float(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="steering-balance", description=__doc__.splitlines()[0],
                                     epilog="example: steering-balance data/all --out data/balanced --cap 2.0")
    group = add_logs_input(parser, "balanced log: a .csv path, or a folder (gets driving_log.csv)")
    group.add_argument("--histogram", type=Path, help="PNG of the histogram before/after (default: next to --out)")
    rule = parser.add_argument_group("Balancing (same rule as train.py --balance)")
    rule.add_argument("--bins", type=int, default=25, help="steering bins over [-1, 1] (default 25)")
    rule.add_argument("--cap", type=parse_cap, default=2.0,
                      help="integer: samples per bin; decimal: multiple of the mean non-empty bin (default 2.0)")
    rule.add_argument("--seed", type=int, default=0, help="which rows of a full bin are kept")
    add_common(parser)
    return parser


def _run(args: argparse.Namespace) -> str:
    driving_log = read_logs(log_paths(args.logs), lenient=args.lenient)
    balanced, report = balance(driving_log.rows, bins=args.bins, cap=args.cap, seed=args.seed)
    out = write_log(balanced, output_log(args.out))
    histogram = report.save_histogram(args.histogram or out.with_name(out.stem + "_histogram.png"))
    return f"{report.summary()}\nwrote {out} ({len(balanced)} rows) and {histogram}"


def main(argv: Sequence[str] | None = None) -> int:
    return run_tool(build_parser(), _run, argv)


if __name__ == "__main__":
    sys.exit(main())
