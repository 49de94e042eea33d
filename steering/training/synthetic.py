"""In-memory line-frame data for training checks and benchmarks: a DataBundle without files.

The pictures and steering come from `steering.data.synthetic` (`line_frame`, `line_steering`: the
line's horizontal position sets the steering); recordings on disk are written there too
(`write_line_recording`). This module only turns them into the tensors and DataBundle the trainer
takes, skipping JPEG files and log parsing when a check is about the loop.
"""
from __future__ import annotations

import torch
from torch.utils.data import Dataset

from steering.data.synthetic import line_frame, line_steering
from steering.preprocess import PreprocessConfig, preprocess_frame
from steering.training.data_setup import DataBundle


class TensorPairs(Dataset):
    """(x, steering) items from two tensors."""

    def __init__(self, images: torch.Tensor, steering: torch.Tensor) -> None:
        self.images, self.steering = images, steering

    def __len__(self) -> int:
        return int(self.steering.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.steering[index]


def line_bundle(count: int, preprocess: PreprocessConfig, val_fraction: float = 0.25, seed: int = 0) -> DataBundle:
    """An in-memory DataBundle of line frames; the last `val_fraction` of the frames validate."""
    steering = line_steering(count, seed)
    images = torch.stack([preprocess_frame(line_frame(float(s), seed * 100_003 + i), preprocess)
                          for i, s in enumerate(steering)])  # (N, 3, H, W)
    targets = torch.tensor(steering, dtype=torch.float32)
    split = int(round(count * (1 - val_fraction)))
    plain = TensorPairs(images[:split], targets[:split])

    def make_train(mode: str) -> Dataset:
        return plain  # no augmentation of its own: "full" trains on the frames as they are

    ids = [f"line-{seed}-{i}" for i in range(count)]
    return DataBundle(preprocess=preprocess, make_train=make_train, val=TensorPairs(images[split:], targets[split:]),
                      train_targets=steering[:split], val_targets=steering[split:], train_ids=ids[:split],
                      val_ids=ids[split:], description=f"{split} synthetic line frames / {count - split} validation")
