"""Steering smoothed over time: centred window in seconds, per session, times from the frame names."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from steering.data.smoothing import row_times, smooth_over_time, smoothed_steering
from steering.udacity import RECORD_PERIOD_S


def test_centred_mean_takes_neighbours_within_half_the_window():
    values = [0.0, 0.3, 0.6, 0.0]
    times = [0.0, 0.1, 0.2, 0.5]
    # window 0.25 s: each frame and the frames within 0.125 s of it
    expected = [(0.0 + 0.3) / 2, (0.0 + 0.3 + 0.6) / 3, (0.3 + 0.6) / 2, 0.0]
    np.testing.assert_allclose(smooth_over_time(values, times, window_s=0.25), expected)


def test_smoothing_never_mixes_two_sessions():
    values = [1.0, 1.0, -1.0, -1.0]
    times = [0.0, 0.1, 0.2, 0.3]  # close in time, but the recording was restarted between them
    smoothed = smooth_over_time(values, times, sessions=[0, 0, 1, 1], window_s=10.0)
    assert smoothed.tolist() == [1.0, 1.0, -1.0, -1.0]


def test_zero_window_returns_the_values_unchanged():
    assert smooth_over_time([0.2, -0.4], [0.0, 0.1], window_s=0.0).tolist() == [0.2, -0.4]


def test_times_going_backwards_are_an_error():
    with pytest.raises(ValueError, match="backwards"):
        smooth_over_time([0.0, 1.0], [0.5, 0.1], window_s=1.0)


def test_row_times_come_from_the_names_and_fall_back_to_the_record_period():
    rows = pd.DataFrame({
        "timestamp": [100.0, 100.1, 100.25, math.nan, math.nan],
        "session": [0, 0, 0, 1, 1],
        "frame": [0, 1, 2, 0, 1],
        "steering": [0.0, 0.3, 0.6, 0.9, 0.9],
    })
    times = row_times(rows)
    # session 1 has no times in its names: one record period after session 0 ends, then one per frame
    np.testing.assert_allclose(times, [0.0, 0.1, 0.25, 0.25 + RECORD_PERIOD_S, 0.25 + 2 * RECORD_PERIOD_S])
    # window 0.2 s: 0.0 and 0.1 are neighbours, 0.25 is alone (0.15 s from 0.1)
    np.testing.assert_allclose(smoothed_steering(rows, window_s=0.2), [0.15, 0.15, 0.6, 0.9, 0.9])
