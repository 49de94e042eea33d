"""Write a rows table (`steering.data.read_logs(...).rows`) back out as a simulator `driving_log.csv`.

Every line goes through `steering.data.format_log_row`, so the tools' logs read back through the
one reader like the simulator's own. The natural long-term home of this writer is `steering.data`
next to the reader; until then the tools share it from here.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pandas as pd

from steering.data import format_log_row

CAMERA_COLUMNS = ("center", "left", "right")


def write_log(rows: pd.DataFrame, path: str | Path, rewrite: Callable[[str], str] | None = None) -> Path:
    """Write `rows` (columns center, left, right, steering, throttle, brake, speed) to `path`.

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
