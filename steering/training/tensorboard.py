"""`train.py --tensorboard DIR`: a run as TensorBoard sees it (`tensorboard --logdir DIR`).

Written per epoch (step = epoch number, 1-based, as in history.json): losses (`loss/train`,
`loss/val`, `loss/baseline_mse`), validation metrics (`val/mae`, `val/rmse`, `val/r2`, ...), the
learning rate of every optimizer parameter group (`lr/head`, `lr/backbone`), training speed
(`speed/images_per_s`), seconds per train and validation pass, the phase (`phase/index`,
`phase/trainable_params`, and a text entry whenever a strategy unfreezes stages), a grid of fixed
validation frames with true (green) and predicted (red) steering drawn on them, and histograms of
the head's weights and of its gradients in the epoch's last training batch.

Only rank 0 writes. `torch.utils.tensorboard` needs the `tensorboard` package (`pip install
'steering[tensorboard]'`); without it a run with --tensorboard stops before training with that
advice, and a run without the flag never imports it.
"""
from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from steering import udacity
from steering.preprocess import PreprocessConfig
from steering.training.config import ConfigError

log = logging.getLogger(__name__)

GRID_FRAMES = 16


def require_tensorboard(log_dir: str) -> Any:
    """`SummaryWriter` when `log_dir` is set (None when not); a clear ConfigError without the package."""
    if not log_dir:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:  # torch raises ImportError when the tensorboard package is missing
        raise ConfigError(f"--tensorboard needs the tensorboard package ({exc}); install it with "
                          "pip install 'steering[tensorboard]' (or pip install tensorboard), or leave the flag off"
                          ) from None
    return SummaryWriter


class TrainBoard:
    """The run's TensorBoard writer; every method is a no-op when off (no --tensorboard, or not rank 0)."""

    def __init__(self, log_dir: str | Path | None, model: nn.Module | None = None,
                 preprocess: PreprocessConfig | None = None) -> None:
        self.writer = None
        self.log_dir = Path(log_dir) if log_dir else None
        self.preprocess = preprocess
        self._phase_index = -1
        self._hooks: list[Any] = []
        self._grads: dict[str, torch.Tensor] = {}
        if self.log_dir is None:
            return
        self.writer = require_tensorboard(str(self.log_dir))(str(self.log_dir))
        if model is not None:
            self._watch_head_gradients(model)
        log.info("TensorBoard events in %s (tensorboard --logdir %s)", self.log_dir, self.log_dir)

    @property
    def on(self) -> bool:
        return self.writer is not None

    def _watch_head_gradients(self, model: nn.Module) -> None:
        # The loop zeroes gradients after every optimizer step, so at the epoch's end none are left:
        # a hook keeps the last one each head parameter received.
        for name, param in getattr(model, "head", nn.Identity()).named_parameters():
            def keep(grad: torch.Tensor, name: str = name) -> None:
                self._grads[name] = grad.detach()
            self._hooks.append(param.register_hook(keep))

    def phase(self, epoch: int, description: str, model: nn.Module) -> None:
        """A new phase starts at 0-based `epoch` (e.g. the strategy unfroze stages)."""
        if not self.on:
            return
        self._phase_index += 1
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        self.writer.add_text("phase", f"epoch {epoch + 1}: {description} ({trainable:,} trainable parameters)",
                             epoch + 1)
        self.writer.add_scalar("phase/trainable_params", trainable, epoch + 1)

    def epoch(self, record: dict[str, Any], model: nn.Module | None = None, val: Dataset | None = None,
              device: torch.device | str = "cpu") -> None:
        """Everything of one history.json record, plus frames and histograms from the model."""
        if not self.on:
            return
        step = int(record["epoch"])
        scalars = {"loss/train": record["train_loss"], "loss/val": record["val_loss"],
                   "loss/baseline_mse": record.get("baseline_mse"), "speed/images_per_s": record.get("images_per_s"),
                   "time/train_seconds": record.get("train_seconds"), "time/val_seconds": record.get("val_seconds"),
                   "phase/index": self._phase_index}
        scalars.update({f"val/{k[4:]}": v for k, v in record.items() if k.startswith("val_") and k != "val_loss"
                        and k != "val_seconds"})
        scalars.update({f"lr/{group}": lr for group, lr in (record.get("lr") or {}).items()})
        for tag, value in scalars.items():
            if isinstance(value, (int, float)) and math.isfinite(value):
                self.writer.add_scalar(tag, value, step)
        if model is not None:
            head = getattr(model, "head", None)
            for name, param in (head.named_parameters() if head is not None else ()):
                self.writer.add_histogram(f"head/{name}", param.detach().float().cpu(), step)
                if name in self._grads:
                    self.writer.add_histogram(f"head_grad/{name}", self._grads[name].float().cpu(), step)
            if val is not None and self.preprocess is not None and len(val):
                self.writer.add_image("val/frames", validation_grid(model, val, self.preprocess, device), step)
        self.writer.flush()

    def close(self) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks.clear()
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def to_display(x: torch.Tensor, preprocess: PreprocessConfig) -> np.ndarray:
    """A model input (3, H, W), normalised, in the model's colour space -> uint8 (H, W, 3) RGB."""
    mean, std = np.asarray(preprocess.mean, np.float32), np.asarray(preprocess.std, np.float32)
    image = (x.detach().cpu().numpy().transpose(1, 2, 0) * std + mean) * 255.0
    image = np.clip(image + 0.5, 0, 255).astype(np.uint8)
    return cv2.cvtColor(image, cv2.COLOR_YUV2RGB) if preprocess.colorspace == "yuv" else image


