"""`tta`: disagreement of the frame and its mirror: |f(frame) + f(mirrored frame)|.

The tracks are left-right symmetric in law, so f(mirror) should be -f(frame); a model that is unsure of
the road contradicts itself more. One batched fp32 pass of the two views on the checkpoint's torch copy.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from steering.checkpoint import load_model
from steering.inference.ensemble import mirror_width
from steering.monitors import FitContext, MonitorSpec, ScoreContext, register
from steering.preprocess import preprocess_frame


def fit(ctx: FitContext) -> dict[str, Any]:
    if not ctx.checkpoints:
        raise ValueError("tta watches a model: give its checkpoint (--model best.pt)")
    return {"checkpoint": str(ctx.checkpoints[0])}


class FlipScorer:
    def __init__(self, state: dict[str, Any]) -> None:
        self.model, self.preprocess = load_model(state["checkpoint"])

    def score(self, frame: np.ndarray, ctx: ScoreContext) -> float:
        x = ctx.x if ctx.preprocess == self.preprocess else preprocess_frame(frame, self.preprocess)
        with torch.inference_mode():
            out = self.model(torch.stack([x, mirror_width(x)]))  # (2,)
        return float(abs(out[0] + out[1]))


SPEC = register(MonitorSpec(name="tta", help="|f(frame) + f(mirrored frame)|: the model contradicting its mirror",
                            fit=fit, build=FlipScorer))
