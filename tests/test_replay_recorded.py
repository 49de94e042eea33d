"""`recorded:W`: the recording's own steering as a replay control, raw (on the reference) and smoothed."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from steering.replay.command import ReplayOptions, load_segments, model_label, open_model
from steering.replay.loop import ReplayConfig, replay
from steering.replay.recorded import RecordedSteering
from steering.replay.reference import Segment
from steering.replay.rigs import choose_rig


def _segment(steering: list[float], period_s: float = 0.1) -> Segment:
    n = len(steering)
    times = np.arange(n) * period_s
    return Segment(pd.DataFrame({"line": range(n)}), times, np.full(n, 10.0), np.asarray(steering, float),
                   np.zeros((n, 3)))


def test_recorded_control_repeats_or_averages_the_segments_steering_row_by_row():
    taps = [0.0, 0.0, 0.6, 0.0, 0.0, 0.0]
    raw, smooth = RecordedSteering(0.0), RecordedSteering(0.3)
    raw.start_segment(_segment(taps))
    smooth.start_segment(_segment(taps))
    frame = np.zeros((160, 320, 3), np.uint8)
    assert [raw.predict(frame) for _ in taps] == taps
    # 0.3 s centred window at 0.1 s rows: each row averages itself and its two neighbours
    assert [smooth.predict(frame) for _ in taps] == pytest.approx([0.0, 0.2, 0.2, 0.2, 0.0, 0.0])
    smooth.start_segment(_segment([0.3, 0.3]))  # a new segment starts from its own first row
    assert smooth.predict(frame) == pytest.approx(0.3)


def test_raw_recorded_steering_stays_on_the_reference_and_smoothed_taps_drift_off_it(lake_log):
    options = ReplayOptions(rows=(1492, None))
    segments = load_segments([lake_log], options, choose_rig("unity", [lake_log]))
    camera = choose_rig("unity", [lake_log]).camera
    exact = replay(open_model("recorded:0"), segments, camera, ReplayConfig(progress=False))
    smoothed = replay(open_model("recorded:1"), segments, camera, ReplayConfig(progress=False))
    assert len(exact.interventions) == 0 and max(abs(s.offset_m) for s in exact.steps) < 1e-6
    assert len(smoothed.interventions) > 0, "a mouse driver's taps averaged over 1 s leave the 1 m corridor"
    assert model_label("recorded:1") == "recorded_1"
