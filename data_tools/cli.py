"""What every data tool's command line shares: logging setup and finding the log a user means.

Each tool in `data_tools/` is a thin CLI (`main(argv=None) -> int`) around `steering.data`; this
module keeps their common arguments identical so `steering-clean data/` and `steering-stats data/`
accept the same things.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Sequence

LOG_NAME = "driving_log.csv"


def setup_logging(verbose: bool) -> None:
    """Tool output: INFO by default (what was read, what was dropped), DEBUG with --verbose."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def add_reading(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--lenient", action="store_true",
                       help="skip unreadable log rows (counted in the report) instead of stopping at the first")


def log_path(path: str | Path) -> Path:
    """A recording folder (with driving_log.csv) or a csv file -> the csv path; raises with the fix."""
    path = Path(path)
    if path.is_dir():
        candidate = path / LOG_NAME
        if not candidate.is_file():
            raise FileNotFoundError(f"{path}: folder has no {LOG_NAME}; pass the csv itself or the recording folder")
        return candidate
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such log file or recording folder")
    return path


def log_paths(paths: Sequence[str | Path]) -> list[Path]:
    return [log_path(p) for p in paths]


def output_log(path: str | Path) -> Path:
    """--out as given: a .csv file, or a folder that gets driving_log.csv."""
    path = Path(path)
    return path if path.suffix.lower() == ".csv" else path / LOG_NAME
