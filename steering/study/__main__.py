"""`python -m steering.study`: train and score every entry of the study, write study.md, study.json and PNGs."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from steering.cli import setup_logging
from steering.study import StudyConfig, full_plan, quick_plan, run_study


def main(argv: Sequence[str] | None = None) -> int:
    defaults = StudyConfig()
    parser = argparse.ArgumentParser(prog="python -m steering.study", description=__doc__.splitlines()[0].strip("`"))
    parser.add_argument("--log", type=Path, default=None,
                        help="driving_log.csv to train on (default: record the demo's recording into OUT/data)")
    parser.add_argument("--out", type=Path, default=defaults.out_dir, help="study folder (rerun to resume)")
    parser.add_argument("--quick", action="store_true", help="two cheap entries on a few hundred frames (CI)")
    parser.add_argument("--entries", nargs="*", default=[], metavar="PATTERN",
                        help="only the entries whose names match (shell patterns); --list shows them")
    parser.add_argument("--list", action="store_true", help="print the entries and whether they can run here")
    parser.add_argument("--epochs", type=int, default=defaults.epochs, help="epochs per entry (the same for all)")
    parser.add_argument("--limit", type=int, default=defaults.limit, help="training samples cap (0 = all)")
    parser.add_argument("--workers", type=int, default=defaults.workers, help="data-loading processes")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--no-variants", dest="variants", action="store_false",
                        help="skip the TTA and ensemble rows")
    parser.add_argument("--no-progress", dest="progress", action="store_false")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    if args.list:
        for entry in quick_plan() if args.quick else full_plan():
            why_not = entry.availability()
            print(f"{entry.name:40s} {'runs' if why_not is None else 'skipped: ' + why_not}")
        return 0
    config = StudyConfig(out_dir=args.out, log=args.log, quick=args.quick, entries=tuple(args.entries),
                         epochs=args.epochs, limit=args.limit, workers=args.workers, seed=args.seed,
                         variants=args.variants, progress=args.progress)
    try:
        result = run_study(config)
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"study: {exc}", file=sys.stderr)
        return 1
    print(result.files["table"].read_text())
    for name, path in result.files.items():
        print(f"  {name:10s} {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
