"""Machine limits: matmul GFLOP/s (fp32, bf16) and each model's FLOPs and achieved GFLOP/s.

FLOPs come from `torch.utils.flop_counter.FlopCounterMode` on one forward pass at batch 1 and the
model's default input (it counts 2 FLOPs per multiply-add of convolutions and matmuls, nothing for
elementwise ops). Achieved GFLOP/s = those FLOPs / the median time of one forward pass, so the
ratio to the matmul peak shows how much of the hardware a runtime uses.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.benchmark import Benchmark
from bench.markdown import num, table, verdict
from bench.timing import Stats, interleave
from steering.model import create_model, default_preprocess

if TYPE_CHECKING:  # the section reads section 1's results; limits runs first and never calls latency
    from bench.latency import LatencyResult

log = logging.getLogger(__name__)
GOAL_PEAK_FRACTION = 0.5


@dataclass
class LimitsConfig:
    models: tuple[str, ...] = ("resnet50", "pilotnet", "resnet18")
    threads: int = 2
    matmul_size: int = 2048
    matmul_repeats: int = 10
    model_repeats: int = 30
    budget_s: float = 20.0  # per model and for the matmuls: fewer repeats (>= 10) on a loaded machine


@dataclass
class Throughput:
    gflops: float
    time: Stats


@dataclass
class ModelLimits:
    gflop: float  # one batch-1 forward pass
    runtimes: dict[str, Throughput]


@dataclass
class LimitsResult:
    threads: int
    matmul_size: int
    matmul: dict[str, Throughput]  # fp32, bf16
    models: dict[str, ModelLimits]


def count_flops(name: str) -> int:
    """FLOPs of one batch-1 forward pass of registered model `name` at its default input."""
    model = create_model(name, pretrained="none").eval()
    x = torch.zeros(1, *default_preprocess(name).input_shape)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return int(counter.get_total_flops())


def matmul_gflops(size: int, repeats: int, budget_s: float | None = None) -> dict[str, Throughput]:
    """Square matmul throughput in fp32 and bf16, interleaved."""
    a32, b32 = torch.randn(size, size), torch.randn(size, size)
    a16, b16 = a32.bfloat16(), b32.bfloat16()
    stats = interleave({"fp32": lambda: torch.mm(a32, b32), "bf16": lambda: torch.mm(a16, b16)},
                       repeats=repeats, block=2, warmup=2, budget_s=budget_s, min_repeats=4)
    flops = 2.0 * size**3
    return {dtype: Throughput(gflops=flops / (s.median_ms / 1000.0) / 1e9, time=s) for dtype, s in stats.items()}


def model_gflops(name: str, flops: int, repeats: int, budget_s: float | None = None) -> dict[str, Throughput]:
    """Achieved GFLOP/s of eager fp32 and eager bf16-autocast forward passes (no preprocessing)."""
    model = create_model(name, pretrained="none").eval()
    x = torch.randn(1, *default_preprocess(name).input_shape)

    def fp32() -> None:
        with torch.inference_mode():
            model(x)

    def bf16() -> None:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            model(x)

    stats: dict[str, Stats] = interleave({"eager fp32": fp32, "eager bf16 autocast": bf16}, repeats=repeats, block=5,
                                           budget_s=budget_s, min_repeats=10)
    return {variant: Throughput(gflops=flops / (s.median_ms / 1000.0) / 1e9, time=s) for variant, s in stats.items()}


def run(config: LimitsConfig | None = None) -> LimitsResult:
    config = config or LimitsConfig()
    torch.set_num_threads(config.threads)
    result = LimitsResult(threads=config.threads, matmul_size=config.matmul_size,
                          matmul=matmul_gflops(config.matmul_size, config.matmul_repeats, config.budget_s), models={})
    for name in config.models:
        flops = count_flops(name)
        log.info("limits: %s %.2f GFLOP", name, flops / 1e9)
        result.models[name] = ModelLimits(gflop=flops / 1e9,
                                          runtimes=model_gflops(name, flops, config.model_repeats, config.budget_s))
    return result


def quick_config() -> LimitsConfig:
    return LimitsConfig(models=("pilotnet",), matmul_size=64, matmul_repeats=2, model_repeats=2)


def section(lim: LimitsResult, latency: LatencyResult | None = None) -> str:
    """Section 3; with section 1's results, each model's fastest runtime there is set against the peak too."""
    peak32, peak16 = lim.matmul["fp32"].gflops, lim.matmul["bf16"].gflops
    out = ["## 3. Machine limits", "",
           f"Square matmul {lim.matmul_size}x{lim.matmul_size}, {lim.threads} threads: "
           f"fp32 **{num(peak32)} GFLOP/s**, bf16 **{num(peak16)} GFLOP/s** ({peak16 / peak32:.1f}x).", "",
           "Model FLOPs from `FlopCounterMode` (2 per multiply-add), batch 1, default input. Achieved = FLOPs / "
           "median forward time (model only, no preprocessing); % of the fp32 peak (bf16 runtimes also against "
           "the bf16 peak).", ""]
    rows, goal = [], []
    for model, data in lim.models.items():
        gflop = data.gflop
        for name, r in data.runtimes.items():  # eager fp32 and bf16 autocast, timed in this section
            peak = peak16 if "bf16" in name else peak32
            rows.append([model, num(gflop, 3), name, num(r.time.median_ms, 2), num(r.gflops),
                         f"{100 * r.gflops / peak32:.0f}%"
                         + (f" ({100 * r.gflops / peak:.0f}% of bf16)" if peak is peak16 else "")])
        if latency is not None and model in latency.models:
            variants = latency.models[model].variants
            timed = {n: v.infer.median_ms for n, v in variants.items() if v.infer is not None}
            best = min(timed, key=timed.get)
            achieved = gflop / (timed[best] / 1000.0)
            low_precision = "bf16" in best or "bfloat16" in (variants[best].note or "")
            rows.append([model, num(gflop, 3), f"{best} (fastest in section 1)", num(timed[best], 2), num(achieved),
                         f"{100 * achieved / peak32:.0f}%"
                         + (f" ({100 * achieved / peak16:.0f}% of bf16)" if low_precision else "")])
            if model == "resnet50":
                eager = data.runtimes["eager fp32"].gflops
                goal.append(f"- ResNet-50 >= {GOAL_PEAK_FRACTION:.0%} of the fp32 matmul peak, eager fp32: " + verdict(
                    eager >= GOAL_PEAK_FRACTION * peak32, f"{100 * eager / peak32:.0f}%"))
                goal.append(
                    f"- ResNet-50 >= {GOAL_PEAK_FRACTION:.0%} of the fp32 matmul peak, fastest runtime ({best}): "
                    + verdict(achieved >= GOAL_PEAK_FRACTION * peak32, f"{100 * achieved / peak32:.0f}%"))
    return "\n".join(out + table(["model", "GFLOP", "runtime", "forward ms", "GFLOP/s", "of peak"], rows)
                     + goal + [""])


BENCHMARK = Benchmark(
    name="limits", help="machine limits: matmul GFLOP/s (fp32, bf16), each model's FLOPs and share of that peak",
    config=LimitsConfig, quick=quick_config, run=run, result=LimitsResult, section=section, page=True,
    reads=("latency",))
