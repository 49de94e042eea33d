"""Read the simulator's `driving_log.csv` files into one table of rows with resolved frames.

Reads what people actually have: the simulator's Record mode (no header, absolute Windows or
macOS paths, spaces after commas, E-notation, decimal commas in some locales, CRLF, a UTF-8 BOM,
several recordings appended to one file) and Udacity's sample data (header, relative `IMG/`
paths). Row layout and number parsing live in `rowparse.py`; turning rows into training
samples is `sampling.py`'s job.

Nothing is silently dropped: bad rows raise `DrivingLogError` naming file and line (or, with
`lenient=True`, are skipped and counted) and rows whose center frame is missing are counted and
reported with their line numbers, never kept with a wrong frame.
"""
from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from steering.data.rowparse import RowError, is_header, parse_row
from steering.udacity import IMAGE_DIR, frame_timestamp

log = logging.getLogger(__name__)

MAX_REPORTED_LINES = 10
# The simulator records every 1/15 s (real logs: 0.05-0.14 s between frames). A longer pause
# means recording was stopped and restarted, i.e. a new session appended to the same file.
DEFAULT_SESSION_GAP_S = 1.0

ROW_COLUMNS = (
    "center", "left", "right", "steering", "throttle", "brake", "speed",
    "session", "frame", "source", "line", "timestamp",
)


class DrivingLogError(ValueError):
    """A driving log that cannot be read as it is; `path` and `line` (1-based or None) say where."""

    def __init__(self, path: str | Path, line: int | None, message: str) -> None:
        self.path = Path(path)
        self.line = line
        self.reason = message
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        super().__init__(f"{where}: {message}")


@dataclass
class LogReport:
    """What reading found, for CLIs and logs (`summary()`)."""

    rows_total: int = 0  # data rows in the files (blank lines and header rows excluded)
    rows_kept: int = 0
    missing_image_rows: int = 0  # rows dropped because their center frame does not exist
    missing_lines: list[int] = field(default_factory=list)  # first few line numbers (1-based)
    bad_rows_skipped: int = 0  # only with lenient=True
    comma_decimal_rows: int = 0  # rows whose numbers were written with decimal commas
    sessions: int = 0
    missing_side_images: int = 0  # left/right frames that do not exist (their column is "")
    bad_row_messages: list[str] = field(default_factory=list)  # first few skipped rows' errors

    def summary(self) -> str:
        parts = [f"{self.rows_kept} of {self.rows_total} rows kept in {self.sessions} session(s)"]
        if self.missing_image_rows:
            parts.append(
                f"{self.missing_image_rows} rows skipped: center image missing "
                f"(first lines: {', '.join(map(str, self.missing_lines))})"
            )
        if self.bad_rows_skipped:
            parts.append(f"{self.bad_rows_skipped} bad rows skipped (first: {'; '.join(self.bad_row_messages)})")
        if self.missing_side_images:
            parts.append(f"{self.missing_side_images} left/right images missing")
        if self.comma_decimal_rows:
            parts.append(f"{self.comma_decimal_rows} rows written with decimal commas")
        return "; ".join(parts)


@dataclass
class DrivingLog:
    """Rows of one or more logs (columns: see ROW_COLUMNS) and the report of reading them."""

    rows: pd.DataFrame
    report: LogReport


