"""Eager PyTorch under `inference_mode`: the reference every other runtime is checked against.

On CUDA: channels_last, cudnn.benchmark and fp16 autocast (bf16 where asked). On CPU: fp32 in the
default layout (ResNet-50 measured 0.9x in channels_last, docs/drive.md), or bf16 autocast.
"""
from __future__ import annotations

import torch

from steering.inference.runtimes import BuildContext, Runtime, RuntimeSpec, register


def build(model: torch.nn.Module, ctx: BuildContext) -> Runtime:
    channels_last = ctx.device.type == "cuda"
    model = model.to(ctx.device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        torch.backends.cudnn.benchmark = True  # fixed input size: pick the fastest kernels once
    autocast = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(ctx.precision)

    def forward(x: torch.Tensor) -> torch.Tensor:
        x = x.to(ctx.device, non_blocking=True)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if autocast is None:
            return model(x)
        with torch.autocast(ctx.device.type, dtype=autocast):
            return model(x).float()

    forward.model = model  # what the runtime holds, for tests and saliency
    return Runtime(forward, ctx.precision, channels_last)


SPEC = register(RuntimeSpec(
    name="torch", help="eager PyTorch (CPU fp32/bf16 autocast; CUDA fp16/bf16 autocast, channels_last)",
    devices=("cpu", "cuda"), precisions=("fp32", "bf16", "fp16"), build=build,
    preference={("cpu", "auto"): 100, ("cpu", "fp32"): 100, ("cpu", "bf16"): 100, ("cuda", "fp16"): 10,
                ("cuda", "bf16"): 10, ("cuda", "fp32"): 10},
    auto_precision={"cpu": "fp32", "cuda": "fp16"}))
