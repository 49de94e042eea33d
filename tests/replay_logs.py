"""Writes small driving logs with real frame files for the replay tests."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import cv2
import numpy as np

from steering.udacity import format_log_row, frame_name

START = dt.datetime(2026, 12, 6, 10, 0, 0)


def write_log(folder: Path, rows: list[tuple[float, float, float, float]], missing: tuple[int, ...] = ()) -> Path:
    """rows: (seconds from START, steering, throttle, speed mph); frames 320x160 grey, `missing` not written."""
    img = folder / "IMG"
    img.mkdir(parents=True)
    lines = []
    for i, (t, steering, throttle, speed) in enumerate(rows):
        when = START + dt.timedelta(seconds=t)
        names = [str(img / frame_name(cam, when)) for cam in ("center", "left", "right")]
        if i not in missing:
            for name in names:
                cv2.imwrite(name, np.full((160, 320, 3), 100, np.uint8))
        lines.append(format_log_row(*names, steering, throttle, 0.0, speed))
    path = folder / "driving_log.csv"
    path.write_text("\n".join(lines) + "\n")
    return path