def read_logs(
    paths: str | Path | Sequence[str | Path],
    lenient: bool = False,
    session_gap_s: float = DEFAULT_SESSION_GAP_S,
) -> DrivingLog:
    """Read one or several `driving_log.csv` files; sessions are numbered across all of them.

    A new session starts at each file and wherever the frame names' timestamps jump by more than
    `session_gap_s` (or go backwards) inside a file. `frame` counts the parsed rows of a session in
    time order, including rows later dropped for missing images, so frame distances are real.
    Raises DrivingLogError for bad rows (unless `lenient`), for a log without rows and for a log
    none of whose center frames exist.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("read_logs needs at least one driving_log.csv path")
    report = LogReport()
    frames: list[pd.DataFrame] = []
    next_session = 0
    for path in paths:
        table = _read_one(path, lenient, session_gap_s, next_session, report)
        if len(table):
            next_session = int(table["session"].max()) + 1
        frames.append(table)
    rows = pd.concat(frames, ignore_index=True)
    rows = rows[rows["center"] != ""].reset_index(drop=True)
    # Sessions whose frames are all missing leave holes; renumber densely (order kept).
    rows["session"] = pd.factorize(rows["session"], sort=True)[0].astype("int64")
    report.rows_kept = len(rows)
    report.sessions = int(rows["session"].nunique())
    log.info("read %s: %s", ", ".join(str(p) for p in paths), report.summary())
    return DrivingLog(rows=rows, report=report)


def _read_one(path: Path, lenient: bool, session_gap_s: float, first_session: int, report: LogReport) -> pd.DataFrame:
    lines = _read_lines(path)
    resolver = _FrameResolver(path.parent)
    records: list[dict] = []
    data_rows = 0
    for number, text in enumerate(lines, start=1):
        if not text.strip() or is_header(text):
            continue
        data_rows += 1
        try:
            row = parse_row(text)
        except RowError as exc:
            if not lenient:
                raise DrivingLogError(path, number, str(exc)) from None
            report.bad_rows_skipped += 1
            if len(report.bad_row_messages) < MAX_REPORTED_LINES:
                report.bad_row_messages.append(f"{path.name}:{number}: {exc}")
            continue
        report.comma_decimal_rows += row.comma_decimal
        records.append({
            "center": resolver.resolve(row.center),
            "left": resolver.resolve(row.left),
            "right": resolver.resolve(row.right),
            "steering": row.steering, "throttle": row.throttle, "brake": row.brake, "speed": row.speed,
            "source": str(path), "line": number, "timestamp": frame_timestamp(row.center),
        })
    report.rows_total += data_rows
    if not records:
        why = "has no data rows" if data_rows == 0 else f"has no readable rows ({data_rows} bad rows skipped)"
        raise DrivingLogError(path, None, f"{why}; record some laps with the simulator's Record mode first")
    table = pd.DataFrame.from_records(records)
    _number_sessions(table, session_gap_s, first_session)

    missing = table["center"] == ""
    if missing.all():
        raise DrivingLogError(
            path, None,
            f"none of the {len(table)} rows' center images exist (first written as "
            f"{_first_center(lines)!r}); looked as written, in {resolver.img_dir} and relative to {path.parent}. "
            "Copy the IMG folder next to the csv.",
        )
    report.missing_image_rows += int(missing.sum())
    room = MAX_REPORTED_LINES - len(report.missing_lines)
    report.missing_lines.extend(int(n) for n in table.loc[missing, "line"].head(max(room, 0)))
    report.missing_side_images += int(
        ((table["left"] == "") & ~missing).sum() + ((table["right"] == "") & ~missing).sum()
    )
    if missing.any():
        log.warning("%s: %d rows skipped, center image missing (lines %s ...)",
                    path, int(missing.sum()), ", ".join(str(n) for n in table.loc[missing, "line"].head(5)))
    return table.astype({"steering": "float64", "throttle": "float64", "brake": "float64", "speed": "float64",
                         "timestamp": "float64", "line": "int64"})[list(ROW_COLUMNS)]


def _read_lines(path: Path) -> list[str]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DrivingLogError(path, None, f"cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")  # -sig: drops the byte-order mark Windows editors add
    except UnicodeDecodeError:
        # Windows machines write user names in the ANSI code page; cp1252 maps every byte we meet there.
        text = data.decode("cp1252", errors="replace")
        log.warning("%s is not UTF-8; read it as cp1252", path)
    # Split on "\n" only (str.splitlines also splits on form feeds etc.); strip a CR left by CRLF.
    return [line.rstrip("\r") for line in text.split("\n")]


def _number_sessions(table: pd.DataFrame, session_gap_s: float, first_session: int) -> None:
    """Add `session` (new at a time jump) and `frame` (index in its session) columns in place."""
    sessions, frames = [], []
    session, frame, previous = first_session, -1, math.nan
    for stamp in table["timestamp"]:
        if not math.isnan(stamp):
            if not math.isnan(previous) and not (0.0 <= stamp - previous <= session_gap_s):
                session, frame = session + 1, -1
            previous = stamp
        frame += 1
        sessions.append(session)
        frames.append(frame)
    table["session"] = pd.Series(sessions, index=table.index, dtype="int64")
    table["frame"] = pd.Series(frames, index=table.index, dtype="int64")


def _first_center(lines: list[str]) -> str:
    for text in lines:
        if text.strip() and not is_header(text):
            return text.split(",")[0].strip()
    return ""


def _basename(path_text: str) -> str:
    """Last path component, splitting on both separators (Windows logs read on Linux and vice versa)."""
    return re.split(r"[\\/]", path_text)[-1]


class _FrameResolver:
    """Find a frame file as written, in `<csv folder>/IMG/<basename>`, or relative to the csv folder."""

    def __init__(self, csv_dir: Path):
        self.csv_dir = csv_dir.resolve()
        self.img_dir = self.csv_dir / IMAGE_DIR
        # One directory listing instead of a stat per frame: logs have tens of thousands of rows.
        try:
            self._img_names = {entry.name for entry in os.scandir(self.img_dir) if entry.is_file()}
        except OSError:
            self._img_names = set()

    def resolve(self, written: str) -> str:
        """Absolute path of an existing file, or "" if there is none."""
        if not written:
            return ""
        as_written = Path(written)
        # A relative path is never taken relative to the working directory: the result would
        # depend on where the command was started.
        if as_written.is_absolute() and as_written.is_file():
            return str(as_written.resolve())
        name = _basename(written)
        if name in self._img_names:
            return str(self.img_dir / name)
        relative = self.csv_dir / written.replace("\\", "/")
        if relative.is_file():
            return str(relative.resolve())
        return ""
