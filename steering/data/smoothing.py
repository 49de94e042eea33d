"""Steering over time: each row's time in seconds and a centred moving average over a window in seconds.

A human's steering on a keyboard or mouse is a train of taps (the lake recordings in ../shared are
about 65 % exact zeros inside curves); what the driver means is the average over about a second.
`smooth_over_time` gives that average, per session, so a pause between appended recordings never
mixes two clips. Times come from the frame names (`steering.udacity.frame_timestamp`, read into the
`timestamp` column by `read_logs`); a session whose names hold no time is spaced at the simulator's
record period. Used by offline scoring (`steering.eval.offline`) and by training on smoothed labels.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from steering.udacity import RECORD_PERIOD_S


def row_times(rows: pd.DataFrame) -> np.ndarray:
    """Seconds since the first row for each row of a `read_logs` table, (N,) float64.

    A session with any missing timestamp is spaced at RECORD_PERIOD_S by its `frame` numbers instead,
    starting where the previous session ended (plus one period)."""
    times = rows["timestamp"].to_numpy(np.float64).copy()
    sessions = rows["session"].to_numpy()
    frames = rows["frame"].to_numpy(np.float64)
    origin = float(np.nanmin(times)) if np.isfinite(times).any() else 0.0
    previous_end: float | None = None
    for session in pd.unique(sessions):
        inside = sessions == session
        if np.isnan(times[inside]).any():
            start = origin if previous_end is None else previous_end + RECORD_PERIOD_S
            times[inside] = start + (frames[inside] - frames[inside].min()) * RECORD_PERIOD_S
        previous_end = float(times[inside].max())
    return times - origin


def smooth_over_time(values: np.ndarray, times: np.ndarray, sessions: np.ndarray | None = None,
                     window_s: float = 1.0) -> np.ndarray:
    """Centred moving average: mean of the values of the same session within window_s / 2 of each time.

    `times` in seconds, non-decreasing inside each session; `window_s` <= 0 returns a copy of the values.
    (N,) in, (N,) float64 out.
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    times = np.asarray(times, dtype=np.float64).reshape(-1)
    sessions = np.zeros(len(values), dtype=np.int64) if sessions is None else np.asarray(sessions).reshape(-1)
    if not (len(values) == len(times) == len(sessions)):
        raise ValueError(f"values, times and sessions differ in length: {len(values)}, {len(times)}, {len(sessions)}")
    if window_s <= 0 or len(values) == 0:
        return values.copy()
    half = window_s / 2.0 + 1e-9  # frame names are whole milliseconds: a neighbour exactly at the edge counts
    smoothed = np.empty_like(values)
    for session in pd.unique(sessions):
        index = np.flatnonzero(sessions == session)
        t, v = times[index], values[index]
        if np.any(np.diff(t) < 0):
            raise ValueError(f"times go backwards inside session {session}; sort the rows by time first")
        sums = np.concatenate([[0.0], np.cumsum(v)])  # sums[j] = v[0] + ... + v[j-1]
        low = np.searchsorted(t, t - half, side="left")
        high = np.searchsorted(t, t + half, side="right")
        smoothed[index] = (sums[high] - sums[low]) / (high - low)
    return smoothed


def smoothed_steering(rows: pd.DataFrame, window_s: float = 1.0) -> np.ndarray:
    """The `steering` column of a `read_logs` table, averaged over `window_s` seconds per session."""
    return smooth_over_time(rows["steering"].to_numpy(np.float64), row_times(rows), rows["session"].to_numpy(),
                            window_s)
