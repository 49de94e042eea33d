"""`saliency`: how far the driven model's attention map strays from where it looks on nominal frames.

ThirdEye's idea (Stocco et al., TOSEM 2022): a model about to fail looks at the wrong places. Each
frame's VisualBackProp map (`steering.explain.visual_backprop`, on the checkpoint's own fp32 torch
model: the driven runtime has no hooks) is pooled to a coarse `GRID` and scaled to [0, 1] (VBP's own
normalisation); fitting keeps the per-cell mean of the nominal frames' maps, and the score is the
mean absolute difference between the frame's map and that nominal mean (0: attention exactly where
it usually is). The threshold comes from nominal frames the mean was not computed on, as for the
autoencoder. One forward pass with hooks per frame, no gradients.
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from steering.checkpoint import load_model
from steering.explain import visual_backprop
from steering.monitors import FitContext, MonitorSpec, ScoreContext, register
from steering.preprocess import preprocess_frame

log = logging.getLogger(__name__)

GRID = (16, 48)  # (h, w) cells the maps are pooled to: small shifts of an edge stay in one cell
_BATCH = 32  # frames per VBP pass while fitting


def pooled_maps(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) preprocessed -> (B, *GRID) VisualBackProp maps, each scaled to max 1."""
    maps = visual_backprop(model, x)  # (B, H, W) in [0, 1]
    pooled = F.adaptive_avg_pool2d(maps.unsqueeze(1), GRID)[:, 0]  # (B, *GRID)
    return pooled / pooled.amax(dim=(1, 2), keepdim=True).clamp_min(1e-12)


def map_distance(maps: torch.Tensor, nominal: torch.Tensor) -> torch.Tensor:
    """(B, *GRID) maps, (*GRID) nominal mean -> (B,) mean absolute difference per cell."""
    return (maps - nominal).abs().mean(dim=(1, 2))


def fit(ctx: FitContext) -> dict[str, Any]:
    if not ctx.checkpoints:
        raise ValueError("saliency watches a model: give its checkpoint (--model best.pt)")
    model, pre = load_model(ctx.checkpoints[0])
    total = torch.zeros(GRID)
    starts = range(0, len(ctx.frames), _BATCH)
    for start in tqdm(starts, desc="saliency", unit="batch", disable=not ctx.options.get("progress")):
        x = torch.stack([preprocess_frame(f, pre) for f in ctx.frames[start:start + _BATCH]])  # (b, 3, H, W)
        total += pooled_maps(model, x).sum(dim=0)
    nominal = total / max(1, len(ctx.frames))
    log.info("saliency: nominal map of %d frames, mean cell %.3g", len(ctx.frames), float(nominal.mean()))
    return {"checkpoint": str(ctx.checkpoints[0]), "nominal_map": nominal, "method": "vbp"}


class SaliencyScorer:
    def __init__(self, state: dict[str, Any]) -> None:
        self.model, self.preprocess = load_model(state["checkpoint"])
        self.nominal = torch.as_tensor(state["nominal_map"], dtype=torch.float32)
        if tuple(self.nominal.shape) != GRID:
            raise ValueError(f"saliency monitor: nominal map of shape {tuple(self.nominal.shape)}, expected {GRID}")

    def score(self, frame: np.ndarray, ctx: ScoreContext) -> float:
        x = ctx.x if ctx.preprocess == self.preprocess else preprocess_frame(frame, self.preprocess)
        return float(map_distance(pooled_maps(self.model, x.unsqueeze(0)), self.nominal)[0])


SPEC = register(MonitorSpec(
    name="saliency", help="distance of the model's VisualBackProp attention map from its mean on nominal frames "
                          "(ThirdEye)", fit=fit, build=SaliencyScorer, learns_from_frames=True))
