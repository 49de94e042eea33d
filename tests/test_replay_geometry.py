"""The replay's geometry against numbers worked out by hand: projection, homographies, the bicycle model."""
from __future__ import annotations

import math

import numpy as np
import pytest

from steering.replay.bicycle import Bicycle
from steering.replay.camera import CameraModel, unity_camera
from steering.replay.synthesis import ViewSynthesiser, ground_homography, infinity_homography, relative_pose, sky_mask

F = 80 / math.tan(math.radians(30))  # 138.564 px: 60 deg vertical field of view over 160 rows
CX, CY = 159.5, 79.5  # principal point, pixel centres at integers


def level_camera(pitch_deg: float = 0.0) -> CameraModel:
    """1.25 m high, centre camera 2.6 m ahead of the rear axle, side cameras 0.8 m out."""
    return CameraModel(height_m=1.25, pitch_deg=pitch_deg, vfov_deg=60.0,
                       mounts={"center": (2.6, 0.0), "left": (2.6, 0.8), "right": (2.6, -0.8)})


def apply(homography: np.ndarray, u: float, v: float) -> tuple[float, float]:
    x, y, w = homography @ np.array([u, v, 1.0])
    return x / w, y / w


def test_unity_focal_length_is_138_6_px():
    assert unity_camera().focal_px == pytest.approx(138.564, abs=1e-3)


def test_ground_point_projects_where_the_pinhole_puts_it():
    # 10 m ahead of the camera, 1 m to its left, 1.25 m below it: u = cx - f/10, v = cy + 1.25 f/10.
    u, v = level_camera().project(np.array([[12.6, 1.0, 0.0]]), "center", (0.0, 0.0, 0.0))[0]
    assert u == pytest.approx(CX - F * 0.1, abs=1e-9)  # 145.644
    assert v == pytest.approx(CY + F * 0.125, abs=1e-9)  # 96.821


def test_pitched_camera_sees_a_ground_point_at_its_depression_angle():
    # The ray to a point 10 m ahead drops atan(1.25/10) = 7.125 deg; the axis drops 7.9: 0.775 deg above centre.
    _, v = level_camera(7.9).project(np.array([[12.6, 0.0, 0.0]]), "center", (0.0, 0.0, 0.0))[0]
    assert v == pytest.approx(CY + F * math.tan(math.atan(0.125) - math.radians(7.9)), abs=1e-9)  # 77.63


def test_ground_homography_moves_a_ground_point_for_a_lateral_offset():
    # The car moves 0.5 m left: the point 1 m left is now 0.5 m left, still 10 m ahead.
    h = ground_homography(level_camera(), "center", (0.0, 0.0, 0.0), "center", (0.0, 0.5, 0.0))
    u, v = apply(h, CX - F * 0.1, CY + F * 0.125)
    assert u == pytest.approx(CX - F * 0.05, abs=1e-6)  # 152.572
    assert v == pytest.approx(CY + F * 0.125, abs=1e-6)


def test_ground_homography_to_the_left_camera_matches_its_mount():
    # The left camera is 0.8 m left of the centre one: a point 1 m left, 10 m ahead is 0.2 m left of it.
    h = ground_homography(level_camera(), "center", (0.0, 0.0, 0.0), "left", (0.0, 0.0, 0.0))
    u, _ = apply(h, CX - F * 0.1, CY + F * 0.125)
    assert u == pytest.approx(CX - F * 0.02, abs=1e-6)


def test_turning_left_shifts_the_horizon_right_by_f_tan_angle():
    h = infinity_homography(level_camera(), (0.0, 0.0, 0.0), (0.0, 0.0, math.radians(5)))
    u, v = apply(h, CX, CY)
    assert u == pytest.approx(CX + F * math.tan(math.radians(5)), abs=1e-6)  # 171.62
    assert v == pytest.approx(CY, abs=1e-6)


