"""Training-step speed: fp32 vs bf16 autocast per model and strategy, and the feature cache's gain.

    python -m steering.training.benchmark            # prints a table of images/s

This is how `--amp` on CPU was chosen (see docs); run it on a new machine before trusting either.
"""
from __future__ import annotations

import argparse
import time

import torch

from steering.model import create_model, default_preprocess
from steering.training.config import TrainConfig
from steering.training.loop import HeadRegressor, choose_precision
from steering.training.strategies import apply_phase, build_optimizer, plan_phases


def step_rate(model_name: str, strategy: str, amp: bool, batch_size: int = 32, steps: int = 5, warmup: int = 2,
              cached: bool = False) -> float:
    """Training images per second for `steps` optimizer steps on random input (after `warmup`)."""
    torch.manual_seed(0)
    pre = default_preprocess(model_name)
    model = create_model(model_name, pretrained="none", preprocess=pre)
    config = TrainConfig(model=model_name, strategy=strategy)
    apply_phase(model, plan_phases(config, model.stages)[-1])
    optimizer = build_optimizer(model, config)
    precision = choose_precision(torch.device("cpu"), amp)
    x = torch.randn(batch_size, *pre.input_shape)
    if cached:  # the head alone on precomputed features
        with torch.no_grad():
            x = model.backbone.eval()(x).flatten(1)
        net: torch.nn.Module = HeadRegressor(model.head)
    else:
        net = model
    y = torch.randn(batch_size) * 0.3
    net.train()
    for i in range(warmup + steps):
        if i == warmup:
            started = time.perf_counter()
        with precision.autocast():
            loss = torch.nn.functional.mse_loss(net(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return steps * batch_size / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=5, help="timed optimizer steps per case")
    args = parser.parse_args()
    cases = [("pilotnet", "finetune", False), ("resnet18", "frozen", False), ("resnet18", "finetune", False),
             ("resnet50", "frozen", False), ("resnet50", "finetune", False), ("resnet50", "frozen", True)]
    print(f"{'model':<10}{'strategy':<16}{'fp32 img/s':>12}{'bf16 img/s':>12}{'speed-up':>10}")
    for name, strategy, cached in cases:
        fp32 = step_rate(name, strategy, False, steps=args.steps, cached=cached)
        bf16 = step_rate(name, strategy, True, steps=args.steps, cached=cached)
        label = strategy + (" (cached)" if cached else "")
        print(f"{name:<10}{label:<16}{fp32:>12.1f}{bf16:>12.1f}{bf16 / fp32:>9.2f}x")


if __name__ == "__main__":
    main()
