"""Frozen-feature cache: run a frozen backbone once per image (and once per mirror image), then
train the head from the stored features.

While the backbone is frozen and the only augmentation is the choice of camera (already a separate
sample per camera) and the horizontal flip, the backbone sees the same few inputs every epoch: each
image or its mirror. Computing those features once turns an epoch into a pass through the small head.

The flip is applied to the preprocessed tensor (`x.flip(-1)`, steering negated), in the cached and
in the uncached flip-only path alike, and both draw the same per-epoch flip decisions from
`flip_mask(seed, epoch, n, p)`; the two paths therefore train on identical inputs (see
tests/test_train_loop_state.py).

Cache files live in `<cache_dir>/<model>-<key>.pt`; the key hashes the backbone's weights, the
preprocessing and the sample list, so a different backbone, weights or crop never reuses stale
features.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from steering.checkpoint import atomic_torch_save
from steering.preprocess import PreprocessConfig

log = logging.getLogger(__name__)


def flip_mask(seed: int, epoch: int, count: int, probability: float) -> np.ndarray:
    """Which of `count` samples are mirrored in `epoch`: a pure function of (seed, epoch)."""
    rng = np.random.default_rng([seed, epoch, 241])  # 241: a stream of its own, apart from other seed users
    return rng.random(count) < probability


class _EpochFlips:
    """The per-epoch flip decisions, in shared memory so persistent DataLoader workers see updates."""

    def __init__(self, count: int, probability: float, seed: int) -> None:
        self.probability = probability
        self.seed = seed
        self.mask = torch.zeros(count, dtype=torch.bool).share_memory_()
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.mask.copy_(torch.from_numpy(flip_mask(self.seed, epoch, len(self.mask), self.probability)))


class FlipDataset(Dataset):
    """Wrap a dataset of (x (3,H,W), steering): mirror x and negate steering per `flip_mask`."""

    def __init__(self, base: Dataset, probability: float, seed: int = 0) -> None:
        self.base = base
        self.flips = _EpochFlips(len(base), probability, seed)
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.flips.set_epoch(epoch)
        if hasattr(self.base, "set_epoch"):
            self.base.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.base[index]
        if self.flips.mask[index]:
            return x.flip(-1), -y  # (3, H, W): mirror left-right
        return x, y


@dataclass
class FeatureCache:
    """Backbone outputs for every sample and its mirror image; float32 (N, F) each."""

    features: torch.Tensor
    flipped: torch.Tensor
    targets: torch.Tensor  # (N,) steering of the unflipped image
    path: Path | None = None
    build_seconds: float = 0.0


class CachedFeatureDataset(Dataset):
    """(feature (F,), steering) items from a FeatureCache, mirrored per `flip_mask` like FlipDataset."""

    def __init__(self, cache: FeatureCache, probability: float, seed: int = 0) -> None:
        self.cache = cache
        self.flips = _EpochFlips(len(self), probability, seed)

    def set_epoch(self, epoch: int) -> None:
        self.flips.set_epoch(epoch)

    def __len__(self) -> int:
        return int(self.cache.targets.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.flips.mask[index]:
            return self.cache.flipped[index], -self.cache.targets[index]
        return self.cache.features[index], self.cache.targets[index]


def cache_key(model_name: str, backbone: nn.Module, preprocess: PreprocessConfig, sample_ids: Sequence[str]) -> str:
    """Hash of backbone weights, preprocessing and the samples: equal key, equal features."""
    digest = hashlib.sha256()
    digest.update(model_name.encode())
    for name, tensor in backbone.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    digest.update(json.dumps(preprocess.to_dict(), sort_keys=True).encode())
    for sample_id in sample_ids:
        digest.update(sample_id.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:20]


@torch.no_grad()
def compute_features(backbone: nn.Module, dataset: Dataset, device: torch.device, batch_size: int = 64,
                     progress: bool = True, with_flip: bool = True) -> FeatureCache:
    """Run the backbone (eval mode, fp32) over `dataset` (no augmentation) and, with `with_flip`, its
    mirror images (validation never mirrors: without it `flipped` is the same tensor as `features`)."""
    started = time.perf_counter()
    was_training = backbone.training
    backbone.eval()
    # Own generator: building the cache must not consume the global RNG (dropout masks stay as without it).
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, generator=torch.Generator())
    features, flipped, targets = [], [], []
    for x, y in tqdm(loader, desc="feature cache", unit="batch", disable=not progress, leave=False):
        x = x.to(device)  # (B, 3, H, W)
        features.append(backbone(x).flatten(1).float().cpu())  # (B, F)
        if with_flip:
            flipped.append(backbone(x.flip(-1)).flatten(1).float().cpu())
        targets.append(y.float().reshape(-1))
    backbone.train(was_training)
    features_all = torch.cat(features)
    return FeatureCache(features_all, torch.cat(flipped) if with_flip else features_all, torch.cat(targets),
                        build_seconds=time.perf_counter() - started)


def load_or_build(path: Path, build: callable[[], FeatureCache], write: bool = True) -> FeatureCache:
    """Read the cache at `path`, or build it (and, when `write`, store it atomically)."""
    if path.is_file():
        stored = torch.load(path, map_location="cpu", weights_only=True)
        log.info("feature cache: reusing %s (%d samples)", path, stored["targets"].shape[0])
        return FeatureCache(stored["features"], stored["flipped"], stored["targets"], path=path)
    cache = build()
    log.info("feature cache: %d samples x %d features built in %.1f s",
             cache.features.shape[0], cache.features.shape[1], cache.build_seconds)
    if write:
        atomic_torch_save({"features": cache.features, "flipped": cache.flipped, "targets": cache.targets}, path)
        cache.path = path
    return cache
