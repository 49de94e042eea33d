"""Training throughput: frozen backbone recomputed every epoch vs the frozen-feature cache vs fine-tune.

Everything runs through the trainer's own parts (`steering.training.loop.train_one_epoch`,
`feature_cache.compute_features`/`load_or_build`/`CachedFeatureDataset`, `strategies.build_optimizer`)
on the real recording, read by `steering.data`, with the epoch data path `train.py` uses for each
strategy: mirror-only for the frozen backbone (what the cache replaces), full augmentation for
fine-tuning. Variants alternate epoch by epoch; images/s are medians over rounds.
"""
from __future__ import annotations

import logging
import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch.utils.data import Dataset

from bench import inputs
from steering.data import AugmentConfig, SteeringDataset, make_loader, read_logs, samples_from_log
from steering.model import create_model, default_preprocess
from steering.training import feature_cache
from steering.training.config import TrainConfig
from steering.training.distributed import DistContext
from steering.training.loop import HeadRegressor, choose_precision, make_loss, train_one_epoch
from steering.training.strategies import build_optimizer

log = logging.getLogger(__name__)


@dataclass
class TrainingConfig:
    model: str = "resnet50"
    batch_size: int = 32
    images: int = 96  # images per timed epoch of the uncached variants
    rounds: int = 2  # epochs per uncached variant (interleaved)
    cached_epochs: int = 20
    threads: int = 2
    precisions: tuple[str, ...] = ("fp32", "bf16")
    workers: int = 0  # DataLoader workers: train.py's default
    budget_s: float = 150.0  # no further rounds of uncached epochs after this (at least one round runs)


def real_samples(count: int):
    """The first `count` camera samples (center, left, right) of the real recording."""
    if not inputs.REAL_LOG.is_file():
        raise FileNotFoundError(f"{inputs.REAL_LOG}: the real recording is needed for the training bench "
                                "(../shared must sit beside the repository)")
    rows = read_logs(inputs.REAL_LOG).rows
    return samples_from_log(rows, cameras="all").iloc[:count].reset_index(drop=True)


def _epoch_runner(net: torch.nn.Module, dataset: Dataset, amp: bool, config: TrainingConfig,
                  optimizer: torch.optim.Optimizer) -> Callable[[], dict[str, float]]:
    """One call = one training epoch over `dataset`, as train.py runs it; returns its metrics."""
    precision = choose_precision(torch.device("cpu"), amp)
    loader = make_loader(dataset, config.batch_size, shuffle=True, workers=config.workers)
    loss_fn = make_loss("mse", 0.1)
    ctx = DistContext()
    epochs = iter(range(10_000))

    def run_epoch() -> dict[str, float]:
        epoch = next(epochs)
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(epoch)
        return train_one_epoch(net, loader, optimizer, loss_fn, precision, ctx, epoch, grad_clip=1.0,
                               progress=False)

    return run_epoch


