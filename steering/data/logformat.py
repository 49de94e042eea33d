"""The simulator's `driving_log.csv` row format, shared by every writer of logs.

Written by the Unity simulator's Record mode (`CarController.cs`): no header, seven columns
`center,left,right,steering,throttle,brake,speed`, absolute image paths, steering normalised to
[-1, 1] (degrees / 25), speed in mph. Our headless simulator, `drive.py`'s recorder and the
data tools write exactly this, so every log reads back through the one reader.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import pandas as pd

LOG_COLUMNS = ("center", "left", "right", "steering", "throttle", "brake", "speed")
CAMERA_COLUMNS = LOG_COLUMNS[:3]


def format_number(value: float, decimal: str = ".") -> str:
    """A number as the simulator writes it (shortest round-trip form); `decimal=","` mimics comma locales."""
    text = repr(float(value))
    if text.endswith(".0"):
        text = text[:-2]
    return text.replace(".", decimal) if decimal != "." else text


def format_log_row(center: str, left: str, right: str, steering: float, throttle: float,
                   brake: float, speed: float, decimal: str = ".") -> str:
    """One log line (without newline) in the simulator's layout."""
    numbers = (format_number(v, decimal) for v in (steering, throttle, brake, speed))
    return ",".join([center, left, right, *numbers])


def write_log(rows: "pd.DataFrame", path: str | Path, rewrite: Callable[[str], str] | None = None) -> Path:
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
