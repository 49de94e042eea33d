"""steering-merge: several recording folders -> one dataset folder with one log.

Frames are hard-linked into `<out>/IMG/` (copied where links are impossible, or with --copy) and the
log points at them as `IMG/<name>`, so the dataset folder can be moved as a whole. Rows whose
center frame is byte-identical to one already merged (the same recording given twice, or an
overlap) are dropped. Sessions stay distinct: the reader numbers them across the inputs, and the
merged log keeps each session's rows together in input order.
"""
from __future__ import annotations

import argparse
import filecmp
import logging
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from data_tools.cli import add_common, add_logs_input, log_paths, run_tool
from steering.data import CAMERA_COLUMNS, DrivingLogError, read_logs, write_log
from steering.udacity import IMAGE_DIR, LOG_NAME

log = logging.getLogger(__name__)


def _place(source: Path, target: Path, copy: bool) -> None:
    if copy:
        shutil.copy2(source, target)
        return
    try:
        os.link(source, target)
    except OSError:  # another file system, or links not allowed there
        shutil.copy2(source, target)


def merge(inputs: Sequence[Path], out: Path, copy: bool = False, lenient: bool = False) -> tuple[pd.DataFrame, dict]:
    """Merge logs into `out/driving_log.csv` + `out/IMG/`; returns the merged rows and a summary dict."""
    driving_log = read_logs(list(inputs), lenient=lenient)
    rows = driving_log.rows
    img = out / IMAGE_DIR
    img.mkdir(parents=True, exist_ok=True)
    placed: dict[str, str] = {}  # output name -> source path
    renamed: dict[str, str] = {}  # source path -> output name
    keep = []
    duplicates = 0
    for index, row in enumerate(rows.itertuples(index=False)):
        name = Path(row.center).name
        if name in placed and filecmp.cmp(placed[name], row.center, shallow=False):
            duplicates += 1
            continue
        keep.append(index)
        for camera in CAMERA_COLUMNS:
            source = getattr(row, camera)
            if not source or source in renamed:
                continue
            target_name = Path(source).name
            if target_name in placed:
                # Same name, different picture: two recordings made in the same millisecond. Keep both.
                target_name = f"s{row.session}_{target_name}"
            placed[target_name] = source
            renamed[source] = target_name
            if not (img / target_name).exists():
                _place(Path(source), img / target_name, copy)
    merged = rows.iloc[keep].reset_index(drop=True)
    write_log(merged, out / LOG_NAME, rewrite=lambda p: f"{IMAGE_DIR}/{renamed[p]}")
    summary = {
        "inputs": len(inputs), "rows_read": driving_log.report.rows_total, "rows_written": len(merged),
        "duplicates_dropped": duplicates, "missing_center_dropped": driving_log.report.missing_image_rows,
        "sessions": int(merged["session"].nunique()), "frames_placed": len(renamed),
    }
    return merged, summary


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="steering-merge", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="example: steering-merge data/lap1 data/lap2 data/recovery --out data/all")
    group = add_logs_input(parser, "dataset folder to create (driving_log.csv + IMG/)", logs="inputs",
                           logs_help="recording folders (with driving_log.csv) or csv files")
    group.add_argument("--copy", action="store_true", help="copy frames instead of hard-linking them")
    add_common(parser)
    return parser


def _run(args: argparse.Namespace) -> str:
    inputs = log_paths(args.inputs)
    if (args.out / LOG_NAME).exists():
        raise FileExistsError(f"{args.out / LOG_NAME} exists; choose a new --out folder")
    _, summary = merge(inputs, args.out, copy=args.copy, lenient=args.lenient)
    return (f"merged {summary['inputs']} logs into {args.out / LOG_NAME}: {summary['rows_written']} rows "
            f"in {summary['sessions']} sessions ({summary['duplicates_dropped']} duplicates, "
            f"{summary['missing_center_dropped']} rows without center frame dropped)")


def main(argv: Sequence[str] | None = None) -> int:
    # Only log and file errors are the user's to fix here; anything else keeps its traceback.
    return run_tool(build_parser(), _run, argv, errors=(DrivingLogError, OSError))


if __name__ == "__main__":
    sys.exit(main())
