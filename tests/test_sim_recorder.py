"""Recording like the simulator's Record mode: file layout, the project's reader, steering content, CLI."""
from __future__ import annotations

import csv
import datetime as dt
import itertools
import re
from pathlib import Path

import numpy as np
import pytest

from steering.data import read_logs
from steering.preprocess import read_frame
from steering.sim.__main__ import main
from steering.sim.expert import ExpertConfig
from steering.sim.recorder import RecordConfig, record
from steering.sim.world import WorldConfig
from steering.udacity import frame_name

START = dt.datetime(2024, 5, 1, 12, 0, 0)
FRAME = re.compile(r"^(center|left|right)_\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}_\d{3}\.jpg$")


@pytest.fixture(scope="module")
def oval_lap(tmp_path_factory):
    """One recorded lap of the short oval (about 300 rows). Seed 3 drifts to both edges within the lap
    (seed 0 only drifts right in so short a run)."""
    out = tmp_path_factory.mktemp("oval_lap")
    summary = record(out, WorldConfig(track="oval"), ExpertConfig(seed=3),
                     RecordConfig(laps=1.0, start_time=START, progress=False))
    return out, summary


def test_frame_names_follow_the_simulators_pattern():
    assert frame_name("center", dt.datetime(2020, 5, 9, 22, 16, 55, 357000)) == "center_2020_05_09_22_16_55_357.jpg"


def test_log_has_seven_columns_absolute_paths_and_no_header(oval_lap):
    out, summary = oval_lap
    lines = (out / "driving_log.csv").read_text().splitlines()
    assert len(lines) == summary.rows > 250
    for line in lines:
        fields = line.split(",")
        assert len(fields) == 7, line
        for field, camera in zip(fields[:3], ("center", "left", "right"), strict=False):
            path = Path(field)
            assert path.is_absolute() and path.parent == out / "IMG"
            assert FRAME.match(path.name) and path.name.startswith(camera)
        steering, throttle, brake, speed = map(float, fields[3:])
        assert -1 <= steering <= 1 and 0 <= throttle <= 1 and 0 <= brake <= 1 and 0 <= speed <= 30
    assert lines[0].split(",")[0].endswith("center_2024_05_01_12_00_00_000.jpg")


def test_projects_reader_reads_every_row_with_no_missing_images(oval_lap):
    out, summary = oval_lap
    log = read_logs(out / "driving_log.csv")
    assert len(log.rows) == summary.rows
    assert log.report.missing_image_rows == 0 and log.report.missing_side_images == 0
    assert log.report.comma_decimal_rows == 0
    for camera in ("center", "left", "right"):
        frame = read_frame(log.rows[camera].iloc[len(log.rows) // 2])
        assert frame.shape == (160, 320, 3)
    # Sessions are separated by the unrecorded drifts: one more session than drift manoeuvres.
    trace = list(csv.DictReader(open(out / "sim_trace.csv")))
    drift_starts = sum(1 for a, b in itertools.pairwise(trace) if a["phase"] != "drift" and b["phase"] == "drift")
    assert log.report.sessions == drift_starts + 1


def test_frames_are_1_15_s_apart_in_simulated_time(oval_lap):
    out, _ = oval_lap
    log = read_logs(out / "driving_log.csv")
    first_session = log.rows[log.rows["session"] == 0]
    gaps = np.diff(first_session["timestamp"].to_numpy())
    assert gaps == pytest.approx(np.full(len(gaps), 1 / 15), abs=0.0011)


def test_steering_distribution_has_curves_and_recoveries(oval_lap):
    out, summary = oval_lap
    steering = read_logs(out / "driving_log.csv").rows["steering"].to_numpy()
    trace = [row for row in csv.DictReader(open(out / "sim_trace.csv")) if row["recorded"] == "1"]
    assert len(trace) == len(steering)
    phase = np.array([row["phase"] for row in trace])
    cte = np.array([float(row["cte_m"]) for row in trace])
    # The oval turns left all the way round: most frames steer left (negative).
    assert np.mean(steering < -0.05) > 0.6
    # Recoveries: a fifth of the rows or more, coming back from both edges.
    assert np.mean(phase == "recover") > 0.2
    assert (cte[phase == "recover"] > 2.0).any() and (cte[phase == "recover"] < -2.0).any()
    # Coming back from the right edge needs more left steering than coming back from the left edge.
    from_right = steering[(phase == "recover") & (cte > 1.5)]
    from_left = steering[(phase == "recover") & (cte < -1.5)]
    assert from_right.mean() < from_left.mean() - 0.1
    assert summary.phases.get("drift", 0) == 0, "drift frames are not recorded by default"
    assert np.abs(steering).max() <= 1.0


def test_comma_decimal_recording_reads_to_the_same_numbers_as_its_dot_twin(tmp_path):
    logs = {}
    for decimal, folder in ((".", "dot"), (",", "comma")):
        record(tmp_path / folder, WorldConfig(track="oval", start_speed_mph=15), ExpertConfig(seed=0),
               RecordConfig(max_samples=40, laps=1.0, start_time=START, decimal=decimal, progress=False))
        logs[decimal] = read_logs(tmp_path / folder / "driving_log.csv")
    first = (tmp_path / "comma" / "driving_log.csv").read_text().splitlines()[5]
    assert len(first.split(",")) > 7, f"comma style should split numbers: {first}"
    assert logs[","].report.comma_decimal_rows > 0
    for column in ("steering", "throttle", "brake", "speed"):
        assert logs[","].rows[column].tolist() == pytest.approx(logs["."].rows[column].tolist())


def test_recording_appends_to_an_existing_log_like_the_simulator(tmp_path):
    config = RecordConfig(max_samples=5, start_time=START, progress=False)
    record(tmp_path, WorldConfig(track="oval"), ExpertConfig(recoveries=False), config)
    later = RecordConfig(max_samples=5, start_time=START + dt.timedelta(minutes=5), progress=False)
    record(tmp_path, WorldConfig(track="oval"), ExpertConfig(recoveries=False), later)
    log = read_logs(tmp_path / "driving_log.csv")
    assert len(log.rows) == 10 and log.report.sessions == 2


def test_cli_records_a_short_run(tmp_path, capsys):
    code = main(["record", "--track", "oval", "--laps", "0.05", "--out", str(tmp_path),
                 "--start-time", "2024-05-01T12:00:00", "--no-recoveries"])
    assert code == 0
    assert "wrote" in capsys.readouterr().out
    rows = (tmp_path / "driving_log.csv").read_text().splitlines()
    assert len(rows) > 10
    assert len(list((tmp_path / "IMG").glob("*.jpg"))) == 3 * len(rows)
