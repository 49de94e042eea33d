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
from dataclasses import dataclass
from typing import Any

import torch

from bench.timing import throughput
from bench.training import real_samples
from steering.data import AugmentConfig, SteeringDataset, make_loader
from steering.model import create_model, default_preprocess
from steering.training.config import TrainConfig
from steering.training.strategies import build_optimizer

log = logging.getLogger(__name__)


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


def run(config: DataConfig | None = None, model_rates: dict[str, float] | None = None) -> dict[str, Any]:
    """Loader rates per worker count; `model_rates` (label -> images/s) adds measured training rates."""
    config = config or DataConfig()
    torch.set_num_threads(config.threads)
    samples = real_samples(config.images)
    results: dict[str, Any] = {"images": len(samples), "batch_size": config.batch_size, "loaders": {}, "consumers": {}}
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
            results["loaders"][label] = {"workers": workers, "augmented": augmented, **rates}
    for name in config.consumers:
        log.info("data: consumer %s", name)
        results["consumers"][f"{name} full fine-tune (fp32, model only)"] = consumer_rate(
            name, config.batch_size, config.consumer_seconds)
    for label, rate in (model_rates or {}).items():
        results["consumers"][label] = rate
    return results


if __name__ == "__main__":
    import pprint

    from steering.cli import setup_logging

    setup_logging()
    pprint.pprint(run(DataConfig(images=64, passes=1, consumers=("pilotnet",), consumer_seconds=1.0)))
