"""The driver's earlier lap as a model of the later one: nearest-looking frame one lap back, scored offline."""
from __future__ import annotations

import numpy as np
import pytest

from steering.data.synthetic import SyntheticRow, line_frame, line_steering, write_log_file, write_recording
from steering.eval.repeatability import earlier_lap_prediction, main, repeatability

LAP_ROWS = 45  # 3 s at the simulator's 15 frames/s


def two_laps(folder, second_lap_sign: float):
    """Two laps over the same road (identical frames); the driver steers the second lap with `second_lap_sign`."""
    road = line_steering(LAP_ROWS, seed=3)
    rows = [SyntheticRow(steering=float(s), throttle=0.3, brake=0.0, speed=20.0) for s in road]
    rows += [SyntheticRow(steering=float(second_lap_sign * s), throttle=0.3, brake=0.0, speed=20.0) for s in road]
    frames = {id(row): line_frame(float(road[i % LAP_ROWS])) for i, row in enumerate(rows)}  # the road, not the hands
    lines = write_recording(folder, rows, cameras=("center",), frame=lambda row, seed: frames[id(row)])
    return write_log_file(folder / "driving_log.csv", lines)


def test_a_driver_who_repeats_the_lap_is_predicted_by_their_earlier_lap(tmp_path):
    # raw labels (no smoothing across the lap boundary): the earlier lap predicts every frame exactly
    result = repeatability(two_laps(tmp_path, 1.0), lap_s=3.0, smooth_s=0.0, window_s=1.0)
    assert result["frames"] == LAP_ROWS
    assert result["curve_agreement_pct"] == 100.0 and result["curve_frames"] > 10
    assert result["r2"] == pytest.approx(1.0, abs=1e-4)  # the log rounds steering


def test_a_driver_who_steers_the_other_way_gets_no_agreement(tmp_path):
    result = repeatability(two_laps(tmp_path, -1.0), lap_s=3.0, smooth_s=0.0, window_s=1.0)
    assert result["curve_agreement_pct"] == 0.0 and result["pearson_r"] == pytest.approx(-1.0, abs=1e-4)


def test_the_nearest_looking_frame_is_searched_only_around_one_lap_earlier():
    times = np.arange(8, dtype=float)  # lap of 4 s: frame 4 looks like frame 3, which is 3 s off one lap back
    smoothed = np.array([10.0, 11.0, 12.0, 13.0, 0.0, 0.0, 0.0, 0.0])
    thumbs = np.zeros((8, 24, 64), np.float32)
    thumbs[[3, 4]] = 5.0
    thumbs[0] = 1.0
    later, predicted = earlier_lap_prediction(times, smoothed, thumbs, lap_s=4.0, window_s=0.5)
    assert later.tolist() == [4, 5, 6, 7] and predicted.tolist() == [10.0, 11.0, 12.0, 13.0]
    _, wide = earlier_lap_prediction(times, smoothed, thumbs, lap_s=4.0, window_s=3.0)
    assert wide[0] == 13.0  # with a wider search the look-alike frame 3 wins
    with pytest.raises(ValueError, match="--lap-s"):
        earlier_lap_prediction(times, smoothed, thumbs, lap_s=4.0, window_s=-1)


def test_cli_prints_the_bound(tmp_path, capsys):
    two_laps(tmp_path, 1.0)
    assert main([str(tmp_path), "--lap-s", "3", "--window-s", "1", "--smooth-s", "0"]) == 0
    assert "curve agreement 100.0 %" in capsys.readouterr().out
    assert main([str(tmp_path / "nope.csv"), "--lap-s", "3"]) == 1
