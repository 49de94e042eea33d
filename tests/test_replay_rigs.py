"""The replay simulates the car of the simulator that recorded the log: the headless recorder's logs get the
headless renderer's rig and wheelbase, Unity's logs Unity's; auto-detection by the recorder's trace file."""
from __future__ import annotations

import argparse
import datetime as dt

import pytest

from steering.data.reading import read_logs
from steering.replay.calibration import side_camera_fit
from steering.replay.cli import add_command
from steering.replay.rigs import choose_rig, detect_simulator, headless_rig, unity_rig
from steering.sim.expert import ExpertConfig
from steering.sim.recorder import RecordConfig, record
from steering.sim.world import WorldConfig
from steering.udacity import LOG_NAME


@pytest.fixture(scope="module")
def headless_log(tmp_path_factory):
    out = tmp_path_factory.mktemp("headless")
    summary = record(out, WorldConfig(track="oval", start_speed_mph=15), ExpertConfig(recoveries=False),
                     RecordConfig(max_samples=6, progress=False, start_time=dt.datetime(2026, 1, 1)))
    return summary.log_path


def test_headless_rig_is_the_renderers_camera_and_car():
    rig = headless_rig()
    assert rig.camera.height_m == pytest.approx(1.6) and rig.camera.pitch_deg == pytest.approx(7.5)
    assert rig.bicycle.wheelbase_m == pytest.approx(2.6)
    # cameras 0.8 m ahead of the centre of gravity, which is 1.3 m ahead of the rear axle; sides 0.8 m apart
    assert rig.camera.mount("center") == pytest.approx((2.1, 0.0))
    assert rig.camera.mount("left") == pytest.approx((2.1, 0.8))
    assert unity_rig().bicycle.wheelbase_m == pytest.approx(2.87)


def test_headless_recording_is_detected_by_its_trace_and_a_mix_is_refused(headless_log, tmp_path):
    unity = tmp_path / "unity"
    unity.mkdir()
    (unity / LOG_NAME).write_text("")
    assert detect_simulator([headless_log]) == "headless"
    assert detect_simulator([unity / LOG_NAME]) == "unity"
    assert choose_rig("auto", [headless_log]).simulator == "headless"
    assert choose_rig("unity", [headless_log]).simulator == "unity"
    with pytest.raises(ValueError, match="different simulators"):
        detect_simulator([headless_log, unity / LOG_NAME])


def test_headless_frames_are_explained_by_the_headless_rig_not_by_unitys(headless_log):
    rows = read_logs(headless_log).rows
    triples = list(zip(rows["center"], rows["left"], rows["right"], strict=True))
    for side in ("left", "right"):
        own = side_camera_fit(headless_rig().camera, triples, side)
        other = side_camera_fit(unity_rig().camera, triples, side)
        # Measured on 6 oval rows: headless rig 4.5, Unity's 13.8, the unwarped centre frame 23.6.
        assert own.warped_mae < 7.0, f"{side}: headless rig leaves {own.warped_mae:.1f}"
        assert other.warped_mae > 10.0, f"{side}: Unity's rig should not explain headless frames"
        assert own.unwarped_mae > 20.0


def test_replay_cli_takes_the_simulator_option():
    parser = argparse.ArgumentParser()
    add_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["replay", "constant:0", "log.csv", "--simulator", "headless"])
    assert args.simulator == "headless"
    assert parser.parse_args(["replay", "constant:0", "log.csv"]).simulator == "auto"
    with pytest.raises(SystemExit):
        parser.parse_args(["replay", "constant:0", "log.csv", "--simulator", "carla"])
