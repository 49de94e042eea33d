"""data_tools merge, clean, stats and balance: on the shared real logs and on recordings with known answers."""
from __future__ import annotations

import csv
import json
import shutil
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from data_tools import balance as balance_tool
from data_tools import clean, merge, stats
from steering.data import read_logs
from steering.data.sampling import steering_bins
from steering.data.synthetic import SyntheticRow, write_log_file, write_recording


def recording(folder: Path, rows: list[SyntheticRow], start: datetime, seed: int = 0, **kwargs) -> Path:
    """A simulator-style recording folder (IMG/ + driving_log.csv); returns the csv path."""
    lines = write_recording(folder, rows, first_time=start, seed=seed, **kwargs)
    return write_log_file(folder / "driving_log.csv", lines)


def steady(n: int, steering: float = 0.1, speed: float = 20.0) -> list[SyntheticRow]:
    return [SyntheticRow(steering=steering, speed=speed) for _ in range(n)]


# ---------------------------------------------------------------------------------------------- merge


def test_merge_of_two_sessions_sums_rows_and_keeps_sessions_distinct(tmp_path):
    a = recording(tmp_path / "lap1", steady(10, 0.1), datetime(2024, 5, 1, 12, 0, 0), seed=1)
    b = recording(tmp_path / "lap2", steady(7, -0.2), datetime(2024, 5, 1, 13, 0, 0), seed=2, path_style="windows")
    out = tmp_path / "all"
    assert merge.main([str(a.parent), str(b), "--out", str(out)]) == 0
    text = (out / "driving_log.csv").read_text().splitlines()
    assert len(text) == 17
    assert all(line.startswith("IMG/center_") for line in text), "paths are rewritten to the merged IMG/"
    assert len(list((out / "IMG").iterdir())) == 17 * 3
    # The merged folder stands alone: moved elsewhere, every frame still resolves.
    moved = shutil.move(str(out), str(tmp_path / "moved"))
    merged = read_logs(Path(moved) / "driving_log.csv")
    assert merged.report.missing_image_rows == 0 and merged.report.missing_side_images == 0
    assert len(merged.rows) == 17
    assert merged.rows.groupby("session")["steering"].agg(["size", "first"]).values.tolist() == [[10, 0.1], [7, -0.2]]


def test_merge_drops_a_recording_given_twice(tmp_path, capsys):
    a = recording(tmp_path / "lap1", steady(10), datetime(2024, 5, 1, 12, 0, 0))
    assert merge.main([str(a), str(a), "--out", str(tmp_path / "all"), "--copy"]) == 0
    assert len((tmp_path / "all" / "driving_log.csv").read_text().splitlines()) == 10
    assert "10 duplicates" in capsys.readouterr().out


def test_merge_keeps_different_frames_that_share_a_name(tmp_path):
    # Two recordings started in the same millisecond (different pictures): both kept, renamed apart.
    start = datetime(2024, 5, 1, 12, 0, 0)
    a = recording(tmp_path / "a", steady(3, 0.1), start, seed=1)
    b = recording(tmp_path / "b", steady(3, 0.3), start, seed=2)
    assert merge.main([str(a), str(b), "--out", str(tmp_path / "all")]) == 0
    merged = read_logs(tmp_path / "all" / "driving_log.csv").rows
    assert len(merged) == 6 and merged["center"].nunique() == 6
    assert sorted(merged["steering"].tolist()) == [0.1] * 3 + [0.3] * 3


def test_merge_real_logs_keeps_only_rows_with_frames(windows_log, macos_log, tmp_path):
    assert merge.main([str(windows_log.parent), str(macos_log), "--out", str(tmp_path / "real")]) == 0
    merged = read_logs(tmp_path / "real" / "driving_log.csv")
    assert len(merged.rows) == 250 + 98
    assert merged.report.missing_image_rows == 0
    assert merged.rows["session"].nunique() == 2


def test_merge_refuses_to_overwrite_a_dataset(tmp_path, capsys):
    a = recording(tmp_path / "lap1", steady(3), datetime(2024, 5, 1, 12))
    assert merge.main([str(a), "--out", str(tmp_path / "all")]) == 0
    assert merge.main([str(a), "--out", str(tmp_path / "all")]) == 2
    assert "exists" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- clean


def test_clean_drops_exactly_the_planted_bad_rows_and_says_why(tmp_path, capsys):
    rows = steady(12)
    rows[7] = SyntheticRow(steering=0.1, speed=0.0)  # line 8: the car stands still
    log_file = recording(tmp_path / "lap", rows, datetime(2024, 5, 1, 12, 0, 0))
    lines = log_file.read_text().splitlines()
    Path(lines[3].split(",")[0]).unlink()  # line 4: center frame missing
    Path(lines[5].split(",")[0]).write_bytes(b"\xff\xd8\xff\xe0 truncated")  # line 6: corrupt JPEG
    out, report = tmp_path / "clean.csv", tmp_path / "dropped.csv"
    assert clean.main([str(log_file), "--out", str(out), "--report", str(report), "--no-progress"]) == 0

    kept = read_logs(out).rows
    kept_names = {Path(p).name for p in kept["center"]}
    expected = {Path(lines[i].split(",")[0]).name for i in range(12) if i not in (3, 5, 7)}
    assert kept_names == expected
    with open(report, newline="") as handle:
        dropped = {int(r["line"]): r["reason"] for r in csv.DictReader(handle)}
    assert dropped == {6: "center image corrupt", 8: "stopped (speed < 0.5 mph)"}
    printed = capsys.readouterr().out
    assert "kept 9 of 12 rows" in printed
    assert "center image missing (lines 4)" in printed


