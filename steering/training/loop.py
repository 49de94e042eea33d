"""One training epoch and one validation pass, for any module that maps a batch to (B,) steering.

The same functions train the full model (images in) and the head alone (cached features in; see
feature_cache.py), in one process or under DistributedDataParallel.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from steering.training.distributed import DistContext, all_reduce_sum

log = logging.getLogger(__name__)


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; the run stops and keeps its last good checkpoint."""

    def __init__(self, epoch: int, batch: int, value: float) -> None:
        self.epoch, self.batch, self.value = epoch, batch, value
        super().__init__(
            f"training loss is {value} at epoch {epoch + 1}, batch {batch + 1}: stopping. The last good "
            f"checkpoint is kept. Try a lower --lr/--backbone-lr, keep --grad-clip on, or check the log "
            f"for steering values outside [-1, 1]."
        )


class HeadRegressor(nn.Module):
    """The head alone as a model: cached features (B, F) -> (B,) steering."""

    def __init__(self, head: nn.Module) -> None:
        super().__init__()
        self.head = head

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features).reshape(-1)  # (B,)


@dataclass(frozen=True)
class Precision:
    """How forward passes run: autocast dtype (None = fp32) and tensor layout."""

    device: torch.device
    autocast_dtype: torch.dtype | None = None
    channels_last: bool = False

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def to_device(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        if self.channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x


def native_bf16_in_cpuinfo(text: str) -> bool | None:
    """From /proc/cpuinfo's text: does the CPU compute bf16 natively? None if it lists no flags."""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):  # x86, aarch64
            return bool(set(value.split()) & {"avx512_bf16", "amx_bf16", "bf16"})
    return None


@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes in bfloat16 natively (x86 AVX512-BF16 or AMX-BF16, Arm BF16).

    Without it oneDNN emulates bf16 through fp32 conversions, which only adds work. Read from the
    kernel's flag list; where there is none (not Linux), from oneDNN's own bf16 check.
    """
    try:
        found = native_bf16_in_cpuinfo(Path("/proc/cpuinfo").read_text())
    except OSError:
        found = None
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()) if found is None else found


@functools.lru_cache(maxsize=1)
def _warn_emulated_bf16() -> None:
    log.warning("--amp: this CPU has no native bf16 (no avx512_bf16/amx_bf16 flag); emulated bf16 trains "
                "about 10x slower than fp32, so training stays fp32")


def choose_precision(device: torch.device, amp: bool, backbone_trains: bool = True) -> Precision:
    """--amp: bfloat16 autocast where it pays; channels_last on CUDA and CPU alike.

    On CUDA, autocast whenever --amp is on (bf16 on Ampere and newer, else fp16 with loss scaling).
    On CPU, bf16 needs native support (`cpu_has_native_bf16`): emulated, a full fine-tuning step ran
    0.07x (ResNet-50) to 0.11x (EfficientNet-Lite0, PilotNet) of fp32's speed on an AVX2-only AMD
    EPYC, so there --amp keeps fp32 and says so once. With native bf16 (AMX) it pays only where the
    backbone trains: full fine-tuning at 66x200 ran 2.6x (ResNet-50) and 3.0x (ResNet-18) faster, a frozen backbone
    gained nothing (1.0x, ResNet-50) or lost (0.3x, ResNet-18), and the head alone on cached
    features lost 14x (tiny matmuls pay the casts). So frozen-backbone phases stay fp32.
    bf16 keeps fp32's exponent range, so it needs no loss scaling.
    channels_last: faster for training on CPU too (`python -m bench.training_speed`, AVX2 AMD EPYC,
    2 cores: per image, a fine-tuning step used 1.43x (EfficientNet-Lite0), 1.13x (ResNet-50) and
    1.10x (PilotNet) less CPU time than in contiguous NCHW).
    """
    channels_last = device.type in ("cuda", "cpu")
    if not amp or (device.type == "cpu" and not backbone_trains):
        return Precision(device, None, channels_last)
    if device.type == "cpu" and not cpu_has_native_bf16():
        _warn_emulated_bf16()
        return Precision(device, None, channels_last)
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return Precision(device, torch.float16, channels_last)
    return Precision(device, torch.bfloat16, channels_last)


def make_loss(name: str, huber_delta: float) -> nn.Module:
    return nn.HuberLoss(delta=huber_delta) if name == "huber" else nn.MSELoss()


def train_one_epoch(net: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer, loss_fn: nn.Module,
                    precision: Precision, ctx: DistContext, epoch: int, accumulate: int = 1,
                    grad_clip: float = 0.0, scaler: torch.amp.GradScaler | None = None,
                    progress: bool = True, desc: str = "") -> dict[str, float]:
    """Train `net` for one pass over `loader`; returns mean loss (over all processes), images, seconds."""
    net.train()
    params = [p for p in net.parameters() if p.requires_grad]
    optimizer.zero_grad(set_to_none=True)
    total_loss, total_count, started = 0.0, 0, time.perf_counter()
    bar = tqdm(
        loader, desc=desc or f"epoch {epoch + 1}", unit="batch", leave=False, disable=not (progress and ctx.is_main)
    )
    batches = len(loader)
    for batch_index, (x, y) in enumerate(bar):
        x, y = precision.to_device(x), y.to(precision.device, dtype=torch.float32).reshape(-1)
        step_now = (batch_index + 1) % accumulate == 0 or batch_index + 1 == batches
        # Under DDP, only the micro-batch that ends an accumulation window needs the gradient all-reduce.
        sync = contextlib.nullcontext() if step_now or not hasattr(net, "no_sync") else net.no_sync()
        with sync:
            with precision.autocast():
                prediction = net(x)  # (B,)
            loss = loss_fn(prediction.float(), y)
            value = float(loss.detach())
            if ctx.distributed:  # every process must stop together, or the others hang in all-reduce
                value = all_reduce_sum(ctx, [value])[0] / ctx.world_size
            if not math.isfinite(value):
                raise NonFiniteLossError(epoch, batch_index, value)
            scaled = loss / accumulate
            (scaler.scale(scaled) if scaler else scaled).backward()
        if step_now:
            if scaler:
                scaler.unscale_(optimizer)
            if grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, grad_clip)
            if scaler:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        total_loss += value * len(y)
        total_count += len(y)
        elapsed = time.perf_counter() - started
        bar.set_postfix(
            loss=f"{total_loss / total_count:.4f}", img_s=f"{total_count * ctx.world_size / max(elapsed, 1e-9):.0f}"
        )
    bar.close()
    loss_sum, count = (
        all_reduce_sum(ctx, [total_loss, float(total_count)]) if ctx.distributed else (total_loss, total_count)
    )
    seconds = time.perf_counter() - started
    return {"loss": loss_sum / max(count, 1), "images": int(count), "seconds": seconds,
            "images_per_s": count / max(seconds, 1e-9)}


@torch.no_grad()
def predict(net: nn.Module, loader: DataLoader, precision: Precision) -> tuple[np.ndarray, np.ndarray]:
    """(predictions, targets) over `loader` in eval mode, as float64 arrays."""
    net.eval()
    predictions, targets = [], []
    for x, y in loader:
        with precision.autocast():
            predictions.append(net(precision.to_device(x)).float().cpu())
        targets.append(y.float().reshape(-1))
    return torch.cat(predictions).double().numpy(), torch.cat(targets).double().numpy()
