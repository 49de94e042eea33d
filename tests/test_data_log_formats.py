"""Log layouts people actually have: header or not, path styles, E-notation, CRLF, BOM, ..."""
from __future__ import annotations

from pathlib import Path

import pytest

from steering.data import read_logs
from steering.data.synthetic import SyntheticRow, write_log_file, write_recording

STEERING = [0.0, -0.25, 0.5, 1.0, -1.0]


def _recording(tmp_path: Path, **kwargs) -> list[str]:
    return write_recording(tmp_path, [SyntheticRow(s) for s in STEERING], **kwargs)


def _numbers(log) -> list[float]:
    return log.rows["steering"].tolist()


@pytest.mark.parametrize("header", [False, True])
def test_log_with_or_without_header_reads_same_rows(tmp_path, header):
    path = write_log_file(tmp_path / "driving_log.csv", _recording(tmp_path), header=header)
    log = read_logs(path)
    assert _numbers(log) == STEERING
    assert log.report.rows_total == 5
    expected_lines = [2, 3, 4, 5, 6] if header else [1, 2, 3, 4, 5]
    assert log.rows["line"].tolist() == expected_lines


@pytest.mark.parametrize("style", ["absolute", "windows", "posix-elsewhere", "relative"])
def test_every_path_style_resolves_to_the_frame_in_img(tmp_path, style):
    path = write_log_file(tmp_path / "driving_log.csv", _recording(tmp_path, path_style=style))
    rows = read_logs(path).rows
    img = (tmp_path / "IMG").resolve()
    for camera in ("center", "left", "right"):
        assert [Path(p).parent for p in rows[camera]] == [img] * 5
        assert all(Path(p).name.startswith(camera) and Path(p).is_file() for p in rows[camera])


def test_relative_path_outside_img_resolves_against_csv_folder(tmp_path):
    lines = _recording(tmp_path / "rec", path_style="relative")
    moved = [line.replace("IMG/", "rec/IMG/") for line in lines]
    rows = read_logs(write_log_file(tmp_path / "driving_log.csv", moved)).rows
    assert Path(rows["center"][0]).parent == (tmp_path / "rec" / "IMG").resolve()
    assert len(rows) == 5


def test_spaces_after_commas_and_e_notation(tmp_path):
    lines = _recording(tmp_path, separator=", ")
    lines[1] = lines[1].rsplit(", ", 4)[0] + ", -2.5E-01, 1, 0, 7.843922E-05"
    rows = read_logs(write_log_file(tmp_path / "driving_log.csv", lines)).rows
    assert rows.loc[1, "steering"] == -0.25 and rows.loc[1, "speed"] == 7.843922e-05
    assert Path(rows["left"][1]).is_file()


def test_crlf_bom_trailing_blank_lines_and_trailing_comma(tmp_path):
    lines = [line + "," for line in _recording(tmp_path)]
    path = write_log_file(tmp_path / "driving_log.csv", lines, newline="\r\n", bom=True, trailing_blank_lines=3)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf") and b"\r\n" in path.read_bytes()
    log = read_logs(path)
    assert _numbers(log) == STEERING
    assert log.report.rows_total == 5 and log.report.bad_rows_skipped == 0
    # The BOM must not stick to the first path: the first row's frame resolves.
    assert Path(log.rows["center"][0]).is_file() and log.rows["line"].tolist() == [1, 2, 3, 4, 5]


def test_bom_with_header_is_still_a_header(tmp_path):
    path = write_log_file(tmp_path / "driving_log.csv", _recording(tmp_path), header=True, bom=True, newline="\r\n")
    assert _numbers(read_logs(path)) == STEERING


def test_missing_side_cameras_become_empty_strings(tmp_path):
    path = write_log_file(tmp_path / "driving_log.csv", _recording(tmp_path, cameras=("center",)))
    log = read_logs(path)
    assert len(log.rows) == 5
    assert (log.rows["left"] == "").all() and (log.rows["right"] == "").all()
    assert log.report.missing_side_images == 10 and log.report.missing_image_rows == 0
