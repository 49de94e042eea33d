"""The run folder's PNG plots: loss curves, validation predictions vs truth, steering histograms."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never open a window (training runs headless, often over ssh)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_loss_curve(history: list[dict[str, Any]], path: Path) -> Path:
    """Train and validation loss per epoch, log scale, with phase changes marked."""
    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(epochs, [h["train_loss"] for h in history], marker="o", label="train")
    ax.plot(epochs, [h["val_loss"] for h in history], marker="o", label="validation")
    if history:
        ax.axhline(history[-1]["baseline_mse"], color="grey", linestyle="--", label="mean baseline (val MSE)")
    for previous, current in zip(history, history[1:], strict=False):
        if current["phase"] != previous["phase"]:
            ax.axvline(current["epoch"] - 0.5, color="black", alpha=0.3)
            ax.text(current["epoch"] - 0.45, ax.get_ylim()[1], current["phase"], fontsize=7, va="top")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if all(h["train_loss"] > 0 and h["val_loss"] > 0 for h in history):
        ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_predictions(predicted: np.ndarray, target: np.ndarray, path: Path) -> Path:
    """Scatter of validation predictions against the recorded steering, with the ideal diagonal."""
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(target, predicted, s=6, alpha=0.5)
    low = float(min(np.min(target), np.min(predicted), -0.1))
    high = float(max(np.max(target), np.max(predicted), 0.1))
    ax.plot([low, high], [low, high], color="black", linewidth=1, label="ideal")
    ax.set_xlabel("recorded steering")
    ax.set_ylabel("predicted steering")
    ax.set_title("validation: predicted vs recorded")
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_steering_histograms(
    train: np.ndarray, val: np.ndarray, predicted: np.ndarray, path: Path, bins: int = 41
) -> Path:
    """Steering distributions of the training set, the validation set and the validation predictions."""
    fig, ax = plt.subplots(figsize=(7, 4))
    edges = np.linspace(-1.0, 1.0, bins + 1)
    for values, label in ((train, "train"), (val, "validation"), (predicted, "predicted (val)")):
        ax.hist(np.clip(values, -1, 1), bins=edges, histtype="step", density=True, linewidth=1.5, label=label)
    ax.set_xlabel("steering (-1 left … 1 right)")
    ax.set_ylabel("density")
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, path)


def _save(fig: plt.Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
