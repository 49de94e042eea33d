"""Training-only augmentation of a raw 160x320 RGB frame, with the steering label kept correct.

Geometric parts (flip, translation) are small custom transforms so the label change is exact:
a flip negates steering, a shift of the road by dx pixels to the right adds
`steering_per_px * dx` (the scene looks as if the car sat further left, as from the left camera,
which also gets a positive correction). Photometric parts (brightness/contrast, shadow, blur,
noise) come from albumentations and leave the label alone. Everything is drawn from the
caller's `numpy.random.Generator`, so a (seed, epoch, index) rng reproduces a sample exactly.
Preprocessing (crop, resize, normalise) happens afterwards in `steering.preprocess`.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from pathlib import Path

import albumentations as A
import cv2
import numpy as np
import pandas as pd

from steering.preprocess import read_frame


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of each augmentation; `AugmentConfig.none()` switches all off."""

    enabled: bool = True
    flip_prob: float = 0.5
    brightness: float = 0.25  # max relative brightness change
    contrast: float = 0.2
    brightness_contrast_prob: float = 0.5
    shadow_prob: float = 0.3  # a random dark polygon on the road half, like tree shadows
    translate_x: float = 40.0  # max horizontal shift in px (of 320), either direction
    translate_prob: float = 0.5
    steering_per_px: float = 0.004  # steering change per px of horizontal shift (naokishibuya uses 0.002)
    translate_y: float = 8.0  # max vertical shift in px; no label change (mimics slopes)
    blur_prob: float = 0.1
    noise_prob: float = 0.1

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if f.name.endswith("_prob") and not 0.0 <= getattr(self, f.name) <= 1.0:
                raise ValueError(f"AugmentConfig.{f.name} must be in [0, 1], got {getattr(self, f.name)}")
        if self.translate_x < 0 or self.translate_y < 0 or self.brightness < 0 or self.contrast < 0:
            raise ValueError("AugmentConfig ranges (translate_x, translate_y, brightness, contrast) must be >= 0")

    @classmethod
    def none(cls) -> AugmentConfig:
        """No augmentation (validation, or a baseline run)."""
        return cls(enabled=False)


def flip(frame_rgb: np.ndarray, steering: float) -> tuple[np.ndarray, float]:
    """Mirror left-right; the road now bends the other way, so steering is negated."""
    return np.ascontiguousarray(frame_rgb[:, ::-1]), -steering


def translate(
    frame_rgb: np.ndarray, steering: float, dx: float, dy: float, steering_per_px: float
) -> tuple[np.ndarray, float]:
    """Shift the picture by (dx, dy) px (dx > 0: content moves right); steering += steering_per_px * dx, clipped.

    The uncovered border is black, not mirrored: mirroring would paint fake lane lines.
    """
    height, width = frame_rgb.shape[:2]
    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    shifted = cv2.warpAffine(frame_rgb, matrix, (width, height), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    return shifted, float(np.clip(steering + steering_per_px * dx, -1.0, 1.0))


def augment(
    frame_rgb: np.ndarray, steering: float, config: AugmentConfig, rng: np.random.Generator
) -> tuple[np.ndarray, float]:
    """uint8 HWC RGB frame and steering in [-1, 1] -> augmented frame (same shape) and adjusted steering.

    Draws a fixed number of values from `rng` whatever the config, so changing one probability
    does not reshuffle the other augmentations of the same sample.
    """
    if not config.enabled:
        return frame_rgb, float(steering)
    draws = rng.random(4)  # flip?, translate?, dx, dy
    photometric_seed = int(rng.integers(0, 2**31 - 1))
    steering = float(steering)
    if draws[0] < config.flip_prob:
        frame_rgb, steering = flip(frame_rgb, steering)
    if draws[1] < config.translate_prob and (config.translate_x > 0 or config.translate_y > 0):
        dx = (2.0 * draws[2] - 1.0) * config.translate_x
        dy = (2.0 * draws[3] - 1.0) * config.translate_y
        frame_rgb, steering = translate(frame_rgb, steering, dx, dy, config.steering_per_px)
    pipeline = _photometric(config)
    if pipeline is not None:
        pipeline.set_random_seed(photometric_seed)
        frame_rgb = pipeline(image=frame_rgb)["image"]
    return frame_rgb, float(np.clip(steering, -1.0, 1.0))


@functools.lru_cache(maxsize=8)
def _photometric(config: AugmentConfig) -> A.Compose | None:
    """Albumentations pipeline for the label-free parts (built once per config; seeded per call)."""
    transforms = []
    if config.brightness_contrast_prob > 0:
        transforms.append(A.RandomBrightnessContrast(brightness_limit=config.brightness, contrast_limit=config.contrast,
                                                     p=config.brightness_contrast_prob))
    if config.shadow_prob > 0:
        transforms.append(A.RandomShadow(shadow_roi=(0, 0.4, 1, 1), num_shadows_limit=(1, 2),
                                         shadow_intensity_range=(0.3, 0.6), p=config.shadow_prob))
    if config.blur_prob > 0:
        transforms.append(A.GaussianBlur(blur_limit=(3, 5), sigma_limit=(0.3, 1.2), p=config.blur_prob))
    if config.noise_prob > 0:
        transforms.append(A.GaussNoise(std_range=(0.01, 0.05), p=config.noise_prob))
    return A.Compose(transforms) if transforms else None


def preview_grid(samples: pd.DataFrame, config: AugmentConfig, path: str | Path, n: int = 16, seed: int = 0) -> Path:
    """Write a PNG grid of `n` randomly chosen samples, augmented, titled with steering before -> after."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if samples.empty:
        raise ValueError("preview_grid needs at least one sample")
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(samples), size=min(n, len(samples)), replace=False)
    cols = math.ceil(math.sqrt(len(chosen)))
    rows = math.ceil(len(chosen) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 1.9 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, chosen, strict=False):
        sample = samples.iloc[int(i)]
        frame, steering = augment(read_frame(sample["path"]), float(sample["steering"]), config, rng)
        ax.imshow(frame)
        ax.set_title(f"{sample.get('camera', '')} {sample['steering']:+.3f} -> {steering:+.3f}", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
