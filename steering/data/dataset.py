"""Torch `Dataset` and `DataLoader` over a samples table (`samples_from_log` output).

Decoding is `steering.preprocess.read_frame` and preprocessing is `preprocess_frame`, the same
calls `drive.py` makes on a received frame, so training sees the pixels driving will see.
Augmentation randomness comes from an rng seeded with (seed, epoch, index): reproducible, the
same in any worker, and different every epoch. The epoch lives in shared memory so
`set_epoch` also reaches persistent DataLoader workers.
"""
from __future__ import annotations

import logging
import sys

import cv2
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from steering.data.augment import AugmentConfig
from steering.data.augment import augment as augment_frame
from steering.preprocess import PreprocessConfig, preprocess_frame, read_frame

log = logging.getLogger(__name__)


class SteeringDataset(Dataset):
    """Samples -> (float32 (3, H, W) tensor, float32 scalar steering in [-1, 1])."""

    def __init__(self, samples: pd.DataFrame, preprocess: PreprocessConfig,
                 augment: AugmentConfig | None = None, seed: int = 0) -> None:
        missing = {"path", "steering"} - set(samples.columns)
        if missing:
            raise ValueError(f"samples lack column(s) {sorted(missing)}; build them with samples_from_log(rows)")
        # Plain arrays, not the DataFrame: cheap to pickle into workers and to index.
        self.paths = samples["path"].astype(str).to_numpy()
        self.steering = samples["steering"].to_numpy(np.float32)
        self.preprocess = preprocess
        self.augment = augment if augment is not None and augment.enabled else None
        self.seed = int(seed)
        # Shared memory: persistent workers hold a copy of the dataset made at their start.
        self._epoch = torch.zeros(1, dtype=torch.int64).share_memory_()

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def epoch(self) -> int:
        return int(self._epoch[0])

    def set_epoch(self, epoch: int) -> None:
        """Choose the augmentation draw of this epoch; call before iterating the loader."""
        self._epoch[0] = int(epoch)

    def frame_and_label(self, index: int) -> tuple[np.ndarray, float]:
        """The (augmented) uint8 HWC RGB frame and steering of sample `index`, before preprocessing."""
        frame = read_frame(self.paths[index])
        steering = float(self.steering[index])
        if self.augment is not None:
            rng = np.random.default_rng([self.seed, self.epoch, int(index)])
            frame, steering = augment_frame(frame, steering, self.augment, rng)
        return frame, steering

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        frame, steering = self.frame_and_label(index)
        image = preprocess_frame(frame, self.preprocess)  # (3, H, W) float32
        return image, torch.tensor(steering, dtype=torch.float32)


def _stop_opencv_threads_before_fork() -> None:
    """Tear down OpenCV's thread pool in this process before DataLoader forks its workers.

    A forked child inherits the pool's mutex and condition variable but not its threads; the
    worker then hangs in OpenCV the first time it touches the pool (seen here: a worker stuck in
    pthread_cond_destroy). With workers the parent does no decoding, so it loses nothing.
    """
    if cv2.getNumThreads() != 1:
        log.debug("setting OpenCV to one thread before forking DataLoader workers")
        cv2.setNumThreads(1)


# Libraries whose thread pools do not survive a fork (oneTBB under OpenVINO's CPU plugin): once one
# is loaded in this process (a drive server ran here: the evaluator, the demo, tests), DataLoader
# workers start from a fork server instead of forking this process and its pools' state.
FORK_UNSAFE_MODULES = ("openvino",)


def worker_start_method() -> str | None:
    """None (DataLoader's default, fork on Linux) unless a fork-unsafe library is loaded: "forkserver"."""
    loaded = [name for name in FORK_UNSAFE_MODULES if name in sys.modules]
    if not loaded:
        return None
    log.debug("%s loaded in this process: DataLoader workers start from a fork server", ", ".join(loaded))
    return "forkserver"


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool, workers: int = 0, seed: int = 0,
                sampler: Sampler | None = None, drop_last: bool = False) -> DataLoader:
    """DataLoader with a seeded shuffle, pinned memory when CUDA is present, persistent workers.

    Workers run single-threaded (PyTorch sets one torch thread per worker; OpenCV: see
    `_stop_opencv_threads_before_fork`), so `workers` is the number of cores used for decoding.
    """
    if sampler is not None and shuffle:
        raise ValueError("pass either shuffle=True or a sampler, not both")
    if workers > 0:
        _stop_opencv_threads_before_fork()
    generator = torch.Generator()
    generator.manual_seed(int(seed))
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        sampler=sampler,
        num_workers=workers,
        pin_memory=torch.cuda.is_available(),
        drop_last=drop_last,
        generator=generator,
        persistent_workers=workers > 0,
        multiprocessing_context=worker_start_method() if workers > 0 else None,
    )
