"""`python -m steering.eval replay`: models and logs in, report.json, trajectory PNG and video out."""
from __future__ import annotations

import json

import cv2
import pytest
from replay_logs import write_log

from steering.eval.cli import main


def test_replay_command_writes_report_plot_and_video(tmp_path):
    log = write_log(tmp_path / "log", [(0.1 * i, 0.0, 0.4, 20.0) for i in range(40)])
    out = tmp_path / "out"
    code = main(["replay", "constant:0.2", str(log), "--out", str(out), "--video", "--no-progress",
                 "--max-heading", "180"])
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    constant = report["models"]["constant_0.2"]
    # Straight 20 mph reference, steering 0.2: off by > 1 m every 10 rows (tests/test_replay_loop.py): 3 in 39 steps.
    assert constant["interventions"] == 3 and constant["frames"] == 39
    assert [iv["line"] for iv in constant["interventions_detail"]] == [11, 21, 31]
    assert constant["autonomy_percent"] == 0.0
    assert report["settings"]["camera"]["vfov_deg"] == 60.0
    assert (out / "constant_0.2_trajectory.png").stat().st_size > 10_000
    video = cv2.VideoCapture(str(out / "constant_0.2.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 39 and int(video.get(cv2.CAP_PROP_FRAME_WIDTH)) == 640


@pytest.mark.slow
def test_replay_command_loads_a_checkpoint_as_drive_py_does(tmp_path, make_checkpoint):
    log = write_log(tmp_path / "log", [(0.1 * i, 0.0, 0.4, 20.0) for i in range(12)])
    out = tmp_path / "out"
    assert main(["replay", str(make_checkpoint("pilotnet")), str(log), "--out", str(out), "--no-progress"]) == 0
    run = json.loads((out / "report.json").read_text())["models"]["model"]
    assert run["frames"] == 11 and run["latency_ms_p50"] > 0


def test_replay_command_needs_a_model_and_a_log(tmp_path, capsys):
    assert main(["replay", "constant:0"]) == 2
    assert "one driving_log.csv" in capsys.readouterr().err