def test_heading_change_about_the_rear_axle_moves_the_camera_too():
    # Turning 5 deg left about the rear axle swings the camera (2.6 m ahead) 2.6 sin 5 deg to the left and
    # 2.6 (1 - cos 5 deg) back; a ground point straight ahead 10 m then lies at these camera coordinates.
    turn = math.radians(5)
    h = ground_homography(level_camera(), "center", (0.0, 0.0, 0.0), "center", (0.0, 0.0, turn))
    cam_x, cam_y = 2.6 * math.cos(turn), 2.6 * math.sin(turn)
    dx, dy = 12.6 - cam_x, 0.0 - cam_y
    ahead = dx * math.cos(turn) + dy * math.sin(turn)
    left = -dx * math.sin(turn) + dy * math.cos(turn)
    u, v = apply(h, CX, CY + F * 0.125)
    assert u == pytest.approx(CX - F * left / ahead, abs=1e-6)
    assert v == pytest.approx(CY + F * 1.25 / ahead, abs=1e-6)


def test_sky_mask_is_the_rows_above_the_horizon():
    mask = sky_mask(level_camera(7.9))
    horizon = CY - F * math.tan(math.radians(7.9))  # 60.27
    assert mask[:60].all() and not mask[61:].any()
    assert horizon == pytest.approx(60.27, abs=0.01)


def test_synthesised_view_shifts_a_painted_ground_spot():
    camera = level_camera(7.9)
    frame = np.zeros((160, 320, 3), np.uint8)
    u, v = camera.project(np.array([[12.6, 1.0, 0.0]]), "center", (0.0, 0.0, 0.0))[0]
    frame[int(round(v)) - 2:int(round(v)) + 3, int(round(u)) - 2:int(round(u)) + 3] = 255
    out = ViewSynthesiser(camera).synthesise(frame, "center", (0.0, 0.0, 0.0), (0.0, 0.5, 0.0))
    rows, cols = np.nonzero(out[..., 0] > 128)
    want_u, want_v = camera.project(np.array([[12.6, 1.0, 0.0]]), "center", (0.0, 0.5, 0.0))[0]
    assert cols.mean() == pytest.approx(want_u, abs=1.0) and rows.mean() == pytest.approx(want_v, abs=1.0)
    assert want_u - u == pytest.approx(F * 0.5 / (10 + 0.0), rel=0.05)  # moved right by ~6.9 px


def test_relative_pose_in_the_base_frame():
    forward, left, turn = relative_pose((1.0, 1.0, math.pi / 2), (1.0, 3.0, math.pi / 2 + 0.1))
    assert (forward, left, turn) == pytest.approx((2.0, 0.0, 0.1))


def test_bicycle_step_matches_a_hand_integrated_model():
    # 10 m/s, steering +0.5 (right): wheel angle -12.5 deg, wheelbase 2.87 m, for one second.
    bicycle = Bicycle(wheelbase_m=2.87, max_steer_deg=25.0)
    x, y, heading = bicycle.advance((0.0, 0.0, 0.0), 10.0, 0.5, 1.0)
    n, dt = 100_000, 1.0 / 100_000
    hx = hy = hh = 0.0
    rate = 10.0 * math.tan(math.radians(-12.5)) / 2.87  # -0.7724 rad/s
    for _ in range(n):  # midpoint Euler by hand
        mid = hh + 0.5 * rate * dt
        hx += 10.0 * math.cos(mid) * dt
        hy += 10.0 * math.sin(mid) * dt
        hh += rate * dt
    assert heading == pytest.approx(-0.77241, abs=1e-4)
    assert (x, y, heading) == pytest.approx((hx, hy, hh), abs=1e-6)
    assert y < 0  # right turn: towards -y


def test_bicycle_clips_at_the_steering_lock_and_goes_straight_at_zero():
    bicycle = Bicycle(wheelbase_m=2.87, max_steer_deg=25.0)
    assert bicycle.advance((0.0, 0.0, 0.0), 10.0, 3.0, 0.1) == bicycle.advance((0.0, 0.0, 0.0), 10.0, 1.0, 0.1)
    assert bicycle.advance((0.0, 0.0, 0.0), 10.0, 0.0, 0.1) == pytest.approx((1.0, 0.0, 0.0))
