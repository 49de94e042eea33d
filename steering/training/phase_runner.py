"""What one phase of a run trains on: the full model on images, or the head alone on cached features.

`make_runner` turns a phase (steering.training.strategies) into a `PhaseRunner`: the training and
validation loaders (flip-only, full or robust augmentation, as `--augment` and the phase say), the module
that trains (DDP-wrapped under torchrun) and the precision it runs in. While the backbone is frozen
and the frames are at most mirrored (augmentation flip or none), the backbone's features are computed
once (steering.training.feature_cache) and only the head trains. The epoch loop itself is
steering.training.loop's; run.py strings the phases together.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from steering.data import make_loader
from steering.model import SteeringRegressor
from steering.training import feature_cache
from steering.training.config import TrainConfig
from steering.training.data_setup import DataBundle, resolve_augment_mode
from steering.training.distributed import DistContext, barrier
from steering.training.loop import HeadRegressor, Precision, choose_precision
from steering.training.strategies import Phase


@dataclass
class PhaseRunner:
    """What one phase trains: the full model on images, or the head on cached features."""

    phase: Phase
    net: nn.Module  # possibly DDP-wrapped; maps a batch to (B,)
    precision: Precision
    eval_net: nn.Module
    train_set: Dataset
    sampler: DistributedSampler
    train_loader: DataLoader
    val_loader: DataLoader
    cached: bool

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)
        if hasattr(self.train_set, "set_epoch"):
            self.train_set.set_epoch(epoch)


def make_runner(config: TrainConfig, data: DataBundle, model: SteeringRegressor, phase: Phase,
                ctx: DistContext) -> PhaseRunner:
    """The datasets, loaders and (DDP-wrapped) module that train `phase`."""
    mode = resolve_augment_mode(config, phase.backbone_frozen)
    cached = config.cache and phase.backbone_frozen and mode in ("flip", "none")
    if cached:
        train_cache = _feature_cache(config, data, model, ctx, "train", data.make_train("none"), data.train_ids,
                                     with_flip=mode == "flip")
        val_cache = _feature_cache(config, data, model, ctx, "val", data.val, data.val_ids, with_flip=False)
        train_set: Dataset = feature_cache.CachedFeatureDataset(
            train_cache, config.flip_probability if mode == "flip" else 0.0, seed=config.seed)
        val_set: Dataset = feature_cache.CachedFeatureDataset(val_cache, 0.0)
        module: nn.Module = HeadRegressor(model.head)
    else:
        train_set, val_set, module = data.make_train(mode if mode in ("full", "robust") else "none"), data.val, model
        if mode == "flip":
            train_set = feature_cache.FlipDataset(train_set, config.flip_probability, seed=config.seed)
    sampler = DistributedSampler(train_set, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=config.seed)
    per_rank = len(sampler)
    # A last batch of one sample cannot give BatchNorm batch statistics: drop just that case.
    drop_last = per_rank % config.batch_size == 1 and per_rank > 1
    net = module
    if ctx.distributed:
        net = DistributedDataParallel(module, device_ids=[ctx.device] if ctx.device.type == "cuda" else None)
    return PhaseRunner(
        phase=phase, net=net,
        precision=choose_precision(ctx.device, config.amp, backbone_trains=not phase.backbone_frozen),
        eval_net=module, train_set=train_set, sampler=sampler,
        train_loader=_loader(train_set, config, sampler=sampler, drop_last=drop_last),
        val_loader=_loader(val_set, config, sampler=None, drop_last=False),
        cached=cached,
    )


def _loader(dataset: Dataset, config: TrainConfig, sampler: DistributedSampler | None, drop_last: bool) -> DataLoader:
    # make_loader's seeded generator keeps DataLoader off the global torch RNG, so caching, resuming
    # or an extra validation pass never shifts the dropout masks of later batches.
    return make_loader(dataset, config.batch_size, shuffle=False, workers=config.workers, seed=config.seed,
                       sampler=sampler, drop_last=drop_last)


def _feature_cache(config: TrainConfig, data: DataBundle, model: SteeringRegressor, ctx: DistContext, split: str,
                   dataset: Dataset, ids: list[str], with_flip: bool) -> feature_cache.FeatureCache:
    key = feature_cache.cache_key(config.model, model.backbone, data.preprocess, ids)
    path = config.feature_cache_dir / f"{config.model}-{split}{'' if with_flip else '-noflip'}-{key}.pt"

    def build() -> feature_cache.FeatureCache:
        return feature_cache.compute_features(
            model.backbone,
            dataset,
            ctx.device,
            batch_size=max(config.batch_size, 64),
            progress=config.progress and ctx.is_main,
            with_flip=with_flip,
        )

    # Rank 0 builds and writes; the others wait, then read the same file.
    cache = feature_cache.load_or_build(path, build) if ctx.is_main else None
    barrier(ctx)
    if cache is None:
        cache = feature_cache.load_or_build(path, build, write=False)
    return cache
