"""Fog that thickens with distance, drawn with the renderer's depth: Koschmieder's law per pixel.

A pixel `d` metres away keeps exp(-beta d) of its colour and takes the rest from the fog (air light),
with beta = 3.912 / visibility (contrast falls to 2 % at the meteorological visibility), so the road
near the car stays sharp while the far road, trees and the sky disappear. Unlike ImageNet-C's `fog`
(a plasma fractal laid over the image regardless of depth), a tree 10 m away is clearer than the road
40 m away. Severities: visibility 150, 90, 55, 32, 18 m.
"""
from __future__ import annotations

import functools

import cv2
import numpy as np

from steering.perturb.registry import FrameContext, Perturbation, blend, register

VISIBILITY_M = (150.0, 90.0, 55.0, 32.0, 18.0)
FOG_RGB = (196, 200, 204)  # grey-white air light


def transmission(depth_m: np.ndarray, severity: int) -> np.ndarray:
    """Fraction of a pixel's own colour that reaches the camera, (H, W) float32: 1 at 0 m, 0 for the sky."""
    return cv2.exp(depth_m * np.float32(-3.912 / VISIBILITY_M[severity - 1]))


@functools.lru_cache(maxsize=4)
def _fog_image(height: int, width: int) -> np.ndarray:
    return np.full((height, width, 3), FOG_RGB, np.uint8)


def distance_fog(frame: np.ndarray, severity: int, context: FrameContext) -> np.ndarray:
    t = transmission(context.scene.depth_m, severity)
    return blend(frame, _fog_image(*frame.shape[:2]), 1 - t)


register(Perturbation("distance_fog", "render", "fog thickening with distance (visibility 150 to 18 m)",
                      distance_fog, "renderer depth"))
