"""What a model sees from each recording, side by side: centre-camera crops and their colour statistics.

The gap between rendered and real frames is first a matter of what lands in the model's input: the crop
(`steering.preprocess.PreprocessConfig`: sky and bonnet rows removed, resized) of a rendered frame and of a
Unity frame. `crop_sheet` puts evenly spaced crops of several recordings in one PNG, a row per recording;
`colour_stats` gives each recording's per-channel mean and standard deviation over those crops, so a
renderer's look can be compared with the simulator's in numbers as well as by eye.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from steering.data.reading import read_logs
from steering.preprocess import PreprocessConfig, crop_resize, read_frame


@dataclass(frozen=True)
class CropStats:
    """Per-channel (R, G, B) statistics of one recording's crops, 0-255."""

    name: str
    frames: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


def recording_crops(log_path: str | Path, count: int, config: PreprocessConfig | None = None) -> list[np.ndarray]:
    """`count` centre-camera crops (uint8 RGB, the model's input size) spread evenly over the recording."""
    config = config or PreprocessConfig()
    rows = read_logs([log_path]).rows
    if rows.empty:
        raise ValueError(f"{log_path}: no rows with a centre frame")
    picks = np.linspace(0, len(rows) - 1, num=min(count, len(rows))).round().astype(int)
    return [crop_resize(read_frame(rows["center"].iloc[i]), config) for i in picks]


def colour_stats(name: str, crops: Sequence[np.ndarray]) -> CropStats:
    pixels = np.concatenate([c.reshape(-1, 3) for c in crops]).astype(np.float64)
    mean, std = pixels.mean(axis=0), pixels.std(axis=0)
    return CropStats(name, len(crops), tuple(round(float(v), 1) for v in mean), tuple(round(float(v), 1) for v in std))


def crop_sheet(logs: Sequence[str | Path], names: Sequence[str], out: str | Path, count: int = 4,
               config: PreprocessConfig | None = None) -> tuple[Path, list[CropStats]]:
    """One PNG: a row of `count` crops per recording, named on the left; returns it and each row's statistics."""
    if len(names) != len(logs):
        raise ValueError(f"{len(names)} names for {len(logs)} recordings")
    rows, stats = [], []
    for log_path, name in zip(logs, names, strict=True):
        crops = recording_crops(log_path, count, config)
        stats.append(colour_stats(name, crops))
        crops += [np.zeros_like(crops[0])] * (count - len(crops))
        row = np.hstack([np.pad(c, ((2, 2), (2, 2), (0, 0)), constant_values=255) for c in crops])
        label = np.full((row.shape[0], 150, 3), 255, np.uint8)
        cv2.putText(label, name[:22], (4, row.shape[0] // 2 + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1,
                    cv2.LINE_AA)
        rows.append(np.hstack([label, row]))
    width = max(r.shape[1] for r in rows)
    sheet = np.vstack([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows])
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    return path, stats
