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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
from torch.utils.data import Dataset

from bench import inputs
from bench.benchmark import Benchmark
from bench.markdown import num, table, verdict
from steering.data import AugmentConfig, SteeringDataset, make_loader, read_logs, samples_from_log
from steering.model import create_model, default_preprocess
from steering.training import feature_cache
from steering.training.config import TrainConfig
from steering.training.distributed import DistContext
from steering.training.loop import HeadRegressor, choose_precision, make_loss, train_one_epoch
from steering.training.strategies import build_optimizer

log = logging.getLogger(__name__)
GOAL_CACHE_SPEEDUP = 20.0
RECOMPUTED_FP32 = "frozen, features recomputed (fp32)"
CACHED = "frozen, feature cache (fp32, after build)"


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


@dataclass
class EpochRate:
    images_per_s: float  # median over `runs`
    runs: list[float]


@dataclass
class CacheCost:
    """What the frozen-feature cache costs once and saves per epoch (seconds unless named)."""

    speedup_per_epoch: float
    build_s: float
    build_forward_s: float
    key_s: float
    write_s: float
    reload_s: float
    build_images_per_s: float
    epoch_recomputed_s: float
    epoch_cached_s: float
    break_even_epochs: float


@dataclass
class TrainingResult:
    model: str
    batch_size: int
    images: int
    threads: int
    workers: int
    variants: dict[str, EpochRate]
    cache: CacheCost


def real_samples(count: int) -> pd.DataFrame:
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


def run(config: TrainingConfig | None = None) -> TrainingResult:
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

    variants = {name: EpochRate(images_per_s=statistics.median(r), runs=r) for name, r in rates.items()}
    variants[CACHED] = EpochRate(images_per_s=statistics.median(cached_rates), runs=cached_rates)
    recomputed = variants[RECOMPUTED_FP32].images_per_s
    cached = variants[CACHED].images_per_s
    n = len(samples)
    epoch_recomputed_s, epoch_cached_s = n / recomputed, n / cached
    saved_per_epoch = epoch_recomputed_s - epoch_cached_s
    return TrainingResult(
        model=config.model, batch_size=config.batch_size, images=n, threads=config.threads, workers=config.workers,
        variants=variants,
        cache=CacheCost(
            speedup_per_epoch=cached / recomputed,
            build_s=build_total_s + key_s,
            build_forward_s=cache.build_seconds,
            key_s=key_s,
            write_s=build_total_s - cache.build_seconds,
            reload_s=reload_s,
            build_images_per_s=n / cache.build_seconds,
            epoch_recomputed_s=epoch_recomputed_s,
            epoch_cached_s=epoch_cached_s,
            break_even_epochs=(build_total_s + key_s) / saved_per_epoch if saved_per_epoch > 0 else float("inf"),
        ),
    )


def quick_config() -> TrainingConfig:
    return TrainingConfig(model="pilotnet", images=8, batch_size=4, rounds=1, cached_epochs=1, precisions=("fp32",))


def section(tr: TrainingResult) -> str:
    base = tr.variants[RECOMPUTED_FP32].images_per_s
    rows = [[name, num(v.images_per_s), f"{v.images_per_s / base:.2f}x"] for name, v in tr.variants.items()]
    c = tr.cache
    out = ["## 4. Training throughput", "",
           f"{tr.model}, 66x200, batch {tr.batch_size}, {tr.images} real camera samples per epoch, "
           f"{tr.threads} threads, {tr.workers} loader workers (train.py's default); "
           "`train_one_epoch` with the data path train.py uses for each: mirror-only for the frozen backbone, "
           "full augmentation for fine-tuning. bf16 = `--amp` (autocast).", ""]
    out += table(["variant", "images/s", "vs recomputed fp32"], rows)
    ok = c.speedup_per_epoch >= GOAL_CACHE_SPEEDUP
    out += [
        f"Feature cache: build {num(c.build_s, 2)} s for {tr.images} images ({num(c.build_images_per_s)} "
        f"images/s: every image and its mirror through the backbone; key hash {num(c.key_s, 2)} s, write "
        f"{num(c.write_s, 2)} s, reload {num(c.reload_s, 3)} s). Epoch: {num(c.epoch_recomputed_s, 2)} s "
        f"recomputed vs {num(c.epoch_cached_s, 3)} s cached; the build pays for itself after "
        f"{num(c.break_even_epochs, 1)} epochs.",
        "",
        f"- cache speed-up per epoch >= {GOAL_CACHE_SPEEDUP:.0f}x: " + verdict(ok, f"{c.speedup_per_epoch:.0f}x"),
        "",
    ]
    return "\n".join(out)


def findings(tr: TrainingResult) -> list[str]:
    out = []
    for kind in ("frozen, features recomputed", "full fine-tune"):
        fp32, bf16 = tr.variants.get(f"{kind} (fp32)"), tr.variants.get(f"{kind} (bf16)")
        if fp32 and bf16:
            out.append(f"- {kind}: `--amp` (bf16 autocast) runs at {bf16.images_per_s / fp32.images_per_s:.2f}x the "
                       "fp32 rate on this CPU.")
    return out


def fp32_rates(tr: TrainingResult) -> dict[str, float]:
    """The uncached fp32 training rates, as consumers the data pipeline must keep up with."""
    return {f"{tr.model} {name} (section 4)": v.images_per_s for name, v in tr.variants.items()
            if "cache" not in name and "fp32" in name}


def plot(tr: TrainingResult, ax: Any) -> None:
    names = list(tr.variants)
    ax.barh(range(len(names)), [tr.variants[n].images_per_s for n in names], color="#70ad47")
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("images/s (log)")
    ax.set_title(f"Training {tr.model}, batch {tr.batch_size}")


BENCHMARK = Benchmark(
    name="training", help="training throughput: frozen backbone recomputed vs the feature cache vs fine-tuning",
    config=TrainingConfig, quick=quick_config, run=run, result=TrainingResult, section=section, findings=findings,
    page=True, plot=plot)
