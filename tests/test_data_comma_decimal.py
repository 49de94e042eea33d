"""Logs written on comma-decimal machines: `-0,1160349,1,0,30,1903` reads as -0.1160349, 1, 0, 30.1903."""
from __future__ import annotations

import pytest

from steering.data import DrivingLogError, format_log_row, read_logs
from steering.data.synthetic import SyntheticRow, write_log_file, write_recording

# Zero, negative (also with a zero integer part), integer-valued and E-notation values.
ROWS = [
    SyntheticRow(0.0, 0.0, 0.0, 0.0),
    SyntheticRow(-0.1160349, 1.0, 0.0, 30.18571),
    SyntheticRow(1.0, 1.0, 0.0, 30.0),
    SyntheticRow(-1.0, 0.3764706, 0.0, 22.93173),
    SyntheticRow(0.25, 0.0, 1.0, 7.843922e-05),
    SyntheticRow(0.0, 0.5, 0.0, 3.14159),
    SyntheticRow(-0.05, 0.2, 0.1, 15.27),
    SyntheticRow(-0.75, 1.0, 0.5, 29.99999),
]
NUMBERS = ["steering", "throttle", "brake", "speed"]


def test_comma_style_log_reads_to_the_same_numbers_as_its_dot_twin(tmp_path):
    dot = write_log_file(tmp_path / "dot" / "driving_log.csv", write_recording(tmp_path / "dot", ROWS))
    comma_lines = write_recording(tmp_path / "comma", ROWS, decimal=",")
    assert comma_lines[1].endswith(",-0,1160349,1,0,30,18571")
    comma = write_log_file(tmp_path / "comma" / "driving_log.csv", comma_lines)
    dot_log, comma_log = read_logs(dot), read_logs(comma)
    assert comma_log.rows[NUMBERS].values.tolist() == dot_log.rows[NUMBERS].values.tolist()
    assert dot_log.rows[NUMBERS].values.tolist() == [[r.steering, r.throttle, r.brake, r.speed] for r in ROWS]
    # Rows 0 and 2 hold only integers: seven plain columns, nothing to regroup.
    assert comma_log.report.comma_decimal_rows == 6 and dot_log.report.comma_decimal_rows == 0
    assert "6 rows written with decimal commas" in comma_log.report.summary()


def test_issue_example_row_regroups_uniquely(tmp_path):
    lines = write_recording(tmp_path, [SyntheticRow(0.0)])
    paths = lines[0].split(",")[:3]
    path = write_log_file(tmp_path / "driving_log.csv", [",".join(paths) + ",-0,1160349,1,0,30,1903"])
    row = read_logs(path).rows.iloc[0]
    assert (row["steering"], row["throttle"], row["brake"], row["speed"]) == (-0.1160349, 1.0, 0.0, 30.1903)


def _one_row_log(tmp_path, numbers: str, separator: str = ","):
    paths = write_recording(tmp_path, [SyntheticRow(0.0)])[0].split(",")[:3]
    return write_log_file(tmp_path / "driving_log.csv", [separator.join(paths) + separator + numbers])


def test_ambiguous_comma_row_names_line_and_shows_candidates(tmp_path):
    # 0.5, 0.25, 0, 12.5 -- or 0.5, 0.25, 0.12, 5: both fit every range.
    path = _one_row_log(tmp_path, "0,5,0,25,0,12,5")
    with pytest.raises(DrivingLogError) as info:
        read_logs(path)
    message = str(info.value)
    assert info.value.line == 1 and message.startswith(f"{path}:1: ambiguous decimal commas in '0,5,0,25,0,12,5'")
    assert "2 readings fit" in message
    assert "steering=0.5, throttle=0.25, brake=0, speed=12.5" in message
    assert "steering=0.5, throttle=0.25, brake=0.12, speed=5" in message


def test_ambiguous_row_is_skipped_and_counted_when_lenient(tmp_path):
    path = _one_row_log(tmp_path, "0,5,0,25,0,12,5")
    with path.open("a") as f:
        f.write(format_log_row(*path.read_text().split(",")[:3], -0.1160349, 1, 0, 30.18571, decimal=",") + "\n")
    log = read_logs(path, lenient=True)
    assert log.rows["steering"].tolist() == [-0.1160349] and log.rows["speed"].tolist() == [30.18571]
    assert log.report.bad_rows_skipped == 1 and log.report.comma_decimal_rows == 1


def test_comma_row_with_no_valid_reading_says_so(tmp_path):
    path = _one_row_log(tmp_path, "-0,5,3,25,0,99,5")  # throttle would be 3 or 3.25
    with pytest.raises(
        DrivingLogError, match=r":1: expected 7 columns, found 10, and no reading of '-0,5,3,25,0,99,5'"
    ):
        read_logs(path)


def test_space_after_field_commas_resolves_an_otherwise_ambiguous_row(tmp_path):
    path = _one_row_log(tmp_path, " 0,5, 0,25, 0, 12,5", separator=", ")
    row = read_logs(path).rows.iloc[0]
    assert (row["steering"], row["throttle"], row["brake"], row["speed"]) == (0.5, 0.25, 0.0, 12.5)
