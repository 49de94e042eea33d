"""Steering-direction confusion matrix and error per magnitude bin: the study's validation analysis and the
offline scores of recorded logs (`steering.eval.offline`) use the same definitions.

Regression metrics (MSE, MAE, RMSE, R²) average over a log that is mostly straight driving, so a
model that never turns can look good. Two views that show turning, as the seeds' confusion-matrix
analysis asks:

- direction classes: left (steering < -band), straight (|steering| <= band), right (> band), with
  the simulator's sign (negative steers left); a 3x3 matrix of true vs predicted class and per-class
  precision, recall and F1;
- MAE per |steering| bin: where the error sits (straight, gentle, sharp turns).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CLASSES = ("left", "straight", "right")
STRAIGHT_BAND = 0.05  # |steering| <= 0.05 (1.25 degrees of the 25 degree lock) counts as straight
MAGNITUDE_BINS = (0.0, 0.05, 0.15, 0.3, float("inf"))  # |steering| bin edges


def direction(steering: np.ndarray, band: float = STRAIGHT_BAND) -> np.ndarray:
    """0 = left, 1 = straight, 2 = right for each steering value."""
    steering = np.asarray(steering, dtype=np.float64).reshape(-1)
    return np.where(steering < -band, 0, np.where(steering > band, 2, 1))


def confusion(predicted: np.ndarray, target: np.ndarray, band: float = STRAIGHT_BAND) -> np.ndarray:
    """3x3 counts: rows = true class, columns = predicted class (left, straight, right)."""
    predicted, target = paired(predicted, target)
    matrix = np.zeros((3, 3), dtype=np.int64)
    np.add.at(matrix, (direction(target, band), direction(predicted, band)), 1)
    return matrix


def per_class(matrix: np.ndarray) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support per class of a confusion matrix (0 where a class is never predicted)."""
    scores = {}
    for i, name in enumerate(CLASSES):
        true_positive = float(matrix[i, i])
        predicted_as, actual = float(matrix[:, i].sum()), float(matrix[i, :].sum())
        precision = true_positive / predicted_as if predicted_as else 0.0
        recall = true_positive / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores[name] = {"precision": precision, "recall": recall, "f1": f1, "support": int(actual)}
    return scores


def mae_by_bin(predicted: np.ndarray, target: np.ndarray,
               edges: Sequence[float] = MAGNITUDE_BINS) -> list[dict[str, float]]:
    """MAE of the frames whose true |steering| falls in each bin [low, high); NaN for an empty bin."""
    predicted, target = paired(predicted, target)
    magnitude, error = np.abs(target), np.abs(predicted - target)
    bins = []
    for low, high in zip(edges, edges[1:], strict=False):
        inside = (magnitude >= low) & (magnitude < high)
        bins.append({"low": float(low), "high": float(high), "count": int(inside.sum()),
                     "mae": float(error[inside].mean()) if inside.any() else float("nan")})
    return bins


def bin_label(low: float, high: float) -> str:
    return f">= {low:g}" if high == float("inf") else f"{low:g}-{high:g}"


def paired(predicted: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both as flat float64 arrays; ValueError unless equally long and non-empty."""
    predicted = np.asarray(predicted, dtype=np.float64).reshape(-1)
    target = np.asarray(target, dtype=np.float64).reshape(-1)
    if predicted.shape != target.shape or predicted.size == 0:
        raise ValueError(f"need equally long non-empty arrays, got {predicted.shape} and {target.shape}")
    return predicted, target
