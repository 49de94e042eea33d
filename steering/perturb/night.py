"""Night with headlights, drawn with the renderer's depth.

The scene keeps only ambient light (dusk at severity 1, a moonless night at 5), the sky turns dark
blue, and the car's low beams light what is in front of it: a warm lobe about +-17 degrees wide that
falls off with distance as 1 / (1 + (d / 12 m)^2), so the road is bright for the first 10-20 m and
black beyond 50 m. The camera's own car (the hood, depth 0) gets ambient light only. The lobe follows
the car (the lamps are fixed to it), so per frame the cost is one gain map from the depth.
"""
from __future__ import annotations

import functools

import cv2
import numpy as np

from steering.perturb.registry import FrameContext, Perturbation, blend, register

AMBIENT = (0.45, 0.30, 0.20, 0.13, 0.07)  # fraction of daylight left
NIGHT_SKY_RGB = (14, 18, 38)
BEAM_RGB = (1.15, 1.08, 0.92)  # halogen: warm white, a little brighter than day near the car
BEAM_HALF_WIDTH_RAD = 0.30
BEAM_RANGE_M = 12.0


@functools.lru_cache(maxsize=8)
def _lobe(width: int, focal_px: float) -> np.ndarray:
    """(W,) beam strength per image column: a gaussian in the horizontal angle off the car's axis."""
    angle = np.arctan((np.arange(width, dtype=np.float32) + 0.5 - width / 2) / focal_px)
    return np.exp(-((angle / BEAM_HALF_WIDTH_RAD) ** 2)).astype(np.float32)


def night(frame: np.ndarray, severity: int, context: FrameContext) -> np.ndarray:
    scene = context.scene
    depth = scene.depth_m
    near = depth * np.float32(1 / BEAM_RANGE_M)
    lit = cv2.divide(1.0, cv2.multiply(near, near) + 1)  # 1 / (1 + (d / range)^2): 0 for the sky
    lit[depth == 0] = 0  # the car's own hood: the lamps do not light it
    lit *= _lobe(frame.shape[1], scene.focal_px)
    ambient = AMBIENT[severity - 1]
    gain = cv2.merge([lit * np.float32(b) + np.float32(ambient) for b in BEAM_RGB])  # (H, W, 3)
    out = cv2.multiply(frame, gain, dtype=cv2.CV_8U)  # rounds and saturates
    top = scene.horizon_row  # the sky: darker still, and night-blue
    sky_alpha = np.isinf(depth[:top]).astype(np.float32) * np.float32(min(1.0, 0.5 + 0.1 * severity))
    out[:top] = blend(out[:top], _night_sky(top, frame.shape[1]), sky_alpha)
    return out


@functools.lru_cache(maxsize=4)
def _night_sky(height: int, width: int) -> np.ndarray:
    return np.full((height, width, 3), NIGHT_SKY_RGB, np.uint8)


register(Perturbation("night", "render", "night: ambient light 45 to 7 %, headlights lighting the road ahead",
                      night, "renderer depth"))
