"""Open-loop metrics of predicted vs human steering on one recording (pure functions of arrays).

Human labels are noisy: keyboard and mouse drivers tap, so the raw label is mostly zeros with
spikes even inside a curve. Every error is therefore given twice, against the raw label and against
the label smoothed over time (`steering.data.smoothing`), each beside two baselines a model must
beat: the constant mean of that label (its MSE is the label's variance, so R² = 1 - MSE / it) and
constant zero (driving straight). What tells a steering model from a constant:

- Pearson r between prediction and smoothed label (scale-free: does it turn when the human does);
- curve-direction agreement: of the frames where the smoothed |label| > `curve_threshold`, the share
  where the prediction has the human's sign (a prediction of exactly 0 does not agree);
- the left/straight/right confusion matrix and the error per |steering| bin, both from the study's
  `steering.eval.metrics`, here against the smoothed label;
- MAE per speed bin (does the error grow with speed).

The predictions themselves come from `steering.eval.offline`.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from steering.eval.metrics import STRAIGHT_BAND, confusion, mae_by_bin, paired, per_class
from steering.udacity import TOP_SPEED_MPH

CURVE_THRESHOLD = 0.08  # smoothed |steering| above this (2 degrees of the 25-degree lock) is a curve
SPEED_STEP_MPH = 5.0
SPEED_BINS = (*np.arange(0.0, TOP_SPEED_MPH + SPEED_STEP_MPH / 2, SPEED_STEP_MPH).tolist(), float("inf"))


@dataclass(frozen=True)
class MetricsConfig:
    """How offline predictions are scored."""

    curve_threshold: float = CURVE_THRESHOLD
    straight_band: float = STRAIGHT_BAND  # the confusion matrix's straight class: |steering| <= band
    speed_bins: tuple[float, ...] = SPEED_BINS  # mph bin edges for the error-vs-speed table


def errors(predicted: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """MSE and MAE of the prediction and of the mean and zero baselines, R² and Pearson r, against `target`.

    R² is NaN for a constant target; r is NaN when either side is constant."""
    predicted, target = paired(predicted, target)
    mean = float(target.mean())
    variance = float(np.mean((target - mean) ** 2))
    mse = float(np.mean((predicted - target) ** 2))
    return {
        "mse": mse,
        "mae": float(np.mean(np.abs(predicted - target))),
        "mean_baseline_mse": variance,
        "mean_baseline_mae": float(np.mean(np.abs(target - mean))),
        "zero_mse": float(np.mean(target ** 2)),
        "zero_mae": float(np.mean(np.abs(target))),
        "r2": 1.0 - mse / variance if variance > 0 else math.nan,
        "pearson_r": pearson(predicted, target),
    }


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation; NaN when either array is constant."""
    a, b = paired(a, b)
    a, b = a - a.mean(), b - b.mean()
    norm = math.sqrt(float(np.sum(a * a)) * float(np.sum(b * b)))
    return float(np.sum(a * b)) / norm if norm > 0 else math.nan


def curve_agreement(predicted: np.ndarray, smoothed: np.ndarray, threshold: float = CURVE_THRESHOLD) -> dict[str, Any]:
    """Frames with smoothed |label| > threshold, how many the prediction's sign agrees on, and the share in %."""
    predicted, smoothed = paired(predicted, smoothed)
    curve = np.abs(smoothed) > threshold
    agree = int(np.sum(np.sign(predicted[curve]) == np.sign(smoothed[curve])))
    frames = int(curve.sum())
    return {"threshold": float(threshold), "frames": frames, "agree": agree,
            "agreement_pct": 100.0 * agree / frames if frames else math.nan}


def mae_by_speed(predicted: np.ndarray, target: np.ndarray, speed_mph: np.ndarray,
                 edges: Sequence[float] = SPEED_BINS) -> list[dict[str, float]]:
    """Frames, MAE and MSE per speed bin [low, high) in mph; NaN errors for an empty bin."""
    predicted, target = paired(predicted, target)
    speed = np.asarray(speed_mph, dtype=np.float64).reshape(-1)
    if speed.shape != target.shape:
        raise ValueError(f"speed has {speed.size} values for {target.size} frames")
    error = predicted - target
    bins = []
    for low, high in zip(edges, edges[1:], strict=False):
        inside = (speed >= low) & (speed < high)
        bins.append({"low": float(low), "high": float(high), "count": int(inside.sum()),
                     "mae": float(np.abs(error[inside]).mean()) if inside.any() else math.nan,
                     "mse": float((error[inside] ** 2).mean()) if inside.any() else math.nan})
    return bins


def score(predicted: np.ndarray, label: np.ndarray, smoothed: np.ndarray, speed_mph: np.ndarray,
          config: MetricsConfig | None = None) -> dict[str, Any]:
    """Every offline metric of one model on one recording, as a JSON-ready dict (NaN where undefined)."""
    config = config or MetricsConfig()
    matrix = confusion(predicted, smoothed, config.straight_band)
    return {
        "frames": int(np.asarray(label).size),
        "raw": errors(predicted, label),
        "smoothed": errors(predicted, smoothed),
        "curve": curve_agreement(predicted, smoothed, config.curve_threshold),
        "confusion": {"band": config.straight_band, "matrix": matrix.tolist(), "per_class": per_class(matrix)},
        "mae_by_bin": mae_by_bin(predicted, smoothed),
        "by_speed": mae_by_speed(predicted, smoothed, speed_mph, config.speed_bins),
    }
