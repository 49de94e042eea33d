"""TorchScript, traced and frozen (`torch.jit.freeze`), channels_last; bf16 casts the weights.

Frozen bf16 weights beat bf16 autocast on CPU, and channels_last measured as fast or faster for
frozen TorchScript (ResNet-18 1.1x), so both are on here.
"""
from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch

from steering.checkpoint import CheckpointError
from steering.inference.runtimes import BuildContext, ExportFormat, Runtime, RuntimeSpec, register


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


def write_file(model: torch.nn.Module, example: torch.Tensor, target: Path, batch: np.ndarray | None,
               calibration: str) -> str:
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about python control flow
        torch.jit.save(torch.jit.freeze(torch.jit.trace(model, example)), str(target))
    return f"torch.jit.trace + freeze (torch {torch.__version__}), fp32"


def load_file(path: Path, precision: str, threads: int, device: torch.device) -> Runtime:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch's deprecation notice for TorchScript
            module = torch.jit.load(str(path), map_location=device).eval()
    except (RuntimeError, ValueError, OSError) as exc:
        raise CheckpointError(f"{path}: not a loadable TorchScript file: {exc}") from exc

    def forward(x: torch.Tensor) -> torch.Tensor:
        return module(x.to(device)).float()

    return Runtime(forward, precision)


def is_torchscript_archive(path: Path) -> bool:
    """TorchScript archives hold `constants.pkl` (torch.save checkpoints do not)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("/constants.pkl") for name in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


SPEC = register(RuntimeSpec(
    name="torchscript", help="traced + frozen TorchScript, channels_last (bf16: bf16 weights)",
    devices=("cpu", "cuda"), precisions=("fp32", "bf16", "fp16"), build=build,
    preference={("cpu", "bf16"): 20},
    export=ExportFormat(suffix=".ts", help="TorchScript .ts (or .pt), traced and frozen", write=write_file,
                        load=load_file, also_reads=(".pt",), sniff=is_torchscript_archive)))
