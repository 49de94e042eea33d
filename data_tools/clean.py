"""steering-clean: drop rows that would teach a model nothing or something wrong, and say why.

Dropped: rows whose center frame is missing (the reader already leaves them out and counts them)
or does not decode (a truncated JPEG from a full disk or an interrupted copy), frames where the
car is stopped (speed below --min-speed: a standing car's steering says nothing about the road),
and optionally the first/last seconds of each session (pulling away, stopping the recording).
A corrupt left/right frame only blanks that camera. The cleaned log keeps absolute frame paths;
`--report` writes one line per dropped row (source, line, reason).
"""
from __future__ import annotations

import argparse
import csv
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from data_tools.cli import add_common, add_logs_input, log_paths, output_log, run_tool
from steering.data import read_logs, write_log
from steering.preprocess import FrameError, read_frame
from steering.udacity import CAMERAS, RECORD_HZ

log = logging.getLogger(__name__)



def _decodes(path: str) -> bool:
    try:
        read_frame(path)
    except FrameError as exc:
        log.debug("%s", exc)
        return False
    return True


def session_seconds(rows: pd.DataFrame) -> np.ndarray:
    """Seconds since each row's session start (frame-name times, else frame index / 15 Hz)."""
    stamps = rows["timestamp"].to_numpy(np.float64)
    fallback = rows["frame"].to_numpy(np.float64) / RECORD_HZ  # when frame names carry no time
    first = rows.groupby("session")["timestamp"].transform("min").to_numpy(np.float64)
    seconds = stamps - first
    return np.where(np.isnan(seconds), fallback, seconds)


def clean_rows(rows: pd.DataFrame, min_speed: float = 0.5, trim_start_s: float = 0.0, trim_end_s: float = 0.0,
               progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(kept rows, dropped rows with a `reason` column). The first matching reason wins."""
    rows = rows.reset_index(drop=True).copy()
    reasons = pd.Series("", index=rows.index, dtype=object)
    for i, row in tqdm(rows.iterrows(), total=len(rows), desc="checking frames", unit="row", disable=not progress):
        if not _decodes(row["center"]):
            reasons[i] = "center image corrupt"
            continue
        for camera in CAMERAS[1:]:
            if row[camera] and not _decodes(row[camera]):
                log.info("%s:%d: %s image corrupt; camera left out", row["source"], row["line"], camera)
                rows.at[i, camera] = ""
    seconds = session_seconds(rows)
    end = pd.Series(seconds).groupby(rows["session"]).transform("max").to_numpy()
    checks = [
        (rows["speed"].to_numpy() < min_speed, f"stopped (speed < {min_speed:g} mph)"),
        (seconds < trim_start_s, f"first {trim_start_s:g} s of session"),
        (end - seconds < trim_end_s, f"last {trim_end_s:g} s of session"),
    ]
    for mask, reason in checks:
        reasons[(reasons == "") & mask] = reason
    dropped = rows[reasons != ""].assign(reason=reasons[reasons != ""])
    return rows[reasons == ""].reset_index(drop=True), dropped.reset_index(drop=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="steering-clean", description=__doc__.splitlines()[0],
                                     epilog="example: steering-clean data/lap1 --out data/lap1_clean --trim-start 2")
    group = add_logs_input(parser, "cleaned log: a .csv path, or a folder (gets driving_log.csv)")
    group.add_argument("--report", type=Path, help="csv listing every dropped row with its reason")
    rules = parser.add_argument_group("What to drop")
    rules.add_argument("--min-speed", type=float, default=0.5, help="mph; slower frames count as stopped (default 0.5)")
    rules.add_argument("--trim-start", type=float, default=0.0, help="seconds dropped at each session's start")
    rules.add_argument("--trim-end", type=float, default=0.0, help="seconds dropped at each session's end")
    add_common(parser, progress=True)
    return parser


def _run(args: argparse.Namespace) -> str:
    driving_log = read_logs(log_paths(args.logs), lenient=args.lenient)
    kept, dropped = clean_rows(driving_log.rows, args.min_speed, args.trim_start, args.trim_end,
                               progress=not args.no_progress)
    if kept.empty:
        raise ValueError("every row would be dropped; check --min-speed and the trim settings")
    out = write_log(kept, output_log(args.out))
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        with open(args.report, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["source", "line", "reason"])
            writer.writerows(dropped[["source", "line", "reason"]].itertuples(index=False))
    report = driving_log.report
    lines = [f"kept {len(kept)} of {report.rows_total} rows -> {out}"]
    if report.missing_image_rows:
        lines.append(f"  {report.missing_image_rows:6d}  center image missing (lines "
                     f"{', '.join(map(str, report.missing_lines))}"
                     f"{' ...' if report.missing_image_rows > len(report.missing_lines) else ''})")
    if report.bad_rows_skipped:
        lines.append(f"  {report.bad_rows_skipped:6d}  unreadable row")
    for reason, count in dropped["reason"].value_counts().items():
        first = dropped.loc[dropped["reason"] == reason, "line"].head(5).tolist()
        lines.append(f"  {count:6d}  {reason} (lines {', '.join(map(str, first))}{' ...' if count > 5 else ''})")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    return run_tool(build_parser(), _run, argv)


if __name__ == "__main__":
    sys.exit(main())
