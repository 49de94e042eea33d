"""Machine limits: matmul GFLOP/s (fp32, bf16) and each model's FLOPs and achieved GFLOP/s.

FLOPs come from `torch.utils.flop_counter.FlopCounterMode` on one forward pass at batch 1 and the
model's default input (it counts 2 FLOPs per multiply-add of convolutions and matmuls, nothing for
elementwise ops). Achieved GFLOP/s = those FLOPs / the median time of one forward pass, so the
ratio to the matmul peak shows how much of the hardware a runtime uses.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.timing import Stats, interleave
from steering.model import create_model, default_preprocess

log = logging.getLogger(__name__)


@dataclass
class LimitsConfig:
    models: tuple[str, ...] = ("resnet50", "pilotnet", "resnet18")
    threads: int = 2
    matmul_size: int = 2048
    matmul_repeats: int = 10
    model_repeats: int = 30
    budget_s: float = 20.0  # per model and for the matmuls: fewer repeats (>= 10) on a loaded machine


def count_flops(name: str) -> int:
    """FLOPs of one batch-1 forward pass of registered model `name` at its default input."""
    model = create_model(name, pretrained="none").eval()
    x = torch.zeros(1, *default_preprocess(name).input_shape)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return int(counter.get_total_flops())


def matmul_gflops(size: int, repeats: int, budget_s: float | None = None) -> dict[str, dict[str, Any]]:
    """Square matmul throughput in fp32 and bf16, interleaved."""
    a32, b32 = torch.randn(size, size), torch.randn(size, size)
    a16, b16 = a32.bfloat16(), b32.bfloat16()
    stats = interleave({"fp32": lambda: torch.mm(a32, b32), "bf16": lambda: torch.mm(a16, b16)},
                       repeats=repeats, block=2, warmup=2, budget_s=budget_s, min_repeats=4)
    flops = 2.0 * size**3
    return {dtype: {"gflops": flops / (s.median_ms / 1000.0) / 1e9, "time": s.to_dict()} for dtype, s in stats.items()}


def model_gflops(name: str, flops: int, repeats: int, budget_s: float | None = None) -> dict[str, Any]:
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
    return {
        variant: {"gflops": flops / (s.median_ms / 1000.0) / 1e9, "time": s.to_dict()} for variant, s in stats.items()
    }


def run(config: LimitsConfig | None = None) -> dict[str, Any]:
    config = config or LimitsConfig()
    torch.set_num_threads(config.threads)
    results: dict[str, Any] = {"threads": config.threads, "matmul_size": config.matmul_size,
                               "matmul": matmul_gflops(config.matmul_size, config.matmul_repeats, config.budget_s),
                               "models": {}}
    for name in config.models:
        flops = count_flops(name)
        log.info("limits: %s %.2f GFLOP", name, flops / 1e9)
        results["models"][name] = {"gflop": flops / 1e9, "runtimes": model_gflops(name, flops, config.model_repeats,
                                                                                           config.budget_s)}
    return results


if __name__ == "__main__":
    import pprint

    pprint.pprint(run(LimitsConfig(models=("pilotnet", "resnet50"), matmul_repeats=4, model_repeats=10)))
