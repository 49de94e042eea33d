"""Fine-tuning speed on CPU: precision (fp32 vs bf16 autocast), memory layout, loader workers and threads.

Two measurements, each interleaved so load from elsewhere on a shared machine hits every variant alike:

- `step_speed`: the model side alone. One full fine-tuning step (forward, backward, AdamW step through
  `build_optimizer`) on a ready batch of real preprocessed frames, variants alternating step by step;
  images/s at the median step's wall time and CPU seconds per image (robust to other jobs' load).
- `loader_speed`: whole epochs as `train_one_epoch` runs them, reading and augmenting the real
  recording through `make_loader`, with 0, 1 or 2 loader workers and the torch thread count that
  leaves them a core or not. Variants alternate epoch by epoch; medians over rounds.

`python -m bench.training_speed` prints the CPU model, its bf16 flags and the load average first. On a
shared machine run it as `OMP_WAIT_POLICY=PASSIVE python -m bench.training_speed` too: OpenMP threads
that spin while waiting for a core another job holds waste most of it (see the numbers it prints).
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from bench.benchmark import Benchmark
from bench.machine import Machine, machine
from bench.training import real_samples
from steering.data import AugmentConfig, SteeringDataset, make_loader
from steering.model import create_model, default_preprocess
from steering.training.config import TrainConfig
from steering.training.distributed import DistContext
from steering.training.loop import Precision, choose_precision, cpu_has_native_bf16, make_loss, train_one_epoch
from steering.training.strategies import build_optimizer

log = logging.getLogger(__name__)


@dataclass
class TrainingSpeedConfig:
    models: tuple[str, ...] = ("resnet50", "efficientnet_lite0", "pilotnet")
    only: str | None = None  # "steps" or "loader": one of the two measurements
    repeats: int = 12  # timed steps per fast variant
    bf16_steps: int = 2  # timed steps of the bf16 variant where bf16 is emulated (0 = skip it)
    rounds: int = 4  # timed epochs per loader variant
    batch_size: int = 16
    images: int = 64  # samples per loader epoch


@dataclass
class StepRate:
    images_per_s: float  # at the median step's wall time
    cpu_s_per_image: float
    steps: int
    vs_fp32: float
    cpu_vs_fp32: float


@dataclass
class LoaderEpochRate:
    images_per_s: float  # median over `runs`
    vs_default: float
    runs: list[float]


@dataclass
class TrainingSpeedResult:
    config: TrainingSpeedConfig
    machine: Machine
    native_bf16: bool
    omp_wait_policy: str
    channels_last: bool  # the trainer's layout on this CPU
    steps: dict[str, dict[str, StepRate]] | None  # model -> variant -> rate
    loader: dict[str, dict[str, LoaderEpochRate]] | None
    loadavg_end: float


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@dataclass(frozen=True)
class StepVariant:
    label: str
    bf16: bool = False
    channels_last: bool = False


STEP_VARIANTS = (
    StepVariant("fp32, contiguous"),
    StepVariant("fp32, channels_last", channels_last=True),
    StepVariant("bf16 autocast, channels_last", bf16=True, channels_last=True),
)


def _train_step(model_name: str, variant: StepVariant, batch: torch.Tensor, target: torch.Tensor) -> Callable[[], None]:
    torch.manual_seed(0)  # every variant starts from the same weights
    net = create_model(model_name, pretrained="none").train()
    if variant.channels_last:
        net = net.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(net, TrainConfig(model=model_name))
    precision = Precision(torch.device("cpu"), torch.bfloat16 if variant.bf16 else None, variant.channels_last)
    x, loss_fn = precision.to_device(batch), make_loss("mse", 0.1)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with precision.autocast():
            prediction = net(x)
        loss_fn(prediction.float(), target).backward()
        optimizer.step()

    return step


def _timed_steps(steps: dict[str, Callable[[], None]], repeats: int, warmup: int,
                 budget_s: float | None = None) -> dict[str, dict[str, list[float]]]:
    """Wall and process CPU seconds of each step, variants alternating step by step.

    CPU seconds per image is the figure that survives a shared machine: wall time also counts the
    time other jobs held the cores. (With OpenMP's default spin-waiting, CPU time includes the spin.)
    """
    for step in steps.values():
        for _ in range(warmup):
            step()
    times = {name: {"wall": [], "cpu": []} for name in steps}
    started = time.perf_counter()
    for index in range(repeats):
        if budget_s is not None and index >= 3 and time.perf_counter() - started > budget_s:
            break
        for name, step in steps.items():
            wall, cpu = time.perf_counter(), time.process_time()
            step()
            times[name]["wall"].append(time.perf_counter() - wall)
            times[name]["cpu"].append(time.process_time() - cpu)
    return times


def step_speed(models: tuple[str, ...], batch_size: int = 16, repeats: int = 10, slow_repeats: int = 2,
               budget_s: float = 240.0) -> dict[str, dict[str, StepRate]]:
    """Per model and variant: images/s at the median step's wall time, and CPU seconds per image.

    Where the CPU has no native bf16 the bf16 variant takes `slow_repeats` steps on its own (it runs
    ~10x slower; the ratio, not the last digit, is what matters there).
    """
    samples = real_samples(batch_size)
    results: dict[str, dict[str, StepRate]] = {}
    for model_name in models:
        dataset = SteeringDataset(samples, default_preprocess(model_name))
        batch = torch.stack([dataset[i][0] for i in range(len(dataset))])
        target = torch.stack([dataset[i][1] for i in range(len(dataset))])
        steps = {v.label: _train_step(model_name, v, batch, target) for v in STEP_VARIANTS}
        slow = {v.label for v in STEP_VARIANTS if v.bf16 and not cpu_has_native_bf16()}
        log.info("steps: %s", model_name)
        times = _timed_steps({k: f for k, f in steps.items() if k not in slow}, repeats, warmup=2, budget_s=budget_s)
        if slow and slow_repeats:
            times.update(_timed_steps({k: f for k, f in steps.items() if k in slow}, slow_repeats, warmup=1))
        raw = {label: (batch_size / statistics.median(t["wall"]), statistics.median(t["cpu"]) / batch_size,
                       len(t["wall"])) for label, t in times.items()}
        base_rate, base_cpu, _ = raw[STEP_VARIANTS[0].label]
        rows = {label: StepRate(images_per_s=rate, cpu_s_per_image=cpu, steps=steps, vs_fp32=rate / base_rate,
                                cpu_vs_fp32=base_cpu / cpu) for label, (rate, cpu, steps) in raw.items()}
        for label, row in rows.items():
            log.info("steps: %s, %s: %.1f images/s (%.2fx), %.3f CPU s/image (%.2fx)", model_name, label,
                     row.images_per_s, row.vs_fp32, row.cpu_s_per_image, row.cpu_vs_fp32)
        results[model_name] = rows
    return results


@dataclass(frozen=True)
class LoaderVariant:
    label: str
    workers: int = 0
    threads: int = 0  # torch intra-op threads; 0 = every core, -1 = every core but one per worker


LOADER_VARIANTS = (
    LoaderVariant("0 workers (train.py default), all cores"),
    LoaderVariant("1 worker, all cores", workers=1),
    LoaderVariant("1 worker, cores - 1 threads", workers=1, threads=-1),
    LoaderVariant("2 workers, all cores", workers=2),
)


def _epoch(model_name: str, variant: LoaderVariant, samples, batch_size: int) -> Callable[[], float]:
    torch.manual_seed(0)
    net = create_model(model_name, pretrained="none")
    precision = choose_precision(torch.device("cpu"), amp=False)  # the trainer's own choice of layout
    if precision.channels_last:
        net = net.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(net, TrainConfig(model=model_name))
    dataset = SteeringDataset(samples, default_preprocess(model_name), augment=AugmentConfig())
    loader = make_loader(dataset, batch_size, shuffle=True, workers=variant.workers)
    n = cores()
    threads = n if variant.threads == 0 else max(1, n - variant.workers)
    loss_fn, ctx, epochs = make_loss("mse", 0.1), DistContext(), iter(range(10_000))

    def run_epoch() -> float:
        epoch = next(epochs)
        dataset.set_epoch(epoch)
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            return train_one_epoch(net, loader, optimizer, loss_fn, precision, ctx, epoch, grad_clip=1.0,
                                   progress=False)["images_per_s"]
        finally:
            torch.set_num_threads(previous)

    return run_epoch


def loader_speed(models: tuple[str, ...], images: int = 64, batch_size: int = 16, rounds: int = 4,
                 budget_s: float = 180.0) -> dict[str, dict[str, LoaderEpochRate]]:
    """Full fine-tuning epochs (real JPEG decode + full augmentation) per loader variant; the first
    epoch of each variant (persistent workers' start, oneDNN kernel choice) is not timed."""
    samples = real_samples(images)
    results: dict[str, dict[str, LoaderEpochRate]] = {}
    for model_name in models:
        runners = {v.label: _epoch(model_name, v, samples, batch_size) for v in LOADER_VARIANTS}
        for run_epoch in runners.values():
            run_epoch()
        rates: dict[str, list[float]] = {label: [] for label in runners}
        started = time.perf_counter()
        for round_index in range(rounds):
            if round_index >= 2 and time.perf_counter() - started > budget_s:
                break
            for label, run_epoch in runners.items():
                rates[label].append(run_epoch())
            log.info("loader: %s, round %d: %s", model_name, round_index + 1,
                     ", ".join(f"{label} {r[-1]:.1f}" for label, r in rates.items()))
        base = statistics.median(rates[LOADER_VARIANTS[0].label])
        results[model_name] = {label: LoaderEpochRate(images_per_s=statistics.median(r),
                                                      vs_default=statistics.median(r) / base, runs=r)
                               for label, r in rates.items()}
    return results


def run(config: TrainingSpeedConfig | None = None) -> TrainingSpeedResult:
    config = config or TrainingSpeedConfig()
    torch.set_num_threads(cores())
    m = machine()
    steps = loader = None
    if config.only in (None, "steps"):
        steps = step_speed(config.models, batch_size=config.batch_size, repeats=config.repeats,
                           slow_repeats=config.bf16_steps)
    if config.only in (None, "loader"):
        loader = loader_speed(config.models, images=config.images, batch_size=config.batch_size, rounds=config.rounds)
    return TrainingSpeedResult(config=config, machine=m, native_bf16=cpu_has_native_bf16(),
                               omp_wait_policy=os.environ.get("OMP_WAIT_POLICY", "unset"),
                               channels_last=choose_precision(torch.device("cpu"), False).channels_last,
                               steps=steps, loader=loader, loadavg_end=os.getloadavg()[0])


def quick_config() -> TrainingSpeedConfig:
    return TrainingSpeedConfig(models=("pilotnet",), repeats=1, bf16_steps=1, rounds=1, batch_size=4, images=8)


def section(result: TrainingSpeedResult) -> str:
    m, c = result.machine, result.config
    lines = [f"CPU: {m.cpu}, {m.cores} cores; flags: {', '.join(m.bf16_flags) or 'no avx512/avx512_bf16/amx'}; "
             f"native bf16: {result.native_bf16}; torch {m.versions['torch']}; load average {m.loadavg_start:.2f}; "
             f"OMP_WAIT_POLICY={result.omp_wait_policy}"]
    if result.steps is not None:
        lines += ["", f"fine-tuning step on a ready batch of {c.batch_size} real frames, 66x200 (model side only)"]
        for model_name, variants in result.steps.items():
            lines.append(f"  {model_name}")
            lines += [f"    {label:<42} {v.images_per_s:7.1f} images/s  {v.vs_fp32:5.2f}x  ({v.cpu_s_per_image:.3f} "
                      f"CPU s/image, {v.cpu_vs_fp32:.2f}x; {v.steps} steps)" for label, v in variants.items()]
    if result.loader is not None:
        lines += ["", f"fine-tuning epochs of {c.images} real samples, batch {c.batch_size}, full augmentation, "
                      f"trainer's layout (channels_last: {result.channels_last})"]
        for model_name, variants in result.loader.items():
            lines.append(f"  {model_name}")
            lines += [f"    {label:<42} {v.images_per_s:7.1f} images/s  {v.vs_default:5.2f}x  "
                      f"(runs: {', '.join(f'{r:.1f}' for r in v.runs)})" for label, v in variants.items()]
    return "\n".join(lines + [f"load average at the end: {result.loadavg_end:.2f}"])


BENCHMARK = Benchmark(
    name="training_speed", help="fine-tuning speed on CPU: fp32 vs bf16, memory layout, loader workers and threads",
    config=TrainingSpeedConfig, quick=quick_config, run=run, result=TrainingSpeedResult, section=section,
    doc="printed", own_process=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet50,efficientnet_lite0,pilotnet", help="comma-separated models")
    parser.add_argument("--only", choices=("steps", "loader"), help="run one of the two measurements")
    parser.add_argument("--repeats", type=int, default=12, help="timed steps per fast variant")
    parser.add_argument("--bf16-steps", type=int, default=2,
                        help="timed steps of the bf16 variant where bf16 is emulated (0 = skip it)")
    parser.add_argument("--rounds", type=int, default=4, help="timed epochs per loader variant")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    config = TrainingSpeedConfig(models=tuple(args.models.split(",")), only=args.only, repeats=args.repeats,
                                 bf16_steps=args.bf16_steps, rounds=args.rounds)
    print(section(run(config)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
