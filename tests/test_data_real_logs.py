"""The reader on the two real simulator recordings in ../shared (used as they are)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from steering.data import read_logs
from steering.preprocess import read_frame


def test_windows_log_reads_all_250_rows_with_resolved_paths(windows_log):
    log = read_logs(windows_log)
    rows = log.rows
    assert len(rows) == 250
    assert log.report.rows_total == 250 and log.report.rows_kept == 250
    assert log.report.missing_image_rows == 0 and log.report.comma_decimal_rows == 0
    img_dir = windows_log.parent.resolve() / "IMG"
    for camera in ("center", "left", "right"):
        paths = [Path(p) for p in rows[camera]]
        assert all(p.is_absolute() and p.is_file() and p.parent == img_dir for p in paths), camera
        assert all(p.name.startswith(camera + "_") for p in paths), f"{camera} column points at another camera"
    # The first row as written: ...\center_2020_05_09_22_16_55_357.jpg, 0, 1, 0, 30.1903
    assert Path(rows["center"][0]).name == "center_2020_05_09_22_16_55_357.jpg"
    assert (rows.loc[0, ["steering", "throttle", "brake", "speed"]].tolist()) == [0.0, 1.0, 0.0, 30.1903]


def test_windows_log_steering_stats_and_e_notation(windows_log):
    rows = read_logs(windows_log).rows
    assert rows["steering"].min() == -1.0 and rows["steering"].max() == 1.0
    assert rows["steering"].dtype == np.float64
    assert abs(rows["steering"].mean() - 0.0921) < 1e-3
    assert round((rows["steering"].abs() < 0.01).mean(), 3) == 0.588
    # Speeds near standstill are written in E-notation (e.g. 7.843922E-05) and must not be lost.
    assert rows["speed"].min() < 0.01 and rows["speed"].max() < 30.5


def test_windows_log_is_one_session_in_time_order(windows_log):
    rows = read_logs(windows_log).rows
    assert rows["session"].unique().tolist() == [0]
    assert rows["frame"].tolist() == list(range(250))
    assert rows["line"].tolist() == list(range(1, 251))
    gaps = np.diff(rows["timestamp"].to_numpy())
    assert (gaps > 0.05).all() and (gaps < 0.2).all()
    assert rows["source"].unique().tolist() == [str(windows_log)]


def test_windows_log_frame_decodes_to_160x320x3(windows_log):
    rows = read_logs(windows_log).rows
    frame = read_frame(rows["center"][0])
    assert frame.shape == (160, 320, 3) and frame.dtype == np.uint8


def test_macos_log_skips_and_reports_missing_center_images(macos_log):
    log = read_logs(macos_log)
    assert len(log.rows) == 98
    report = log.report
    assert (report.rows_total, report.rows_kept, report.missing_image_rows) == (150, 98, 52)
    # SOURCE.md: rows 95 and 100-150 have no image at all.
    assert report.missing_lines[:3] == [95, 100, 101]
    assert 95 not in log.rows["line"].tolist() and 94 in log.rows["line"].tolist()
    assert (log.rows["left"] == "").all() and (log.rows["right"] == "").all()
    assert report.missing_side_images == 196
    assert "98 of 150 rows kept" in report.summary() and "52 rows skipped" in report.summary()


def test_macos_log_keeps_true_frame_positions_after_dropping_rows(macos_log):
    rows = read_logs(macos_log).rows
    # Line 96 follows the missing line 95: its frame index still counts the dropped row.
    assert rows.loc[rows["line"] == 96, "frame"].item() == 95
    assert rows["steering"].min() == -0.9021564 and rows["steering"].max() == 0.0


def test_two_real_logs_read_together_number_sessions_globally(windows_log, macos_log):
    log = read_logs([windows_log, macos_log])
    rows = log.rows
    assert len(rows) == 348 and log.report.sessions == 2
    assert rows.loc[rows["source"] == str(windows_log), "session"].unique().tolist() == [0]
    assert rows.loc[rows["source"] == str(macos_log), "session"].unique().tolist() == [1]
