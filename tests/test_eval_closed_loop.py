"""Closed loop through the real socket path: a PilotNet trained here on an oval recording drives a lap
through the drive server, and the report's numbers are checked against the simulator's own trajectory."""
from __future__ import annotations

import csv
import datetime as dt
import itertools
import math

import numpy as np
import pytest

from steering.drive import DriveConfig, TransportConfig, running_server
from steering.eval import EvalConfig, autonomy_percent, evaluate
from steering.eval.report import read_report
from steering.sim.__main__ import main as sim_main
from steering.sim.expert import ExpertConfig
from steering.sim.recorder import RecordConfig, record
from steering.sim.tracks import get_track
from steering.sim.world import SIM_DT, WorldConfig
from steering.training import TrainConfig, train

pytestmark = pytest.mark.slow
MPH = 0.44704


@pytest.fixture(scope="module")
def oval_model(tmp_path_factory):
    """A PilotNet trained for one epoch on two expert laps of the oval (center camera): a real checkpoint.
    One data-loading worker: decoding beside the training process is ~3x faster on a busy 2-core machine."""
    folder = tmp_path_factory.mktemp("oval")
    summary = record(folder / "data", WorldConfig(track="oval"), ExpertConfig(recoveries=True),
                     RecordConfig(laps=2, start_time=dt.datetime(2024, 1, 1, 12), progress=False))
    result = train(TrainConfig(logs=[str(summary.log_path)], model="pilotnet", pretrained="none", strategy="finetune",
                               lr=1e-3, backbone_lr=1e-3, epochs=1, augment="flip", cameras="center",
                               workers=1, out=str(folder / "run"), progress=False))
    return result.best_path


def test_trained_model_completes_a_lap_through_the_socket_and_the_report_matches_the_trajectory(oval_model, tmp_path):
    result = evaluate(oval_model, EvalConfig(track="oval", laps=1, out_dir=tmp_path, progress=False))
    report, drive, track = result.report, result.drive, get_track("oval")

    assert report.stop_reason == "laps" and report.laps_completed == 1
    assert drive.steers_received >= report.steps, "every applied command came over the socket from the server"
    assert drive.parse_errors == 0
    assert "in-process drive server" in report.server
    # Numbers recomputed from the simulator's own poses: project each (x, y) onto the track again.
    projected = np.abs([track.project(s.x, s.y).cte_m for s in drive.steps])
    assert report.mean_abs_cte_m == pytest.approx(projected.mean(), abs=1e-6)
    assert report.max_abs_cte_m == pytest.approx(projected.max(), abs=1e-6)
    assert report.steps == len(drive.steps)
    assert report.elapsed_s == pytest.approx(report.steps * SIM_DT)
    assert report.distance_m >= track.length_m
    off_road_crossings = sum(1 for a, b in itertools.pairwise([0.0, *projected]) if b > track.half_width_m >= a)
    assert report.interventions_off_road == off_road_crossings
    assert report.autonomy_pct == pytest.approx(autonomy_percent(report.interventions, report.elapsed_s))
    # Mean speed against the distance between poses (segments that end in a hand-back left out).
    handed_back = {iv.step for iv in result.interventions}
    moved = [math.hypot(b.x - a.x, b.y - a.y) for i, (a, b) in enumerate(itertools.pairwise(drive.steps))
             if i not in handed_back]
    assert report.mean_speed_mph == pytest.approx(np.mean(moved) / SIM_DT / MPH, rel=0.05)
    commands = [c.steering for c in drive.commands]
    assert report.steering_smoothness == pytest.approx(np.abs(np.diff(commands)).mean())
    assert report.frames_per_s > 0
    # The files say the same.
    assert read_report(tmp_path / "report.json") == report
    with open(tmp_path / "trajectory.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == report.steps
    assert float(rows[-1]["distance_along_m"]) == pytest.approx(drive.steps[-1].distance_along_m, abs=1e-3)
    assert (tmp_path / "trajectory.png").stat().st_size > 10_000


def test_evaluation_uses_an_already_running_drive_server_given_its_port(oval_model, tmp_path):
    with running_server(oval_model, DriveConfig(transport=TransportConfig(port=0), stats_every=0)) as server:
        port = server.port
        result = evaluate(None, EvalConfig(track="oval", laps=0.25, port=port, progress=False))
        served = server.stats["counters"]["steer"]
    assert result.report.model == f"port {port}"
    assert result.report.laps_requested == 0.25 and result.report.distance_m >= 0.25 * get_track("oval").length_m
    assert served >= result.report.steps - 1, "the running server answered the drive (the first steer is its connect)"
    assert result.files == {}, "no --out: nothing written"


def test_cli_evaluate_writes_report_plot_and_video(oval_model, tmp_path, capsys):
    out = tmp_path / "eval"
    code = sim_main(["evaluate", str(oval_model), "--track", "oval", "--laps", "0.3", "--out", str(out), "--video",
                     "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "autonomy" in printed and str(out / "report.json") in printed
    report = read_report(out / "report.json")
    import cv2

    video = cv2.VideoCapture(str(out / "drive.mp4"))
    frames = int(video.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, frame = video.read()
    video.release()
    assert ok and frame.shape == (320, 640, 3), "2x the 320x160 camera"
    assert frames == report.steps, "one video frame per applied command"


def test_cli_compare_writes_one_table_and_one_plot(oval_model, make_checkpoint, tmp_path, capsys):
    untrained = make_checkpoint("pilotnet", filename="untrained.pt")
    out = tmp_path / "cmp"
    code = sim_main(["compare", str(oval_model), str(untrained), "--tracks", "oval", "--laps", "0.2", "--out", str(out),
                     "--no-progress"])
    assert code == 0
    table = (out / "compare.md").read_text()
    assert table in capsys.readouterr().out
    rows = [line for line in table.splitlines() if line.startswith("| best.pt") or line.startswith("| untrained.pt")]
    assert len(rows) == 2, table
    assert (out / "compare.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "best.pt" / "oval" / "report.json").is_file() and (
        out / "untrained.pt" / "oval" / "report.json"
    ).is_file()


def test_cli_evaluate_without_model_or_port_is_a_usage_error(capsys):
    assert sim_main(["evaluate", "--track", "oval"]) == 2
    assert "--port" in capsys.readouterr().err
