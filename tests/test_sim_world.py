"""Tracks, car and world of the headless simulator: CTE sign, projection, laps, the car's limits."""
from __future__ import annotations

import math

import numpy as np
import pytest

from steering.sim.car import MPH, Car, CarConfig
from steering.sim.expert import Expert, ExpertConfig
from steering.sim.tracks import get_track, list_tracks
from steering.sim.world import World, WorldConfig


@pytest.mark.parametrize("name", list_tracks())
def test_track_is_closed_smooth_and_never_overlaps_itself(name):
    track = get_track(name)
    assert np.linalg.norm(track.points[0] - track.points[-1]) < 2 * track.spacing_m, "centre line must close"
    min_radius = 1 / np.abs(track.curvature).max()
    car = CarConfig()
    car_radius = math.hypot(car.cg_to_rear_m, car.wheelbase_m / math.tan(math.radians(car.max_steer_deg)))
    assert min_radius > 1.5 * car_radius, f"{name}: radius {min_radius:.1f} m too tight for the car"
    assert min_radius > 2 * track.half_width_m, f"{name}: the inner road edge would fold over itself"
    pts = track.points[::8]
    gaps = np.linalg.norm(pts[:, None] - pts[None], axis=2)
    i, j = np.indices(gaps.shape)
    along = np.minimum(abs(i - j), len(pts) - abs(i - j)) * track.spacing_m * 8
    gaps[along < 3 * track.road_width_m] = np.inf
    assert gaps.min() > track.road_width_m + 6.0, f"{name}: road comes within {gaps.min():.1f} m of itself"


def test_training_and_held_out_tracks_differ_in_curvature_and_look():
    lake, mountain = get_track("lake"), get_track("mountain")
    assert np.abs(mountain.curvature).max() > 1.5 * np.abs(lake.curvature).max()
    assert lake.style.asphalt != mountain.style.asphalt
    assert (lake.style.centre_line is None) != (mountain.style.centre_line is None)


def test_cte_is_positive_right_of_centre_in_the_driving_direction():
    track = get_track("oval")
    s = 40.0
    x, y, heading = track.pose_at(s)
    right = np.array([math.sin(heading), -math.cos(heading)])  # heading rotated 90 degrees clockwise
    for offset in (-2.0, 1.5):
        px, py = np.array([x, y]) + offset * right
        projection = track.project(px, py)
        assert projection.cte_m == pytest.approx(offset, abs=0.02)
        assert projection.progress_m == pytest.approx(s, abs=0.05)
    assert track.pose_at(s, 1.5)[:2] == pytest.approx(tuple(np.array([x, y]) + 1.5 * right), abs=1e-6)


def test_unknown_track_names_the_close_match_and_the_list():
    with pytest.raises(KeyError, match="did you mean mountain"):
        get_track("mountian")


def test_lap_counter_ticks_once_when_the_start_line_is_crossed():
    world = World(WorldConfig(track="oval"))
    expert = Expert(ExpertConfig(recoveries=False))
    laps, progress_at_tick = [], None
    while world.distance_along_m < 1.1 * world.track.length_m:
        command = expert.run(world)
        info = world.step(command.steering, command.throttle)
        if laps and info.laps_completed != laps[-1]:
            progress_at_tick = info.progress_m
        laps.append(info.laps_completed)
    assert laps[0] == 0 and laps[-1] == 1
    assert np.count_nonzero(np.diff(laps)) == 1
    assert progress_at_tick is not None and progress_at_tick < 5.0, "the lap ticks right after the start line"


def test_driving_backwards_counts_no_lap():
    world = World(WorldConfig(track="oval"))
    world.reset(progress_m=60.0, heading_error=math.pi, speed_mph=10)
    start = world.progress_m
    for _ in range(30):
        world.step(0.0, 0.3)
    assert world.distance_along_m < -5.0
    assert world.laps_completed == 0
    assert world.progress_m < start


def test_reset_to_centre_puts_the_car_on_the_line_facing_along_it():
    world = World(WorldConfig(track="oval"))
    world.reset(progress_m=30.0, offset_m=3.0, heading_error=0.4, speed_mph=15)
    assert world.cte_m == pytest.approx(3.0, abs=0.05)
    world.reset_to_centre()
    assert world.cte_m == pytest.approx(0.0, abs=0.05)
    assert world.heading_error == pytest.approx(0.0, abs=0.02)
    assert world.car.state.speed == 0.0


def test_full_throttle_tops_out_at_30_mph():
    car = Car()
    for _ in range(15 * 60):
        car.step(0.0, 1.0, 1 / 15)
    assert car.state.speed_mph == pytest.approx(30.0, abs=1e-6)


def test_full_right_lock_drives_a_clockwise_circle_of_the_bicycle_radius():
    config = CarConfig()
    car = Car(config)
    car.place(0.0, 0.0, 0.0, speed=5.0)
    xs, ys, headings = [], [], []
    for step in range(400):
        car.step(1.0, 0.1, 1 / 60)
        if step > 30:
            xs.append(car.state.x), ys.append(car.state.y), headings.append(car.state.heading)
    x, y = np.array(xs), np.array(ys)
    a, b, c = np.linalg.lstsq(np.stack([x, y, np.ones_like(x)], 1), -(x**2 + y**2), rcond=None)[0]
    radius = math.sqrt(a * a / 4 + b * b / 4 - c)
    delta = math.radians(config.max_steer_deg)
    expected = math.hypot(config.cg_to_rear_m, config.wheelbase_m / math.tan(delta))  # 5.72 m
    assert radius == pytest.approx(expected, rel=0.01)
    assert -b / 2 < 0, "turning right from heading east: the circle's centre lies south"
    assert np.unwrap(headings)[-1] < np.unwrap(headings)[0], "right turns are clockwise"


def test_full_brake_stops_the_car_within_its_braking_distance():
    car = Car()
    car.place(0.0, 0.0, 0.0, speed=20 * MPH)
    for _ in range(60):
        car.step(0.0, -1.0, 1 / 15)
    assert car.state.speed == 0.0
    assert car.state.x == pytest.approx((20 * MPH) ** 2 / (2 * (8.0 + 0.15)), rel=0.1)  # v^2 / 2a = 4.9 m