def run(config: TrainingConfig | None = None) -> dict[str, Any]:
    config = config or TrainingConfig()
    torch.set_num_threads(config.threads)
    samples = real_samples(config.images)
    pre = default_preprocess(config.model)
    lr_config = TrainConfig(model=config.model)
    plain = SteeringDataset(samples, pre, augment=None)
    mirrored = feature_cache.FlipDataset(plain, 0.5)  # train.py's flip-only mode: what the cache replaces
    augmented = SteeringDataset(samples, pre, augment=AugmentConfig())  # fine-tuning's full augmentation

    torch.manual_seed(0)
    frozen = create_model(config.model, pretrained="none", freeze_features=True)
    finetune = create_model(config.model, pretrained="none")
    runners: dict[str, Callable[[], dict[str, float]]] = {}
    for precision in config.precisions:
        amp = precision == "bf16"
        runners[f"frozen, features recomputed ({precision})"] = _epoch_runner(
            frozen, mirrored, amp, config, build_optimizer(frozen, lr_config))
        runners[f"full fine-tune ({precision})"] = _epoch_runner(
            finetune, augmented, amp, config, build_optimizer(finetune, lr_config))

    rates: dict[str, list[float]] = {name: [] for name in runners}
    for name in runners:  # warm-up on one batch: first-touch allocations, oneDNN kernel choice
        log.info("training: warm-up %s", name)
        net, dataset = (frozen, mirrored) if name.startswith("frozen") else (finetune, augmented)
        warm = torch.utils.data.Subset(dataset, range(min(config.batch_size, len(dataset))))
        _epoch_runner(net, warm, "bf16" in name, config, build_optimizer(net, lr_config))()
    started = time.perf_counter()
    for round_index in range(config.rounds):
        if round_index and time.perf_counter() - started > config.budget_s:
            log.info("training: %d round(s) within the %.0f s budget", round_index, config.budget_s)
            break
        for name, run_epoch in runners.items():
            rates[name].append(run_epoch()["images_per_s"])

    # The cache: its build (hash key, backbone over every image and its mirror, write), then head-only epochs.
    cache_path_dir = inputs.workdir() / "feature_cache"
    start = time.perf_counter()
    key = feature_cache.cache_key(config.model, frozen.backbone, pre, samples["path"].tolist())
    key_s = time.perf_counter() - start
    path = cache_path_dir / f"{config.model}-bench-{key}-{time.time_ns()}.pt"
    start = time.perf_counter()
    cache = feature_cache.load_or_build(
        path, lambda: feature_cache.compute_features(frozen.backbone, plain, torch.device("cpu"),
                                                     batch_size=max(config.batch_size, 64), progress=False))
    build_total_s = time.perf_counter() - start
    start = time.perf_counter()
    feature_cache.load_or_build(path, lambda: cache)
    reload_s = time.perf_counter() - start
    path.unlink(missing_ok=True)
    cached_set = feature_cache.CachedFeatureDataset(cache, 0.5)
    head = HeadRegressor(frozen.head)
    # train.py's cached path optimises the same head parameters through the full model's optimizer.
    run_cached = _epoch_runner(head, cached_set, False, config, build_optimizer(frozen, lr_config))
    run_cached()
    cached_rates = [run_cached()["images_per_s"] for _ in range(config.cached_epochs)]

    variants = {name: {"images_per_s": statistics.median(r), "runs": r} for name, r in rates.items()}
    variants["frozen, feature cache (fp32, after build)"] = {"images_per_s": statistics.median(cached_rates),
                                                             "runs": cached_rates}
    recomputed = variants["frozen, features recomputed (fp32)"]["images_per_s"]
    cached = variants["frozen, feature cache (fp32, after build)"]["images_per_s"]
    n = len(samples)
    epoch_recomputed_s, epoch_cached_s = n / recomputed, n / cached
    saved_per_epoch = epoch_recomputed_s - epoch_cached_s
    return {
        "model": config.model, "batch_size": config.batch_size, "images": n, "threads": config.threads,
        "workers": config.workers, "variants": variants,
        "cache": {
            "speedup_per_epoch": cached / recomputed,
            "build_s": build_total_s + key_s,
            "build_forward_s": cache.build_seconds,
            "key_s": key_s,
            "write_s": build_total_s - cache.build_seconds,
            "reload_s": reload_s,
            "build_images_per_s": n / cache.build_seconds,
            "epoch_recomputed_s": epoch_recomputed_s,
            "epoch_cached_s": epoch_cached_s,
            "break_even_epochs": (build_total_s + key_s) / saved_per_epoch if saved_per_epoch > 0 else float("inf"),
        },
    }


if __name__ == "__main__":
    import pprint

    logging.basicConfig(level=logging.INFO)
    pprint.pprint(run(TrainingConfig(images=32, rounds=1, cached_epochs=3, precisions=("fp32",))))
