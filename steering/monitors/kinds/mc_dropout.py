"""`mc-dropout`: the variance of the head's output with its dropout layers left on (Monte-Carlo dropout).

The backbone runs once per frame; its features go through the head `passes` times in one batch, each
row with its own dropout mask, so the cost is one backbone pass plus one small batched head pass. Any
`steering.model.SteeringRegressor` whose head has dropout works (the seed head, PilotNet's). The model
is the checkpoint's own fp32 torch copy: the driven runtime (OpenVINO, ONNX) has no dropout left.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from steering.checkpoint import load_model
from steering.monitors import FitContext, MonitorSpec, ScoreContext, register
from steering.preprocess import preprocess_frame

PASSES = 16


def fit(ctx: FitContext) -> dict[str, Any]:
    """Options: passes (default 16), seed (0)."""
    if not ctx.checkpoints:
        raise ValueError("mc-dropout watches a model: give its checkpoint (--model best.pt)")
    return {"checkpoint": str(ctx.checkpoints[0]), "passes": int(ctx.options.get("passes", PASSES)),
            "seed": int(ctx.options.get("seed", 0))}


class MCDropoutScorer:
    def __init__(self, state: dict[str, Any], active: bool = True) -> None:
        self.model, self.preprocess = load_model(state["checkpoint"])
        self.passes = int(state["passes"])
        self.dropouts = [m for m in self.model.head.modules() if isinstance(m, nn.Dropout)]
        if not self.dropouts:
            raise ValueError(f"{state['checkpoint']}: the model's head has no dropout layer; mc-dropout needs one")
        self.generator = torch.Generator().manual_seed(int(state.get("seed", 0)))
        self.set_active(active)

    def set_active(self, active: bool) -> None:
        """Dropout on (the monitor) or off (every pass equal: variance 0); BatchNorm stays in eval."""
        for m in self.dropouts:
            m.train(active)

    def score(self, frame: np.ndarray, ctx: ScoreContext) -> float:
        x = ctx.x if ctx.preprocess == self.preprocess else preprocess_frame(frame, self.preprocess)
        with torch.inference_mode():
            features = self.model.backbone(x.unsqueeze(0))  # (1, F) or (1, F, 1, 1)
            batch = features.expand(self.passes, *features.shape[1:])  # (passes, ...): one mask per row
            state = torch.random.get_rng_state()
            torch.random.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=self.generator)))
            try:
                out = self.model.head(batch).reshape(-1)  # (passes,)
            finally:
                torch.random.set_rng_state(state)  # the monitor must not change anyone else's random draws
        return float(out.var(unbiased=False))


SPEC = register(MonitorSpec(
    name="mc-dropout", help=f"variance of the head's output over {PASSES} dropout masks on one backbone pass",
    fit=fit, build=MCDropoutScorer))
