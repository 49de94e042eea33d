"""PNG plots of one model's steering on one recording, beside the human's (`steering.eval.offline`).

- `plot_steering_over_time`: top, the human's steering as recorded (thin grey) and smoothed (black),
  the model's as predicted (thin blue) and smoothed the same way (blue), the gap between the two
  smoothed curves shaded as the error band, the curve threshold dotted; bottom, |prediction - smoothed
  human| per frame and smoothed. Lines break between sessions (pauses in the recording).
- `plot_scatter`: prediction against the smoothed human steering, curve frames coloured by whether
  the signs agree, the identity line and the curve threshold.

matplotlib with the Agg backend; the numbers come from `steering.eval.offline_metrics`.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
import numpy as np  # noqa: E402

from steering.data.smoothing import smooth_over_time  # noqa: E402
from steering.eval.offline_metrics import CURVE_THRESHOLD, curve_agreement, pearson  # noqa: E402


def _broken(times: np.ndarray, sessions: np.ndarray, *series: np.ndarray) -> list[np.ndarray]:
    """The arrays with a NaN inserted at every session change, so plotted lines do not bridge pauses."""
    cut = np.flatnonzero(np.diff(sessions) != 0) + 1
    return [np.insert(np.asarray(s, dtype=np.float64), cut, np.nan) for s in (times, *series)]


def plot_steering_over_time(times: np.ndarray, sessions: np.ndarray, label: np.ndarray, predicted: np.ndarray,
                            path: Path, smooth_s: float = 1.0, title: str = "",
                            curve_threshold: float = CURVE_THRESHOLD) -> Path:
    """Predicted vs human steering over time (raw and smoothed over `smooth_s`), error band, |error| below."""
    human_smooth = smooth_over_time(label, times, sessions, smooth_s)
    model_smooth = smooth_over_time(predicted, times, sessions, smooth_s)
    error = np.abs(predicted - human_smooth)
    t, raw, hs, pr, ms, err, err_smooth = _broken(times, sessions, label, human_smooth, predicted, model_smooth,
                                                  error, smooth_over_time(error, times, sessions, smooth_s))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(14, 6.5), dpi=100, sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1]})
    top.plot(t, raw, color="0.6", lw=0.6, label="human (recorded)")
    top.plot(t, pr, color="tab:blue", lw=0.6, alpha=0.45, label="model (per frame)")
    top.fill_between(t, hs, ms, color="tab:red", alpha=0.25, lw=0, label="error band (smoothed)")
    top.plot(t, hs, color="black", lw=1.5, label=f"human, {smooth_s:g} s mean")
    top.plot(t, ms, color="tab:blue", lw=1.5, label=f"model, {smooth_s:g} s mean")
    for level in (-curve_threshold, curve_threshold):
        top.axhline(level, color="0.4", lw=0.6, ls=":")
    top.axhline(0.0, color="0.4", lw=0.6)
    top.set_ylabel("steering (-1 left .. 1 right)")
    top.legend(loc="upper right", fontsize=8, ncol=3)
    top.set_title(title)
    bottom.plot(t, err, color="tab:red", lw=0.5, alpha=0.5)
    bottom.plot(t, err_smooth, color="tab:red", lw=1.2)
    bottom.set_ylabel("|model - human mean|")
    bottom.set_xlabel("time (s)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_scatter(predicted: np.ndarray, smoothed: np.ndarray, path: Path,
                 curve_threshold: float = CURVE_THRESHOLD, title: str = "") -> Path:
    """Prediction vs smoothed human steering; curve frames green where the signs agree, red where not."""
    predicted, smoothed = np.asarray(predicted, np.float64), np.asarray(smoothed, np.float64)
    curve = np.abs(smoothed) > curve_threshold
    agree = np.sign(predicted) == np.sign(smoothed)
    fig, ax = plt.subplots(figsize=(6, 6), dpi=100)
    ax.scatter(smoothed[~curve], predicted[~curve], s=5, color="0.6", alpha=0.5, label="straight (not scored)")
    ax.scatter(smoothed[curve & agree], predicted[curve & agree], s=5, color="tab:green", alpha=0.6,
               label="curve, same sign")
    ax.scatter(smoothed[curve & ~agree], predicted[curve & ~agree], s=5, color="tab:red", alpha=0.8,
               label="curve, wrong sign")
    low = float(min(smoothed.min(), predicted.min(), -0.2))
    high = float(max(smoothed.max(), predicted.max(), 0.2))
    ax.plot([low, high], [low, high], color="black", lw=0.8)
    for level in (-curve_threshold, curve_threshold):
        ax.axvline(level, color="0.4", lw=0.6, ls=":")
    ax.axhline(0.0, color="0.4", lw=0.6)
    ax.axvline(0.0, color="0.4", lw=0.6)
    ax.set_xlim(low, high)
    ax.set_ylim(low, high)
    ax.set_aspect("equal")
    curve_stats = curve_agreement(predicted, smoothed, curve_threshold)
    ax.set_xlabel("human steering, smoothed")
    ax.set_ylabel("model steering")
    ax.set_title(f"{title}\nr = {pearson(predicted, smoothed):.2f}, curve agreement "
                 f"{curve_stats['agreement_pct']:.1f} % of {curve_stats['frames']}", fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
