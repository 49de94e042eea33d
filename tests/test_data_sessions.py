"""Sessions: one per log, and a new one wherever the frame names' clock jumps (appended recordings)."""
from __future__ import annotations

from datetime import datetime

import pytest

from steering.data import read_logs
from steering.data.synthetic import SyntheticRow, write_log_file, write_recording
from steering.udacity import frame_timestamp

T0 = datetime(2024, 5, 1, 12, 0, 0)


def _rows(n: int, steering: float) -> list[SyntheticRow]:
    return [SyntheticRow(steering)] * n


def test_frame_name_time_parses_to_seconds():
    assert frame_timestamp(r"C:\x\IMG\center_2020_05_09_22_16_55_357.jpg") == pytest.approx(1589062615.357)
    assert frame_timestamp("IMG/center_2020_05_09_22_16_55_488.jpg") - frame_timestamp(
        "IMG/center_2020_05_09_22_16_55_357.jpg") == pytest.approx(0.131, abs=1e-6)
    assert frame_timestamp("IMG/frame_0001.jpg") != frame_timestamp("IMG/frame_0001.jpg")  # NaN


def test_appended_sessions_in_one_log_split_at_the_time_gap(tmp_path):
    first = write_recording(tmp_path, _rows(6, 0.1), first_time=T0)
    # Recording resumed 40 s later and appended to the same driving_log.csv.
    second = write_recording(tmp_path, _rows(4, -0.2), first_time=datetime(2024, 5, 1, 12, 0, 40), seed=1)
    log = read_logs(write_log_file(tmp_path / "driving_log.csv", first + second, newline="\r\n"))
    rows = log.rows
    assert rows["session"].tolist() == [0] * 6 + [1] * 4
    assert rows["frame"].tolist() == [0, 1, 2, 3, 4, 5, 0, 1, 2, 3]
    assert rows.loc[rows["session"] == 1, "steering"].tolist() == [-0.2] * 4
    assert log.report.sessions == 2


def test_clock_going_backwards_starts_a_new_session(tmp_path):
    late = write_recording(tmp_path, _rows(3, 0.0), first_time=datetime(2024, 5, 2, 9, 0, 0))
    early = write_recording(tmp_path, _rows(3, 0.0), first_time=T0, seed=2)
    rows = read_logs(write_log_file(tmp_path / "driving_log.csv", late + early)).rows
    assert rows["session"].tolist() == [0, 0, 0, 1, 1, 1]


def test_session_gap_threshold_is_configurable(tmp_path):
    lines = write_recording(tmp_path, _rows(3, 0.0), first_time=T0, period_s=0.5)
    path = write_log_file(tmp_path / "driving_log.csv", lines)
    assert read_logs(path).rows["session"].tolist() == [0, 0, 0]
    assert read_logs(path, session_gap_s=0.3).rows["session"].tolist() == [0, 1, 2]


def test_several_logs_number_their_sessions_globally(tmp_path):
    a = write_recording(tmp_path / "a", _rows(3, 0.0), first_time=T0)
    a += write_recording(tmp_path / "a", _rows(2, 0.0), first_time=datetime(2024, 5, 1, 13, 0, 0))
    b = write_recording(tmp_path / "b", _rows(2, 0.5), first_time=T0)
    log = read_logs([write_log_file(tmp_path / "a" / "driving_log.csv", a),
                     write_log_file(tmp_path / "b" / "driving_log.csv", b)])
    assert log.rows["session"].tolist() == [0, 0, 0, 1, 1, 2, 2]
    assert log.rows["frame"].tolist() == [0, 1, 2, 0, 1, 0, 1]
    assert log.report.sessions == 3 and log.report.rows_total == 7


def test_session_whose_frames_are_all_missing_leaves_no_hole_in_numbering(tmp_path):
    a = write_recording(tmp_path, _rows(2, 0.0), first_time=T0)
    gone = write_recording(tmp_path / "gone", _rows(2, 0.0), first_time=datetime(2024, 5, 1, 13, 0, 0),
                           path_style="posix-elsewhere")
    c = write_recording(tmp_path, _rows(2, 0.3), first_time=datetime(2024, 5, 1, 14, 0, 0))
    log = read_logs(write_log_file(tmp_path / "driving_log.csv", a + gone + c))
    assert log.rows["session"].tolist() == [0, 0, 1, 1]
    assert log.report.missing_lines == [3, 4] and log.report.sessions == 2
