"""The replay loop: the recorded steering stays on the reference; a wrong constant steers off where the
bicycle model says, and each intervention puts the car back."""
from __future__ import annotations

import math

import pytest
from replay_logs import write_log

from steering.data.reading import read_logs
from steering.replay.camera import unity_camera
from steering.replay.loop import ConstantSteering, ReplayConfig, replay
from steering.replay.reference import split_segments
from steering.sim.car import MPH


class RecordedSteering:
    """Answers the log's own steering, row after row (what a perfect imitation would do)."""

    def __init__(self, steering):
        self.values, self.i = list(steering), 0

    def predict(self, frame):
        assert frame.shape == (160, 320, 3)
        value = self.values[self.i]
        self.i += 1
        return value


@pytest.fixture()
def straight_log(tmp_path):
    """60 rows, 0.1 s apart, 20 mph, steering 0: a straight reference 53.6 m long."""
    return write_log(tmp_path, [(0.1 * i, 0.0, 0.4, 20.0) for i in range(60)])


def test_recorded_steering_follows_the_reference_exactly(lake_log):
    log = read_logs(lake_log)
    log.rows = log.rows.iloc[:120]
    segment = split_segments(log)[0]
    run = replay(RecordedSteering(segment.steering), [segment], unity_camera(), ReplayConfig(progress=False))
    assert run.interventions == [] and run.autonomy == 100.0
    assert max(abs(s.offset_m) for s in run.steps) < 1e-9
    assert run.elapsed_s == pytest.approx(segment.times[-1])


def test_constant_right_steering_leaves_a_straight_reference_where_the_arc_says(straight_log):
    # Steering 0.2: 5 deg wheels, radius 2.87 / tan 5 deg = 32.80 m; 0.894 m per row. Offset R(1 - cos(s/R))
    # first exceeds 1 m after 10 rows (s = 8.94 m: 1.21 m; after 9: 0.98 m), heading s/R exceeds 10 deg after 7.
    radius = 2.87 / math.tan(math.radians(5))
    segments = split_segments(read_logs(straight_log))
    offset_only = ReplayConfig(max_heading_deg=180.0, progress=False)
    run = replay(ConstantSteering(0.2), segments, unity_camera(), offset_only)
    first = run.interventions[0]
    assert first.reason == "offset" and first.time_s == pytest.approx(1.0)
    step = 10 * 20 * MPH * 0.1
    assert first.offset_m == pytest.approx(radius * (1 - math.cos(step / radius)), abs=0.02)  # 1.21 m, right
    assert len(run.interventions) == 5  # put back each time: every 10 of the 59 steps
    assert run.autonomy == 0.0  # 5 x 6 s > 5.9 s driven
    heading = replay(ConstantSteering(0.2), segments, unity_camera(), ReplayConfig(progress=False))
    assert heading.interventions[0].reason == "heading" and heading.interventions[0].time_s == pytest.approx(0.7)
    assert len(heading.interventions) == 8


def test_real_time_applies_the_command_after_the_latency(straight_log):
    import time

    class Slow(ConstantSteering):
        def predict(self, frame):
            time.sleep(0.05)
            return self.value

    segments = split_segments(read_logs(straight_log))
    config = ReplayConfig(max_heading_deg=180.0, max_offset_m=100.0, progress=False)
    lock = replay(Slow(0.2), segments, unity_camera(), config)
    late = replay(Slow(0.2), segments, unity_camera(), ReplayConfig(**{**config.__dict__, "realtime": True}))
    # The first command waits >= 50 ms of the first 100 ms step: the car turns for at most the other 50 ms.
    assert late.steps[0].heading_deg > lock.steps[0].heading_deg / 2 - 1e-9
    assert abs(late.steps[0].heading_deg) <= abs(lock.steps[0].heading_deg) / 2 + 1e-9
    assert late.steps[-1].offset_m < lock.steps[-1].offset_m


def test_the_source_frame_is_the_nearest_camera_not_ahead_of_the_car(straight_log):
    from steering.replay.frames import choose_source

    segment = split_segments(read_logs(straight_log))[0]  # rows 0.894 m apart along +x
    camera = unity_camera()
    # 0.3 m past row 5 and 0.75 m to the left: the left camera of row 5 (0.806 m left) is nearest and behind.
    assert choose_source(segment, camera, (5 * 0.894 + 0.3, 0.75, 0.0), 5) == (5, "left")
    # 0.2 m short of row 6, centred: row 6's centre camera is 0.2 m away but ahead; row 5's (0.69 m) is used.
    assert choose_source(segment, camera, (6 * 0.894 - 0.2, 0.0, 0.0), 6) == (5, "center")
    # 0.05 m short of row 6 and 0.8 m right: within the 0.1 m tolerance, row 6's right camera.
    assert choose_source(segment, camera, (6 * 0.894 - 0.05, -0.8, 0.0), 6) == (6, "right")
