"""Validation metrics for steering regression, and the constant-mean baseline every model must beat.

The baseline predicts the training set's mean steering for every frame. On a track that is mostly
straight that alone gets a small MSE, so a model's numbers mean little without it next to them.
"""
from __future__ import annotations

import math

import numpy as np

METRIC_NAMES = ("mse", "mae", "rmse", "r2")


def regression_metrics(predicted: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """MSE, MAE, RMSE and R² of `predicted` against `target` (1-D, steering units)."""
    predicted = np.asarray(predicted, dtype=np.float64).reshape(-1)
    target = np.asarray(target, dtype=np.float64).reshape(-1)
    if predicted.shape != target.shape or predicted.size == 0:
        raise ValueError(f"need equally long non-empty arrays, got {predicted.shape} and {target.shape}")
    error = predicted - target
    mse = float(np.mean(error**2))
    variance = float(np.mean((target - target.mean()) ** 2))
    # R² is undefined for a constant target; report 0 (no better than its mean) rather than inf/NaN.
    r2 = 1.0 - mse / variance if variance > 0 else 0.0
    return {"mse": mse, "mae": float(np.mean(np.abs(error))), "rmse": math.sqrt(mse), "r2": r2}


def baseline_metrics(train_mean: float, target: np.ndarray) -> dict[str, float]:
    """Metrics of always predicting `train_mean` (the training steering mean) on `target`."""
    target = np.asarray(target, dtype=np.float64).reshape(-1)
    return regression_metrics(np.full_like(target, float(train_mean)), target)


def summary_table(model_metrics: dict[str, float], baseline: dict[str, float]) -> str:
    """A plain-text table: one row per metric, model vs constant-mean baseline."""
    lines = [f"{'metric':<8}{'model':>12}{'mean baseline':>16}", "-" * 36]
    for name in METRIC_NAMES:
        lines.append(f"{name.upper() if name != 'r2' else 'R²':<8}{model_metrics[name]:>12.5f}{baseline[name]:>16.5f}")
    return "\n".join(lines)
