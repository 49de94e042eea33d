"""Bad rows name file and line (or are skipped and counted with lenient=True); empty logs stop."""
from __future__ import annotations

import pytest

from steering.data import DrivingLogError, read_logs
from steering.data.synthetic import SyntheticRow, write_log_file, write_recording


def _log_with_line(tmp_path, index: int, replace) -> tuple:
    lines = write_recording(tmp_path, [SyntheticRow(0.1 * i) for i in range(5)])
    lines[index] = replace(lines[index])
    return write_log_file(tmp_path / "driving_log.csv", lines), lines


def _with_numbers(line: str, numbers: str) -> str:
    return ",".join(line.split(",")[:3] + [numbers])


@pytest.mark.parametrize("numbers, expected", [
    ("0.1,0.5,0,fast", "speed: cannot parse 'fast' as a number"),
    ("nan,0.5,0,20", "steering: cannot parse 'nan' as a number"),
    ("0.1,0.5,0,1e999", "speed: '1e999' is not a finite number"),
    ("0.1,,0,20", "throttle: cannot parse '' as a number"),
    ("1.5,0.5,0,20", "steering 1.5 outside [-1, 1]"),
    ("-25,0.5,0,20", "steering -25 outside [-1, 1]"),
])
def test_bad_number_names_file_line_and_value(tmp_path, numbers, expected):
    path, _ = _log_with_line(tmp_path, 2, lambda line: _with_numbers(line, numbers))
    with pytest.raises(DrivingLogError) as info:
        read_logs(path)
    assert info.value.path == path and info.value.line == 3
    assert str(info.value).startswith(f"{path}:3: ")
    assert expected in str(info.value)


def test_too_few_columns_asks_about_record_mode(tmp_path):
    path, _ = _log_with_line(tmp_path, 1, lambda line: ",".join(line.split(",")[:5]))
    with pytest.raises(DrivingLogError) as info:
        read_logs(path)
    assert str(info.value) == (
        f"{path}:2: expected 7 columns, found 5; was this written by the simulator's Record mode?"
    )
    assert info.value.line == 2


def test_short_row_with_trailing_comma_counts_only_real_columns(tmp_path):
    path, _ = _log_with_line(tmp_path, 0, lambda line: line.rsplit(",", 1)[0] + ",")
    with pytest.raises(DrivingLogError, match=r":1: expected 7 columns, found 6; was this written"):
        read_logs(path)


def test_too_many_columns_names_the_count(tmp_path):
    path, _ = _log_with_line(tmp_path, 4, lambda line: line + ",extra,column")
    with pytest.raises(DrivingLogError, match=r":5: expected 7 columns, found 9; was this written"):
        read_logs(path)


def test_lenient_skips_and_counts_every_bad_row(tmp_path):
    lines = write_recording(tmp_path, [SyntheticRow(0.1 * i) for i in range(6)])
    lines[1] = _with_numbers(lines[1], "0.1,0.5,0,fast")
    lines[3] = ",".join(lines[3].split(",")[:4])
    lines[4] = _with_numbers(lines[4], "2,0.5,0,20")
    log = read_logs(write_log_file(tmp_path / "driving_log.csv", lines), lenient=True)
    assert log.rows["line"].tolist() == [1, 3, 6]
    assert log.report.bad_rows_skipped == 3 and log.report.rows_total == 6 and log.report.rows_kept == 3
    assert [m.split(": ")[0] for m in log.report.bad_row_messages] == [
        "driving_log.csv:2", "driving_log.csv:4", "driving_log.csv:5"]
    assert "3 bad rows skipped" in log.report.summary()


def test_empty_log_stops_with_clear_message(tmp_path):
    path = write_log_file(tmp_path / "driving_log.csv", [], header=True, trailing_blank_lines=2)
    with pytest.raises(DrivingLogError, match="has no data rows; record some laps") as info:
        read_logs(path)
    assert info.value.line is None and info.value.path == path


def test_all_bad_rows_with_lenient_still_stops(tmp_path):
    path, _ = _log_with_line(tmp_path, 0, lambda line: line)
    path.write_text("a,b\nc,d\n")
    with pytest.raises(DrivingLogError, match=r"has no readable rows \(2 bad rows skipped\)"):
        read_logs(path, lenient=True)


def test_log_whose_images_are_all_missing_stops_and_says_where_it_looked(tmp_path):
    lines = write_recording(tmp_path / "elsewhere", [SyntheticRow(0.0)] * 3, path_style="posix-elsewhere")
    path = write_log_file(tmp_path / "driving_log.csv", lines)
    with pytest.raises(DrivingLogError) as info:
        read_logs(path)
    message = str(info.value)
    assert "none of the 3 rows' center images exist" in message
    assert "/Users/driver/udacity/data/IMG/center_" in message and str(tmp_path / "IMG") in message
    assert "Copy the IMG folder next to the csv" in message


def test_missing_center_rows_are_dropped_never_mislabelled(tmp_path):
    lines = write_recording(tmp_path, [SyntheticRow(0.1 * i) for i in range(5)])
    (tmp_path / "IMG" / lines[2].split(",")[0].split("/")[-1]).unlink()
    log = read_logs(write_log_file(tmp_path / "driving_log.csv", lines))
    assert log.rows["steering"].tolist() == pytest.approx([0.0, 0.1, 0.3, 0.4])
    assert log.report.missing_image_rows == 1 and log.report.missing_lines == [3]


def test_nonexistent_log_file_names_it(tmp_path):
    with pytest.raises(DrivingLogError, match="cannot read"):
        read_logs(tmp_path / "nope.csv")


def test_drive_alarm_columns_after_the_seventh_are_ignored(tmp_path):
    plain = write_recording(tmp_path, [SyntheticRow(0.1 * i) for i in range(3)])
    # drive.py --alarm appends score, threshold, alarm, frames late (steering.drive.sinks.alarm_fields)
    extras = [",1.234560e-02,5.000000e-02,0,0", ",nan,inf,1,1", ",7.500000e-02,5.000000e-02,1,1"]
    rows = [line + extra for line, extra in zip(plain, extras, strict=True)]
    path = write_log_file(tmp_path / "with_alarm.csv", rows)
    table = read_logs(path).rows
    expected = read_logs(write_log_file(tmp_path / "plain.csv", plain)).rows
    assert table["steering"].tolist() == pytest.approx([0.0, 0.1, 0.2])
    numbers = ["steering", "throttle", "brake", "speed"]
    assert table[numbers].equals(expected[numbers])


def test_words_after_the_seventh_column_are_still_an_error(tmp_path):
    path, _ = _log_with_line(tmp_path, 2, lambda line: line + ",1.5e-02,alarm")
    with pytest.raises(DrivingLogError, match=r":3: expected 7 columns, found 9"):
        read_logs(path)
