"""How well does a driver repeat themselves? The bound on any model's score against one driver's labels.

    python -m steering.eval.repeatability ../shared/data/udacity-real/lake-two-laps-mouse --lap-s 83.7

A model is scored offline (`steering.eval.offline`) against a human's steering smoothed over time. How
high can that score go? On a recording of several laps, the same driver's earlier lap is the best model
one could ask for: for each frame of a later lap, take the earlier lap's nearest-looking frame (the
model's crop in grey at 64x24, mean absolute difference, searched within `--window-s` of one lap
earlier, so a straight never matches another straight across the track) and use *its* smoothed
steering as the prediction. Scored with the offline metrics (R², Pearson r, curve agreement against the
smoothed label), this says how much of the smoothed label is the road and how much is the moment: what
bounds an R² or agreement goal on a held-out lap. `--lap-s` is the lap time (seconds; the lap's start
frame matched by eye).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from steering.data.reading import read_logs
from steering.data.smoothing import row_times, smoothed_steering
from steering.eval.cli_args import log_argument
from steering.eval.offline_metrics import CURVE_THRESHOLD, curve_agreement, errors
from steering.preprocess import PreprocessConfig, crop_resize, read_frame
from steering.udacity import LOG_NAME

THUMB = (64, 24)  # width, height: enough to tell places apart, small enough to compare every pair quickly


def thumbnails(paths: Sequence[str], crop: PreprocessConfig | None = None) -> np.ndarray:
    """(N, 24, 64) float32 grey thumbnails of the model's crop of each frame (`preprocess.crop_resize`)."""
    small = dataclasses.replace(crop or PreprocessConfig(), width=THUMB[0], height=THUMB[1], colorspace="rgb")
    out = np.empty((len(paths), THUMB[1], THUMB[0]), np.float32)
    for i, path in enumerate(paths):
        out[i] = cv2.cvtColor(crop_resize(read_frame(path), small), cv2.COLOR_RGB2GRAY)
    return out


def earlier_lap_prediction(times: np.ndarray, smoothed: np.ndarray, thumbs: np.ndarray, lap_s: float,
                           window_s: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """For every frame at least one lap in: the index of the frame and the smoothed steering of the
    nearest-looking frame one lap earlier (within window_s of `time - lap_s`). Returns (indices, predictions)."""
    later = np.flatnonzero(times >= lap_s)
    predictions = np.empty(len(later))
    for k, i in enumerate(later):
        near = np.flatnonzero(np.abs(times - (times[i] - lap_s)) <= window_s)
        if len(near) == 0:
            raise ValueError(f"no frame within {window_s} s of {times[i] - lap_s:.1f} s: is --lap-s right?")
        distance = np.abs(thumbs[near] - thumbs[i]).mean(axis=(1, 2))
        predictions[k] = smoothed[near[int(np.argmin(distance))]]
    return later, predictions


def repeatability(log: Path, lap_s: float, smooth_s: float = 1.0, window_s: float = 4.0,
                  curve_threshold: float = CURVE_THRESHOLD) -> dict[str, float]:
    """R², r and curve agreement of the driver's earlier lap as a model of their later laps (against the label
    smoothed over smooth_s seconds)."""
    rows = read_logs(log).rows
    times, smoothed = row_times(rows), smoothed_steering(rows, smooth_s)
    later, predicted = earlier_lap_prediction(times, smoothed, thumbnails(rows["center"].tolist()), lap_s, window_s)
    target = smoothed[later]
    scores = errors(predicted, target)
    curve = curve_agreement(predicted, target, curve_threshold)
    return {"frames": len(later), "r2": scores["r2"], "pearson_r": scores["pearson_r"], "mse": scores["mse"],
            "mean_baseline_mse": scores["mean_baseline_mse"], "curve_agreement_pct": curve["agreement_pct"],
            "curve_frames": curve["frames"]}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m steering.eval.repeatability", description=__doc__.split("\n\n")[0])
    parser.add_argument("log", type=Path, help=f"a recording of two or more laps ({LOG_NAME} or its folder)")
    parser.add_argument("--lap-s", type=float, required=True, help="lap time in seconds")
    parser.add_argument("--smooth-s", type=float, default=1.0, help="window of the smoothed label (offline's)")
    parser.add_argument("--window-s", type=float, default=4.0, help="search this far around one lap earlier")
    args = parser.parse_args(argv)
    log = log_argument(str(args.log))
    try:
        result = repeatability(log, args.lap_s, args.smooth_s, args.window_s)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{log}: the earlier lap as a model of the {result['frames']} frames after {args.lap_s:g} s: "
          f"R² {result['r2']:.2f}, r {result['pearson_r']:.2f} against the label smoothed over {args.smooth_s:g} s; "
          f"curve agreement {result['curve_agreement_pct']:.1f} % of {result['curve_frames']} curve frames")
    return 0


if __name__ == "__main__":
    sys.exit(main())
