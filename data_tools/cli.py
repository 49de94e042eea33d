"""What every data tool's command line shares: arguments, logging, errors, finding the log a user means.

Each tool in `data_tools/` is a thin CLI (`main(argv=None) -> int`) around `steering.data`; this
module keeps their common arguments identical so `steering-clean data/` and `steering-stats data/`
accept the same things, and `run_tool` gives them one exit contract: 0 and the result on stdout,
or 2 and `steering-NAME: error: ...` on stderr for anything the user can fix (bad input, missing
file, unreadable log/frame/checkpoint). Other exceptions are bugs and keep their traceback.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from steering.checkpoint import CheckpointError
from steering.cli import setup_logging
from steering.data import DrivingLogError
from steering.preprocess import FrameError
from steering.udacity import LOG_NAME

LOGS_HELP = "recording folders or driving_log.csv files"
# Errors that mean "the input or a setting is wrong": reported in one line, exit status 2.
TOOL_ERRORS: tuple[type[BaseException], ...] = (DrivingLogError, CheckpointError, FrameError, OSError, ValueError)


def run_tool(parser: argparse.ArgumentParser, body: Callable[[argparse.Namespace], str],
             argv: Sequence[str] | None = None, errors: tuple[type[BaseException], ...] = TOOL_ERRORS) -> int:
    """Parse `argv`, set up logging, run `body(args)` and print the message it returns.

    Returns 0, or 2 with `<prog>: error: <exception>` on stderr when the body raises one of `errors`
    (the same form argparse uses for a bad flag, so the prefix is the parser's `prog`).
    """
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    try:
        message = body(args)
    except errors as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    print(message)
    return 0


def add_common(parser: argparse.ArgumentParser, progress: bool = False) -> None:
    """--verbose on every tool; --no-progress on the tools that show a progress bar."""
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    if progress:
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_logs_input(parser: argparse.ArgumentParser, out_help: str, logs: str = "logs",
                   logs_help: str = LOGS_HELP) -> argparse._ArgumentGroup:
    """The "Inputs and output" group of the tools that read logs: LOGS..., --out (required), --lenient.

    Returns the group so a tool can add its own inputs and outputs to it.
    """
    group = parser.add_argument_group("Inputs and output")
    group.add_argument(logs, nargs="+", help=logs_help)
    group.add_argument("--out", required=True, type=Path, help=out_help)
    group.add_argument("--lenient", action="store_true",
                       help="skip unreadable log rows (counted in the report) instead of stopping at the first")
    return group


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
