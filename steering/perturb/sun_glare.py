"""A low sun in front of the camera: bloom, veiling glare and lens-flare ghosts, drawn where the sun is.

The sun stands 4 degrees above the horizon at an azimuth fixed for the drive (drawn from its seed), so
the glare comes and goes as the road turns towards and away from it, as it does on a real evening
drive. Its image position comes from the camera's pinhole model and the car's heading; the glare is a
bright core, a wide veil that washes out contrast (the road near the sun turns white), and three
coloured ghosts mirrored through the image centre. Severities grow the core, the veil and its reach.
A sun more than ~70 degrees off the camera's axis adds nothing.
"""
from __future__ import annotations

import functools
import math

import cv2
import numpy as np

from steering.perturb.registry import FrameContext, Perturbation, blend, register

ELEVATION_DEG = 4.0
CORE = ((0.55, 9.0), (0.7, 12.0), (0.85, 15.0), (0.95, 19.0), (1.0, 24.0))  # strength, sigma px
VEIL = ((0.18, 70.0), (0.28, 90.0), (0.4, 110.0), (0.52, 135.0), (0.65, 160.0))  # strength, e-folding px
GHOSTS = ((-0.35, 7.0, 0.18), (-0.7, 12.0, 0.12), (-1.15, 5.0, 0.22))  # position on the sun-centre line, r, strength
SUN_RGB = (255, 236, 196)


def sun_azimuth(seed: int) -> float:
    """The drive's sun azimuth in radians (counter-clockwise from the world's x axis)."""
    return float(np.random.default_rng([seed, 777]).uniform(0, 2 * math.pi))


GLARE_SCALE = 4  # the glare is smooth: computed on a grid 4x coarser, then resized


@functools.lru_cache(maxsize=4)
def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (full-resolution units) of the coarse grid."""
    ys, xs = np.mgrid[0:height // GLARE_SCALE, 0:width // GLARE_SCALE].astype(np.float32)
    return (xs + 0.5) * GLARE_SCALE, (ys + 0.5) * GLARE_SCALE


@functools.lru_cache(maxsize=4)
def _sun_image(height: int, width: int) -> np.ndarray:
    return np.full((height, width, 3), SUN_RGB, np.uint8)


def sun_position(heading: float, azimuth: float, focal_px: float, pitch_deg: float, height: int,
                 width: int) -> tuple[float, float, float] | None:
    """(column, row, cos of the angle off the optical axis) of the sun's image, or None when behind."""
    relative = math.remainder(azimuth - heading, math.tau)  # positive = left of the car's axis
    e, p = math.radians(ELEVATION_DEG), math.radians(pitch_deg)
    forward, left, up = math.cos(e) * math.cos(relative), math.cos(e) * math.sin(relative), math.sin(e)
    z = forward * math.cos(p) - up * math.sin(p)  # along the optical axis
    if z <= 0.3:  # more than ~70 degrees off the axis
        return None
    column = width / 2 - focal_px * left / z
    row = height / 2 + focal_px * (-forward * math.sin(p) - up * math.cos(p)) / z
    return column, row, z


def sun_glare(frame: np.ndarray, severity: int, context: FrameContext) -> np.ndarray:
    scene = context.scene
    h, w = frame.shape[:2]
    sun = sun_position(scene.heading, sun_azimuth(context.seed), scene.focal_px, scene.pitch_deg, h, w)
    if sun is None:
        return frame
    column, row, z = sun
    fade = np.float32(min(1.0, (z - 0.3) / 0.4))  # glare dies out towards ~70 degrees off axis
    xs, ys = _grid(h, w)
    r2 = (xs - column) ** 2 + (ys - row) ** 2
    strength, sigma = CORE[severity - 1]
    veil, reach = VEIL[severity - 1]
    glare = strength * np.exp(-r2 / (2 * sigma * sigma)) + veil * np.exp(-np.sqrt(r2) / reach)
    for position, radius, ghost in GHOSTS:  # ghosts on the line from the sun through the centre
        gx, gy = w / 2 + position * (column - w / 2), h / 2 + position * (row - h / 2)
        glare += ghost * strength * np.exp(-((xs - gx) ** 2 + (ys - gy) ** 2) / (2 * radius * radius))
    glare = cv2.resize(np.minimum(glare * fade, 1), (w, h), interpolation=cv2.INTER_LINEAR)
    return blend(frame, _sun_image(h, w), glare)  # towards the sun's colour


register(Perturbation("sun_glare", "render", "low sun: bloom, veiling glare and flare ghosts where the sun is",
                      sun_glare, "renderer pose"))
