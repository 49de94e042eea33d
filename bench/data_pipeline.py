"""Data pipeline throughput: read + JPEG decode + augment + preprocess, batched by `make_loader`,
with 0, 1 and 2 workers, against the rate at which each model consumes images in training.

The loader is `steering.data.make_loader` over `SteeringDataset` with the training augmentation
(`AugmentConfig()` defaults, what fine-tuning uses) and, for comparison, without it (what a frozen
backbone without the cache reads). Worker start-up is timed apart from the steady rate (workers are
persistent, so start-up is paid once per run, not per epoch).

Model consumption: images/s of one training step (forward, backward, AdamW) on ready tensors, no
data loading, so the two rates can be compared; the goal is loader >= 1.5x model.
"""
from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from bench.benchmark import Benchmark
from bench.markdown import num, table, verdict
from bench.timing import throughput
from bench.training import TrainingResult, fp32_rates, real_samples
from steering.data import AugmentConfig, SteeringDataset, make_loader
from steering.model import create_model, default_preprocess
from steering.training.config import TrainConfig
from steering.training.strategies import build_optimizer

log = logging.getLogger(__name__)
GOAL_DATA_RATIO = 1.5


@dataclass
class DataConfig:
    images: int = 256
    batch_size: int = 32
    workers: tuple[int, ...] = (0, 1, 2)
    passes: int = 2  # timed epochs per setting, after the one that starts the workers
    threads: int = 2
    consumers: tuple[str, ...] = ("pilotnet", "resnet18", "resnet50")
    consumer_seconds: float = 3.0
    worker_timeout_s: float = 120.0
    model_rates: dict[str, float] = field(default_factory=dict)  # label -> images/s measured elsewhere (section 4)


@dataclass
class LoaderRate:
    workers: int
    augmented: bool
    startup_s: float  # first batch, persistent workers started
    images_per_s: float  # median over `runs` (0 when a worker timed out)
    runs: list[float]
    batch_shape: list[int] = field(default_factory=list)
    error: str | None = None


@dataclass
class DataResult:
    images: int
    batch_size: int
    loaders: dict[str, LoaderRate]
    consumers: dict[str, float]  # label -> images/s a model trains at


def loader_rate(dataset: SteeringDataset, workers: int, config: DataConfig) -> dict[str, float]:
    """Start-up (first batch) seconds and steady images/s over `passes` epochs."""
    loader = make_loader(dataset, config.batch_size, shuffle=True, workers=workers)
    if workers:
        # A worker that never delivers (see docs/benchmarks.md, findings) must not stall the whole run.
        loader.timeout = config.worker_timeout_s
    start = time.perf_counter()
    iterator = iter(loader)
    first = next(iterator)
    startup_s = time.perf_counter() - start
    for _ in iterator:  # finish the first epoch (its rate includes start-up: not counted)
        pass
    rates = []
    for epoch in range(1, config.passes + 1):
        dataset.set_epoch(epoch)
        start, count = time.perf_counter(), 0
        for x, _ in loader:
            count += x.shape[0]
        rates.append(count / (time.perf_counter() - start))
    del loader  # stops persistent workers
    return {"startup_s": startup_s, "images_per_s": statistics.median(rates), "runs": rates,
            "batch_shape": list(first[0].shape)}


def consumer_rate(name: str, batch_size: int, seconds: float, frozen: bool = False) -> float:
    """Images/s of training steps of model `name` on a ready batch (no data loading)."""
    torch.manual_seed(0)
    model = create_model(name, pretrained="none", freeze_features=frozen).train()
    optimizer = build_optimizer(model, TrainConfig(model=name))
    x = torch.randn(batch_size, *default_preprocess(name).input_shape)
    y = torch.zeros(batch_size)

    def step() -> int:
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        return batch_size

    rate, _ = throughput(step, seconds, min_calls=2)
    return rate


