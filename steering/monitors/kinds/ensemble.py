"""`ensemble`: disagreement of several checkpoints, the standard deviation of their steering.

Each checkpoint is its own fp32 torch model (one pass each per frame); all must share the
preprocessing, so the frame is prepared once.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from steering.checkpoint import load_model
from steering.monitors import FitContext, MonitorSpec, ScoreContext, register
from steering.preprocess import preprocess_frame


def fit(ctx: FitContext) -> dict[str, Any]:
    if len(ctx.checkpoints) < 2:
        raise ValueError(f"ensemble needs at least two checkpoints (--model a.pt --model b.pt), "
                         f"got {len(ctx.checkpoints)}")
    return {"checkpoints": [str(p) for p in ctx.checkpoints]}


class EnsembleScorer:
    def __init__(self, state: dict[str, Any]) -> None:
        loaded = [load_model(p) for p in state["checkpoints"]]
        self.models = [m for m, _ in loaded]
        self.preprocess = loaded[0][1]
        if any(pre != self.preprocess for _, pre in loaded):
            raise ValueError(f"ensemble monitor: {', '.join(state['checkpoints'])} preprocess differently")

    def score(self, frame: np.ndarray, ctx: ScoreContext) -> float:
        x = ctx.x if ctx.preprocess == self.preprocess else preprocess_frame(frame, self.preprocess)
        batch = x.unsqueeze(0)  # (1, 3, H, W)
        with torch.inference_mode():
            out = torch.cat([m(batch) for m in self.models])  # (models,)
        return float(out.std(unbiased=False))


SPEC = register(MonitorSpec(name="ensemble", help="standard deviation of the steering of several checkpoints",
                            fit=fit, build=EnsembleScorer))
