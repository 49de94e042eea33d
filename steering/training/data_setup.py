"""From driving logs to the datasets a run needs, through `steering.data`.

A `DataBundle` is everything the training loop asks of the data: datasets per augmentation mode,
the steering values (baseline, histograms) and sample identities (feature-cache key). `bundle_from_logs`
builds one from `driving_log.csv` files; tests build one from in-memory tensors.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from torch.utils.data import Dataset

from steering.data import AugmentConfig, SteeringDataset, balance, read_logs, samples_from_log, split_by_blocks
from steering.data.smoothing import smoothed_steering
from steering.preprocess import PreprocessConfig
from steering.training.config import TrainConfig

log = logging.getLogger(__name__)


@dataclass
class DataBundle:
    """The data of one run.

    `make_train(mode)` returns the training dataset for augmentation mode "none", "full" or "robust"; items are
    (float32 (3, H, W), float32 scalar steering). The flip-only mode is built by the run itself, as
    `FlipDataset` over "none", so the feature cache reproduces it exactly.
    """

    preprocess: PreprocessConfig
    make_train: Callable[[str], Dataset]
    val: Dataset
    train_targets: np.ndarray  # steering of each training sample (unflipped)
    val_targets: np.ndarray
    train_ids: list[str]  # one stable identity per training sample (path + camera), for the cache key
    val_ids: list[str]
    description: str = ""


def resolve_augment_mode(config: TrainConfig, backbone_frozen: bool) -> str:
    """auto: mirror-only while the backbone is frozen (so features can be cached), full otherwise."""
    if config.augment != "auto":
        return config.augment
    return "flip" if backbone_frozen else "full"


def bundle_from_logs(config: TrainConfig, preprocess: PreprocessConfig) -> DataBundle:
    """Read the logs, make samples per camera, split in blocks, optionally balance; wrap as datasets."""
    if not config.logs:
        raise ValueError("no driving logs given: pass at least one driving_log.csv")
    driving_log = read_logs(config.logs, lenient=config.lenient)
    log.debug("%s", driving_log.report.summary())
    rows = driving_log.rows
    if config.smooth_labels > 0:
        rows = rows.assign(steering=smoothed_steering(rows, config.smooth_labels))
    samples = samples_from_log(rows, cameras=config.cameras, correction=config.correction)
    if config.limit:
        samples = samples.iloc[: config.limit].reset_index(drop=True)
    train, val = split_by_blocks(
        samples, val_fraction=config.val_fraction, block_size=config.block_size, seed=config.seed
    )
    if "camera" in val.columns and (val["camera"] == "center").any():
        # Validate on what the car will see when driving: the center camera, unshifted steering.
        val = val[val["camera"] == "center"].reset_index(drop=True)
    balanced = ""
    if config.balance:
        train, report = balance(train, seed=config.seed)  # steering.data logs the histogram change
        balanced = f", balanced from {report.total_before} (cap {report.cap} per steering bin)"
    if len(train) == 0 or len(val) == 0:
        raise ValueError(f"{len(train)} training and {len(val)} validation samples from {', '.join(config.logs)}: "
                         f"need both; record more frames or change --val-fraction")
    train = train.reset_index(drop=True)

    def make_train(mode: str) -> Dataset:
        augment = {"full": AugmentConfig(flip_prob=config.flip_probability),
                   "robust": AugmentConfig.robust(config.corruption_probability, flip_prob=config.flip_probability),
                   }.get(mode)
        return SteeringDataset(train, preprocess, augment=augment, seed=config.seed)

    return DataBundle(
        preprocess=preprocess,
        make_train=make_train,
        val=SteeringDataset(val, preprocess, augment=None, seed=config.seed),
        train_targets=train["steering"].to_numpy(dtype=np.float64),
        val_targets=val["steering"].to_numpy(dtype=np.float64),
        train_ids=_sample_ids(train),
        val_ids=_sample_ids(val),
        description=f"{len(train)} training{balanced} / {len(val)} validation samples ({config.cameras} cameras)",
    )


def _sample_ids(samples: pd.DataFrame) -> list[str]:
    camera = samples["camera"] if "camera" in samples.columns else pd.Series([""] * len(samples))
    return [f"{p}|{c}|{s:.6f}" for p, c, s in zip(samples["path"], camera, samples["steering"], strict=False)]
