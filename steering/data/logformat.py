"""Writing a whole `driving_log.csv` from a table of rows, in the simulator's row format.

The row format itself (`format_log_row`, `LOG_COLUMNS`) is a simulator fact in `steering.udacity`;
the headless simulator, `drive.py`'s recorder and the data tools all write it, so every log reads
back through the one reader.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

from steering.udacity import CAMERA_COLUMNS, format_log_row


def write_log(rows: pd.DataFrame, path: str | Path, rewrite: Callable[[str], str] | None = None) -> Path:
    """Write `rows` (a `read_logs(...).rows` table) to `path` as a simulator `driving_log.csv`.

    `rewrite` maps each non-empty frame path to what the log should say (e.g. `IMG/<name>` after
    copying frames); by default the resolved absolute paths are written. Missing side frames ("")
    stay empty columns, as in `drive.py`'s recordings. Written atomically (temp file + rename).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rewrite = rewrite or (lambda p: p)
    lines = []
    for row in rows.itertuples(index=False):
        cameras = [rewrite(getattr(row, c)) if getattr(row, c) else "" for c in CAMERA_COLUMNS]
        lines.append(format_log_row(*cameras, row.steering, row.throttle, row.brake, row.speed))
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    os.replace(tmp, path)
    return path
