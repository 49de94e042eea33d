"""TorchScript, traced and frozen (`torch.jit.freeze`), channels_last; bf16 casts the weights.

Frozen bf16 weights beat bf16 autocast on CPU, and channels_last measured as fast or faster for
frozen TorchScript (ResNet-18 1.1x), so both are on here.
"""
from __future__ import annotations

import warnings

import torch

from steering.drive.runtimes import BuildContext, Runtime, RuntimeSpec, register


def build(model: torch.nn.Module, ctx: BuildContext) -> Runtime:
    dtype = torch.bfloat16 if ctx.precision == "bf16" else torch.float16 if ctx.precision == "fp16" else torch.float32
    model = model.to(ctx.device, dtype).to(memory_format=torch.channels_last)
    example = ctx.example().to(ctx.device, dtype).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about python control flow
        frozen = torch.jit.freeze(torch.jit.trace(model, example))

    def forward(x: torch.Tensor) -> torch.Tensor:
        x = x.to(ctx.device, dtype, non_blocking=True).contiguous(memory_format=torch.channels_last)
        return frozen(x).float()

    return Runtime(forward, ctx.precision, channels_last=True)


SPEC = register(RuntimeSpec(
    name="torchscript", help="traced + frozen TorchScript, channels_last (bf16: bf16 weights)",
    devices=("cpu", "cuda"), precisions=("fp32", "bf16", "fp16"), build=build,
    preference={("cpu", "bf16"): 20}))
