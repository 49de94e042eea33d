"""Where the video and saliency tools get frames: a log (with true steering) or a bare frames folder.

A recording folder or csv goes through `steering.data.read_logs` (true steering per frame). A folder
of images without a log, like the one the classic Udacity `drive.py model.h5 run1` writes, is read
in name order: the simulator's names carry the time (`center_2016_12_01_13_30_48_287.jpg`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from steering.data import read_logs
from steering.udacity import CAMERAS, IMAGE_DIR, LOG_NAME

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class FrameItem:
    path: str
    steering: float | None  # the recorded steering, None for a frames folder without a log


def frames_from(source: str | Path, camera: str = "center", lenient: bool = False) -> list[FrameItem]:
    """Frames of `camera` from a log/recording folder, or every frame of a bare folder, in time order."""
    if camera not in CAMERAS:
        raise ValueError(f"camera must be one of {', '.join(CAMERAS)}, got {camera!r}")
    source = Path(source)
    csv = source / LOG_NAME if source.is_dir() else source
    if csv.is_file() and csv.suffix.lower() == ".csv":
        rows = read_logs(csv, lenient=lenient).rows
        rows = rows[rows[camera] != ""]
        return [FrameItem(p, float(s)) for p, s in zip(rows[camera], rows["steering"], strict=False)]
    if not source.is_dir():
        raise FileNotFoundError(f"{source}: not a driving_log.csv, recording folder or frames folder")
    folder = source / IMAGE_DIR if (source / IMAGE_DIR).is_dir() else source
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if any(p.name.startswith(f"{c}_") for p in images for c in CAMERAS):
        images = [p for p in images if p.name.startswith(f"{camera}_")]
    if not images:
        raise FileNotFoundError(f"{folder}: no {camera} frames (*.jpg, *.png) found")
    return [FrameItem(str(p), None) for p in images]
