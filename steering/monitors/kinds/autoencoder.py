"""`autoencoder`: SelfOracle's monitor, the reconstruction error of a small convolutional autoencoder.

Trained on the nominal (training) frames; a frame unlike them (fog, a new track, the car off the road)
reconstructs worse. The input is the driven model's preprocessed frame when the monitor was fitted with
that model's preprocessing (no second preprocessing at drive time), resized to `SIZE`; the error is the
mean squared difference over that input.
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from steering.checkpoint import load_checkpoint
from steering.model import default_preprocess
from steering.monitors import FitContext, MonitorSpec, ScoreContext, register
from steering.preprocess import PreprocessConfig, preprocess_frame

log = logging.getLogger(__name__)

SIZE = (64, 192)  # (H, W): divisible by 16 for four stride-2 stages, close to PilotNet's 66x200
LATENT = 64  # numbers per frame in the code


class ConvAutoencoder(nn.Module):
    """(B, 3, 64, 192) -> the same through a code of `LATENT` numbers.

    The dense bottleneck is what makes it a monitor: a purely convolutional autoencoder learns to copy
    any image (a foggy or inverted frame reconstructed as well as a nominal one, measured); through 64
    numbers it can only redraw frames like the ones it was trained on.
    """

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(3, 24, 3, stride=2, padding=1), nn.ReLU(),  # (B, 24, 32, 96)
            nn.Conv2d(24, 32, 3, stride=2, padding=1), nn.ReLU(),  # (B, 32, 16, 48)
            nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.ReLU(),  # (B, 32, 8, 24)
            nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.ReLU(),  # (B, 32, 4, 12)
            nn.Flatten(), nn.Linear(32 * 4 * 12, LATENT),  # (B, LATENT)
        )
        self.decoder = nn.Sequential(
            nn.Linear(LATENT, 32 * 4 * 12), nn.ReLU(), nn.Unflatten(1, (32, 4, 12)),  # (B, 32, 4, 12)
            nn.ConvTranspose2d(32, 32, 4, stride=2, padding=1), nn.ReLU(),  # (B, 32, 8, 24)
            nn.ConvTranspose2d(32, 32, 4, stride=2, padding=1), nn.ReLU(),  # (B, 32, 16, 48)
            nn.ConvTranspose2d(32, 24, 4, stride=2, padding=1), nn.ReLU(),  # (B, 24, 32, 96)
            nn.ConvTranspose2d(24, 3, 4, stride=2, padding=1),  # (B, 3, 64, 192)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def _input(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) preprocessed -> (B, 3, 64, 192)."""
    return F.interpolate(x, size=SIZE, mode="bilinear", align_corners=False)


def reconstruction_errors(net: ConvAutoencoder, x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B,) mean squared reconstruction error."""
    inputs = _input(x)
    return ((net(inputs) - inputs) ** 2).mean(dim=(1, 2, 3))


def _preprocess_for(ctx: FitContext) -> PreprocessConfig:
    if ctx.checkpoints:
        return load_checkpoint(ctx.checkpoints[0]).preprocess
    return default_preprocess("pilotnet")


def fit(ctx: FitContext) -> dict[str, Any]:
    """Options: epochs (default 30), batch (64), lr (1e-3), seed (0)."""
    epochs, batch = int(ctx.options.get("epochs", 30)), int(ctx.options.get("batch", 64))
    torch.manual_seed(int(ctx.options.get("seed", 0)))
    pre = _preprocess_for(ctx)
    data = torch.stack([preprocess_frame(f, pre) for f in ctx.frames])  # (N, 3, H, W)
    net = ConvAutoencoder()
    optimizer = torch.optim.Adam(net.parameters(), lr=float(ctx.options.get("lr", 1e-3)))
    net.train()
    for _ in tqdm(range(epochs), desc="autoencoder", unit="epoch", disable=not ctx.options.get("progress")):
        for idx in torch.randperm(len(data)).split(batch):
            loss = reconstruction_errors(net, data[idx]).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    log.info("autoencoder: %d frames, %d epochs, last batch error %.4g", len(data), epochs, loss.item())
    return {"preprocess": pre.to_dict(), "weights": {k: v.detach().clone() for k, v in net.state_dict().items()}}


class AutoencoderScorer:
    def __init__(self, state: dict[str, Any]) -> None:
        self.preprocess = PreprocessConfig.from_dict(state["preprocess"])
        self.net = ConvAutoencoder().eval()
        self.net.load_state_dict(state["weights"])

    def score(self, frame: np.ndarray, ctx: ScoreContext) -> float:
        x = ctx.x if ctx.preprocess == self.preprocess else preprocess_frame(frame, self.preprocess)
        with torch.inference_mode():
            return float(reconstruction_errors(self.net, x.unsqueeze(0))[0])


SPEC = register(MonitorSpec(
    name="autoencoder", help="reconstruction error of a conv autoencoder trained on the nominal frames (SelfOracle)",
    fit=fit, build=AutoencoderScorer, learns_from_frames=True))