def draw_steering(image: np.ndarray, true: float, predicted: float, scale: int = 2) -> np.ndarray:
    """The frame enlarged `scale` times with two needles from the bottom centre: true green, predicted red."""
    out = cv2.resize(image, (image.shape[1] * scale, image.shape[0] * scale), interpolation=cv2.INTER_NEAREST)
    h, w = out.shape[:2]
    base, length = (w // 2, h - 2), int(h * 0.8)
    for value, colour in ((true, (40, 220, 60)), (predicted, (255, 60, 40))):
        angle = math.radians(max(-1.0, min(1.0, value)) * udacity.MAX_STEER_DEG * 2)  # doubled so small turns show
        tip = (int(base[0] + length * math.sin(angle)), int(base[1] - length * math.cos(angle)))
        cv2.line(out, base, tip, colour, 2, cv2.LINE_AA)
    cv2.putText(out, f"true {true:+.3f}", (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (40, 220, 60), 1, cv2.LINE_AA)
    cv2.putText(out, f"pred {predicted:+.3f}", (4, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 60, 40), 1, cv2.LINE_AA)
    return out


def grid_indices(count: int, frames: int = GRID_FRAMES) -> list[int]:
    """`frames` validation indices spread evenly over the set (the same every epoch)."""
    return sorted({int(i) for i in np.linspace(0, count - 1, num=min(frames, count))})


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    # Restore each module's own mode afterwards: frozen stages keep BatchNorm in eval while others train.
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


@torch.no_grad()
def validation_grid(model: nn.Module, val: Dataset, preprocess: PreprocessConfig,
                    device: torch.device | str = "cpu", frames: int = GRID_FRAMES) -> torch.Tensor:
    """uint8 (3, H, W) grid, 4 frames a row, of fixed validation frames with true vs predicted steering."""
    from torchvision.utils import make_grid

    items = [val[i] for i in grid_indices(len(val), frames)]
    x = torch.stack([item[0] for item in items])
    truth = [float(item[1]) for item in items]
    with _eval_mode(model):
        predicted = model(x.to(device)).float().reshape(-1).cpu().tolist()
    tiles = [torch.from_numpy(draw_steering(to_display(xi, preprocess), t, p)).permute(2, 0, 1)
             for xi, t, p in zip(x, truth, predicted, strict=False)]
    return make_grid(torch.stack(tiles), nrow=4, padding=2)