def test_clean_trims_session_starts_and_ends_by_time(tmp_path):
    # 30 rows at 15 Hz = 1.93 s per session, two sessions an hour apart.
    a = recording(tmp_path / "a", steady(30), datetime(2024, 5, 1, 12, 0, 0))
    b = recording(tmp_path / "b", steady(30), datetime(2024, 5, 1, 13, 0, 0), seed=1)
    out = tmp_path / "clean.csv"
    assert clean.main([str(a), str(b), "--out", str(out), "--trim-start", "0.5", "--trim-end", "0.2",
                       "--no-progress"]) == 0
    # Per session: frames at k/15 s, k=0..29. Start drops k/15 < 0.5 (k<=7, 8 rows);
    # end drops (29-k)/15 < 0.2 (k>=27, 3 rows). 30 - 11 = 19 per session.
    assert len(read_logs(out).rows) == 2 * 19


def test_clean_real_macos_log_drops_missing_frames_and_slow_start(macos_log, tmp_path, capsys):
    out = tmp_path / "clean"
    assert clean.main([str(macos_log.parent), "--out", str(out), "--min-speed", "1.3", "--no-progress"]) == 0
    kept = read_logs(out / "driving_log.csv").rows
    original = read_logs(macos_log).rows
    slow = int((original["speed"] < 1.3).sum())
    assert slow > 0
    assert len(kept) == 98 - slow
    assert "52  center image missing" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------- stats


def png_size(path: Path) -> tuple[int, int]:
    image = cv2.imread(str(path))
    assert image is not None, f"{path} is not a readable PNG"
    return image.shape[1], image.shape[0]


def test_stats_counts_and_plots_for_a_known_recording(tmp_path):
    values = [0.0] * 6 + [0.5, 0.5] + [-0.5, -0.5]
    log_file = recording(tmp_path / "lap", [SyntheticRow(steering=v, speed=10.0 + i) for i, v in enumerate(values)],
                         datetime(2024, 5, 1, 12, 0, 0))
    out = tmp_path / "report"
    assert stats.main([str(log_file), "--out", str(out), "--bins", "4", "--cap", "1.0"]) == 0
    result = json.loads((out / "stats.json").read_text())
    assert result["rows_kept"] == 10 and result["sessions"] == 1
    assert result["straight_fraction"] == pytest.approx(0.6)
    assert result["left_fraction"] == pytest.approx(0.2) and result["right_fraction"] == pytest.approx(0.2)
    assert result["steering"]["mean"] == pytest.approx(0.0)
    assert result["speed"]["min"] == 10.0 and result["speed"]["max"] == 19.0
    assert result["duration_s"] == pytest.approx(9 / 15, abs=0.002)  # frame names carry milliseconds
    # Bins of width 0.5 over [-1, 1]: -0.5 -> bin 1, 0.0 and 0.5 -> bins 2 and 3.
    assert result["histogram"]["counts"] == [0, 2, 6, 2]
    # cap 1.0 x mean non-empty bin (10/3 -> 4): the straight bin is cut to 4.
    assert result["histogram"]["counts_balanced"] == [0, 2, 4, 2]
    for name in ("steering_histogram.png", "timeseries.png"):
        width, height = png_size(out / name)
        assert width >= 600 and height >= 300, name


def test_stats_on_real_logs(windows_log, macos_log, tmp_path):
    out = tmp_path / "report"
    assert stats.main([str(windows_log), str(macos_log), "--out", str(out)]) == 0
    result = json.loads((out / "stats.json").read_text())
    assert result["rows_total"] == 400 and result["rows_kept"] == 250 + 98
    assert result["missing_center_rows"] == 52
    assert result["sessions"] == 2 and sorted(result["rows_per_session"].values()) == [98, 250]
    assert sum(result["histogram"]["counts"]) == 348
    assert (out / "timeseries.png").stat().st_size > 10_000


# ---------------------------------------------------------------------------------------------- balance


def test_balance_writes_a_log_whose_histogram_obeys_the_cap(tmp_path):
    values = [0.0] * 40 + [0.5] * 5 + [-0.9] * 3
    log_file = recording(tmp_path / "lap", [SyntheticRow(steering=v) for v in values], datetime(2024, 5, 1, 12))
    out = tmp_path / "balanced"
    assert balance_tool.main([str(log_file), "--out", str(out), "--cap", "10", "--bins", "25"]) == 0
    balanced = read_logs(out / "driving_log.csv").rows
    assert len(balanced) == 10 + 5 + 3
    counts = np.bincount(steering_bins(balanced["steering"].to_numpy(), 25), minlength=25)
    assert counts.max() == 10
    assert (out / "driving_log_histogram.png").is_file()


def test_balance_real_log_with_relative_cap(windows_log, tmp_path):
    out = tmp_path / "balanced.csv"
    assert balance_tool.main([str(windows_log), "--out", str(out), "--cap", "20", "--seed", "3"]) == 0
    balanced = read_logs(out).rows
    original = read_logs(windows_log).rows
    counts_before = np.bincount(steering_bins(original["steering"].to_numpy(), 25), minlength=25)
    counts_after = np.bincount(steering_bins(balanced["steering"].to_numpy(), 25), minlength=25)
    assert counts_after.max() <= 20
    assert np.array_equal(counts_after, np.minimum(counts_before, 20)), "bins under the cap keep every row"
    assert balanced["center"].isin(set(original["center"])).all()
