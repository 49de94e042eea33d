"""A synthetic driving set whose steering is a known function of the picture, for checks and benchmarks.

Each frame is grey road with one bright vertical line; the line's horizontal position sets the
steering (left edge -1, right edge +1), so a model that learns anything at all beats the
constant-mean baseline. Mirroring a frame moves the line to the mirrored position and negates the
steering, consistent with the flip augmentation.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from steering.data.logformat import format_log_row
from steering.preprocess import FRAME_HEIGHT, FRAME_WIDTH, PreprocessConfig, encode_jpeg, preprocess_frame
from steering.training.data_setup import DataBundle

LINE_HALF_WIDTH = 6  # px in the 320-px frame: wide enough to survive the resize to 200 px


def line_frame(steering: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """uint8 160x320x3 RGB frame with a vertical line at x = (steering + 1) / 2 * width."""
    rng = rng or np.random.default_rng(0)
    frame = np.full((FRAME_HEIGHT, FRAME_WIDTH, 3), 90, dtype=np.uint8)
    frame += rng.integers(0, 20, size=frame.shape, dtype=np.uint8)  # texture, so nothing is exactly flat
    x = int(round((steering + 1.0) / 2.0 * (FRAME_WIDTH - 1)))
    cv2.rectangle(frame, (x - LINE_HALF_WIDTH, 0), (x + LINE_HALF_WIDTH, FRAME_HEIGHT - 1), (250, 250, 250), -1)
    return frame


def line_steering(count: int, seed: int = 0) -> np.ndarray:
    """`count` steering values in [-0.8, 0.8], smooth over time like a real lap (neighbours similar)."""
    rng = np.random.default_rng(seed)
    t = np.arange(count)
    return np.clip(0.6 * np.sin(t / 7.0 + rng.uniform(0, 6)) + rng.normal(0, 0.05, count), -0.8, 0.8)


def write_line_log(folder: Path, count: int, seed: int = 0) -> Path:
    """Write `count` JPEG frames (center/left/right identical) and a simulator-style driving_log.csv."""
    folder = Path(folder)
    (folder / "IMG").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    lines = []
    for index, steering in enumerate(line_steering(count, seed)):
        paths = []
        for camera in ("center", "left", "right"):
            path = folder / "IMG" / f"{camera}_2024_01_01_00_00_{index // 1000:02d}_{index % 1000:03d}.jpg"
            path.write_bytes(encode_jpeg(line_frame(float(steering), rng), quality=95))
            paths.append(str(path))
        lines.append(format_log_row(*paths, steering=float(steering), throttle=0.5, brake=0.0, speed=20.0))
    log_path = folder / "driving_log.csv"
    log_path.write_text("\n".join(lines) + "\n")
    return log_path


class TensorPairs(Dataset):
    """(x, steering) items from two tensors."""

    def __init__(self, images: torch.Tensor, steering: torch.Tensor):
        self.images, self.steering = images, steering

    def __len__(self) -> int:
        return int(self.steering.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.steering[index]


def line_bundle(count: int, preprocess: PreprocessConfig, val_fraction: float = 0.25, seed: int = 0) -> DataBundle:
    """An in-memory DataBundle of line frames; the last `val_fraction` of the frames validate."""
    rng = np.random.default_rng(seed)
    steering = line_steering(count, seed)
    images = torch.stack([preprocess_frame(line_frame(float(s), rng), preprocess) for s in steering])  # (N, 3, H, W)
    targets = torch.tensor(steering, dtype=torch.float32)
    split = int(round(count * (1 - val_fraction)))
    plain = TensorPairs(images[:split], targets[:split])

    def make_train(mode: str) -> Dataset:
        return plain  # no augmentation of its own: "full" trains on the frames as they are

    ids = [f"line-{seed}-{i}" for i in range(count)]
    return DataBundle(preprocess=preprocess, make_train=make_train, val=TensorPairs(images[split:], targets[split:]),
                      train_targets=steering[:split], val_targets=steering[split:], train_ids=ids[:split],
                      val_ids=ids[split:], description=f"{split} synthetic line frames / {count - split} validation")