def run(config: DataConfig | None = None) -> DataResult:
    """Loader rates per worker count against model consumption (and `config.model_rates`)."""
    config = config or DataConfig()
    torch.set_num_threads(config.threads)
    samples = real_samples(config.images)
    results = DataResult(images=len(samples), batch_size=config.batch_size, loaders={}, consumers={})
    for augmented in (True, False):
        for workers in config.workers:
            # The loader's own preprocessing config is the consumer's; ImageNet-style for all but PilotNet.
            dataset = SteeringDataset(samples, default_preprocess("resnet50"),
                                      augment=AugmentConfig() if augmented else None)
            label = f"{'augmented' if augmented else 'decode only'}, {workers} worker{'s' if workers != 1 else ''}"
            log.info("data: %s", label)
            try:
                rates = loader_rate(dataset, workers, config)
            except RuntimeError as exc:  # DataLoader timed out waiting for a worker
                log.error("data: %s: %s", label, exc)
                rates = {"startup_s": float("nan"), "images_per_s": 0.0, "runs": [], "error": str(exc)}
            results.loaders[label] = LoaderRate(workers=workers, augmented=augmented, **rates)
    for name in config.consumers:
        log.info("data: consumer %s", name)
        results.consumers[f"{name} full fine-tune (fp32, model only)"] = consumer_rate(
            name, config.batch_size, config.consumer_seconds)
    for label, rate in config.model_rates.items():
        results.consumers[label] = rate
    return results


def quick_config() -> DataConfig:
    return DataConfig(images=8, batch_size=4, workers=(0,), passes=1, consumers=("pilotnet",), consumer_seconds=0.05)


def with_training_rates(config: DataConfig, earlier: Mapping[str, Any]) -> DataConfig:
    """Section 4's measured training rates join the consumers, when training ran before."""
    training: TrainingResult | None = earlier.get("training")
    return replace(config, model_rates={**config.model_rates, **fp32_rates(training)}) if training else config


def section(data: DataResult) -> str:
    consumers = data.consumers
    header = ["loader", "startup s", "images/s"] + [f"vs {name}" for name in consumers]
    rows = [[label, num(v.startup_s, 2), num(v.images_per_s)] + [f"{v.images_per_s / rate:.1f}x"
                                                                   for rate in consumers.values()]
            for label, v in data.loaders.items()]
    out = ["## 5. Data pipeline", "",
           f"`make_loader(SteeringDataset(...))`, batch {data.batch_size}, {data.images} real frames: read, "
           "JPEG decode, augmentation (`AugmentConfig()` defaults) and preprocessing. Consumers: images/s a model "
           "trains at (model-only steps on ready tensors, or the measured training rates of section 4). On this "
           "2-core machine workers and the model share the same cores, so a worker's rate is not free.", ""]
    out += table(header, rows)
    out += table(["consumer", "images/s"], [[name, num(rate)] for name, rate in consumers.items()])
    best_loader = max(data.loaders.values(), key=lambda v: v.images_per_s if v.augmented else 0)
    for name, rate in consumers.items():
        ratio = best_loader.images_per_s / rate
        out.append(f"- augmented loader >= {GOAL_DATA_RATIO}x {name}: "
                   + verdict(ratio >= GOAL_DATA_RATIO, f"{ratio:.1f}x with {best_loader.workers} workers"))
    return "\n".join(out + [""])


def findings(data: DataResult) -> list[str]:
    out = []
    for augmented in (True, False):
        rows = {v.workers: v for v in data.loaders.values() if v.augmented == augmented}
        if 0 in rows and 2 in rows:
            out.append(f"- loader ({'augmented' if augmented else 'decode only'}): 2 workers give "
                       f"{rows[2].images_per_s / rows[0].images_per_s:.2f}x the 0-worker rate "
                       f"(start-up {rows[2].startup_s:.1f} s once per run, workers are persistent).")
    zero = next((v for v in data.loaders.values() if v.augmented and v.workers == 0), None)
    for name, rate in data.consumers.items():
        if zero and zero.images_per_s < GOAL_DATA_RATIO * rate:
            out.append(f"- {name} consumes {rate:.0f} images/s, more than 1/1.5 of the 0-worker augmented loader "
                       f"({zero.images_per_s:.0f} images/s): with train.py's default `--workers 0` the data path "
                       "is the bottleneck for this model.")
    return out


def plot(data: DataResult, ax: Any) -> None:
    labels = list(data.loaders) + list(data.consumers)
    values = [v.images_per_s for v in data.loaders.values()] + list(data.consumers.values())
    colours = ["#5b9bd5"] * len(data.loaders) + ["#c55a11"] * len(data.consumers)
    ax.barh(range(len(labels)), values, color=colours)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("images/s (log); blue: loader, orange: model consumption")
    ax.set_title("Data pipeline vs model")


BENCHMARK = Benchmark(
    name="data", help="data pipeline: loader images/s with 0-2 workers against the rate each model trains at",
    config=DataConfig, quick=quick_config, run=run, result=DataResult, section=section, findings=findings,
    page=True, feed=with_training_rates, plot=plot)
