"""Training-only augmentation of a raw 160x320 RGB frame, with the steering label kept correct.

Geometric parts (flip, translation) are small custom transforms so the label change is exact:
a flip negates steering, a shift of the road by dx pixels to the right adds
`steering_per_px * dx` (the scene looks as if the car sat further left, as from the left camera,
which also gets a positive correction). Photometric parts (brightness/contrast, shadow, blur,
noise) come from albumentations and leave the label alone. Last, a share of the frames
(`corruption_prob`) is put through one camera corruption of `steering.perturb` at a random severity
1-5 (`AugmentConfig.robust()`: the training set `steering.perturb.TRAINING`, never one of `HELD_OUT`);
corruptions leave the label alone too. Only image-space corruptions can be used: the renderer's
weather needs depth, which a recorded frame lacks. Everything is drawn from the caller's
`numpy.random.Generator` (`draw`, before any pixel changes), so a (seed, epoch, index) rng reproduces
a sample exactly. Preprocessing (crop, resize, normalise) happens afterwards in `steering.preprocess`.
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

from steering.perturb import TRAINING, FrameContext, get_perturbation
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
    corruption_prob: float = 0.0  # share of frames put through one of `corruptions`, at a severity 1-5
    corruptions: tuple[str, ...] = ()  # image-space perturbation names (steering.perturb)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if f.name.endswith("_prob") and not 0.0 <= getattr(self, f.name) <= 1.0:
                raise ValueError(f"AugmentConfig.{f.name} must be in [0, 1], got {getattr(self, f.name)}")
        if self.translate_x < 0 or self.translate_y < 0 or self.brightness < 0 or self.contrast < 0:
            raise ValueError("AugmentConfig ranges (translate_x, translate_y, brightness, contrast) must be >= 0")
        if self.corruption_prob > 0 and not self.corruptions:
            raise ValueError("AugmentConfig.corruption_prob > 0 needs corruptions to choose from")
        for name in self.corruptions:
            if get_perturbation(name).needs_scene:  # an unknown name raises PerturbError, with close matches
                raise ValueError(f"AugmentConfig.corruptions: {name} is drawn by the simulator's renderer (it needs "
                                 "depth) and cannot be applied to a recorded frame")

    @classmethod
    def none(cls) -> AugmentConfig:
        """No augmentation (validation, or a baseline run)."""
        return cls(enabled=False)

    @classmethod
    def robust(cls, corruption_prob: float = 0.5, **overrides) -> AugmentConfig:
        """The full augmentation, then a random training-set corruption (`steering.perturb.TRAINING`) at a
        random severity on `corruption_prob` of the frames; the held-out set stays unseen."""
        return cls(corruption_prob=corruption_prob, corruptions=TRAINING, **overrides)


@dataclass(frozen=True)
class AugmentDraw:
    """Every random choice of one sample's augmentation, drawn before any pixel changes."""

    flip: bool
    shift: tuple[float, float] | None  # (dx, dy) px, or None for no translation
    photometric_seed: int
    corruption: tuple[str, int] | None  # (perturbation name, severity 1-5), or None for none
    corruption_seed: int


def draw(config: AugmentConfig, rng: np.random.Generator) -> AugmentDraw:
    """The choices of one sample. Draws a fixed number of values from `rng` whatever the config, so
    changing one probability does not reshuffle the other augmentations of the same sample; the
    corruption's values come last, so configs without corruptions draw what they always drew."""
    draws = rng.random(4)  # flip?, translate?, dx, dy
    photometric_seed = int(rng.integers(0, 2**31 - 1))
    corrupt = rng.random(3)  # corrupt?, which, severity
    corruption_seed = int(rng.integers(0, 2**31 - 1))
    shift = None
    if draws[1] < config.translate_prob and (config.translate_x > 0 or config.translate_y > 0):
        shift = ((2.0 * draws[2] - 1.0) * config.translate_x, (2.0 * draws[3] - 1.0) * config.translate_y)
    corruption = None
    if corrupt[0] < config.corruption_prob and config.corruptions:
        names = config.corruptions
        corruption = (names[min(int(corrupt[1] * len(names)), len(names) - 1)], 1 + min(int(corrupt[2] * 5), 4))
    return AugmentDraw(bool(draws[0] < config.flip_prob), shift, photometric_seed, corruption, corruption_seed)


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

    The choices come from `draw(config, rng)`; geometry first (it changes the label), then the
    photometric parts, then the corruption, as the camera would add it to the scene.
    """
    if not config.enabled:
        return frame_rgb, float(steering)
    choice = draw(config, rng)
    steering = float(steering)
    if choice.flip:
        frame_rgb, steering = flip(frame_rgb, steering)
    if choice.shift is not None:
        frame_rgb, steering = translate(frame_rgb, steering, *choice.shift, config.steering_per_px)
    pipeline = _photometric(config)
    if pipeline is not None:
        pipeline.set_random_seed(choice.photometric_seed)
        frame_rgb = pipeline(image=frame_rgb)["image"]
    if choice.corruption is not None:
        name, severity = choice.corruption
        context = FrameContext(rng=np.random.default_rng(choice.corruption_seed))
        frame_rgb = get_perturbation(name).apply(frame_rgb, severity, context)
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
