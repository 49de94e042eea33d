"""Rain, drawn with the renderer's depth: falling streaks, a darker grey sky, a wet road that mirrors it.

- Streaks: thin slanted strokes (wind from the drive's seed), more and longer with the severity, in
  one of a few layers drawn once per drive and severity, shifted down each frame (they fall).
- Light: the whole scene darker and greyer (overcast), the sky blended towards rain-cloud grey.
- Wet road: each ground pixel mirrors the image row as far above the horizon as it is below (a flat
  wet road reflects the sky and the trees), blurred by the road's roughness and weighted by Fresnel's
  reflectance for water (Schlick, n = 1.33) at that pixel's grazing angle, so the sheen grows with
  distance: a few percent under the car, most of the colour far ahead.
"""
from __future__ import annotations

import functools

import cv2
import numpy as np

from steering.perturb.registry import FrameContext, Perturbation, blend, register

STREAKS = (150, 300, 500, 800, 1200)  # per layer of twice the frame's height
STREAK_LENGTH_PX = ((4, 9), (5, 12), (6, 15), (8, 19), (10, 24))
STREAK_ALPHA = (0.3, 0.33, 0.36, 0.4, 0.45)
LIGHT = (0.85, 0.76, 0.68, 0.6, 0.52)  # overcast: fraction of the light left
WET = (0.25, 0.35, 0.45, 0.6, 0.7)  # how much of Fresnel's reflectance the road shows (puddles at 5)
CLOUD_RGB = (118, 122, 130)
STREAK_RGB = 200
LAYERS = 4
CAMERA_HEIGHT_M = 1.6  # steering.sim.render.CameraConfig.height_m: only shapes the Fresnel curve


@functools.lru_cache(maxsize=16)
def _streak_layers(seed: int, severity: int, height: int, width: int) -> tuple[np.ndarray, ...]:
    """`LAYERS` float32 (2 H, W) masks of rain strokes in [0, 1], slanted by the drive's wind."""
    rng = np.random.default_rng([seed, severity, 4242])
    slant = rng.uniform(-0.35, 0.35)  # dx per dy: the wind
    low, high = STREAK_LENGTH_PX[severity - 1]
    layers = []
    for _ in range(LAYERS):
        layer = np.zeros((2 * height, width), np.float32)
        for _ in range(STREAKS[severity - 1]):
            x, y, length = rng.uniform(0, width), rng.uniform(0, 2 * height), rng.uniform(low, high)
            end = (int(round(x + slant * length)), int(round(y + length)))
            cv2.line(layer, (int(round(x)), int(round(y))), end, float(rng.uniform(0.5, 1)), 1, cv2.LINE_AA)
        layers.append(cv2.GaussianBlur(layer, (3, 3), 0.6))
    return tuple(layers)


def _fresnel(depth_m: np.ndarray) -> np.ndarray:
    """Schlick's reflectance of water seen from the camera height at distance d (0.02 head-on, 1 grazing)."""
    cos_incidence = np.float32(CAMERA_HEIGHT_M) / cv2.sqrt(depth_m * depth_m + np.float32(CAMERA_HEIGHT_M**2))
    r0 = ((1.33 - 1) / (1.33 + 1)) ** 2
    grazing = 1 - cos_incidence
    return np.float32(r0) + np.float32(1 - r0) * cv2.pow(grazing, 5)


@functools.lru_cache(maxsize=16)
def _plain(height: int, width: int, rgb: tuple[int, int, int]) -> np.ndarray:
    return np.full((height, width, 3), rgb, np.uint8)


def rain(frame: np.ndarray, severity: int, context: FrameContext) -> np.ndarray:
    scene, rng = context.scene, context.rng
    depth = scene.depth_m
    h, w = frame.shape[:2]
    light, grey_share = LIGHT[severity - 1], 0.08 * severity  # overcast: darker and less saturated
    grey = cv2.cvtColor(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    out = cv2.addWeighted(frame, (1 - grey_share) * light, grey, grey_share * light, 0)
    top = scene.horizon_row
    sky_alpha = np.isinf(depth[:top]).astype(np.float32) * np.float32(0.45 + 0.1 * severity)
    cloud = tuple(int(c * light) for c in CLOUD_RGB)
    out[:top] = blend(out[:top], _plain(top, w, cloud), sky_alpha)
    rows = min(h - top, top)  # ground rows with a mirrored row above the horizon
    if rows > 0:
        mirrored = cv2.blur(np.ascontiguousarray(out[top - rows:top][::-1]), (5, 3))  # row top + k <- top - 1 - k
        ground = slice(top, top + rows)
        weight = _fresnel(depth[ground]) * np.float32(WET[severity - 1])
        out[ground] = blend(out[ground], mirrored, weight)
    layers = _streak_layers(context.seed, severity, h, w)
    layer = layers[int(rng.integers(len(layers)))]
    offset = int(rng.integers(h))
    alpha = layer[offset:offset + h] * np.float32(STREAK_ALPHA[severity - 1])
    return blend(out, _plain(h, w, (STREAK_RGB,) * 3), alpha)


register(Perturbation("rain", "render", "rain: streaks, overcast light, a wet road mirroring the sky", rain,
                      "renderer depth"))
