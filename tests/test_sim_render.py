"""Camera frames: where the road appears for a given pose, determinism, and the frame's layout."""
from __future__ import annotations

import math

import numpy as np
import pytest

from steering.sim.render import CameraConfig, Renderer
from steering.sim.texture import paint_ground
from steering.sim.tracks import get_track
from steering.sim.world import World, WorldConfig

ROW = 95  # 6.6 m ahead: the whole road is in view and no haze yet


def straightest_progress(track) -> float:
    """Progress at the start of the track's straightest 30 m."""
    window = int(30 / track.spacing_m)
    curv = np.abs(track.curvature)
    worst = [curv[np.arange(i, i + window) % len(curv)].max() for i in range(0, len(curv), 8)]
    return float(np.argmin(worst) * 8 * track.spacing_m)


def road_centre_column(frame: np.ndarray, row: int = ROW) -> float:
    """Midpoint of the widest run of asphalt pixels (grey, mid-bright) in `row`; gaps of up to 12 px
    (the painted edge lines) are bridged, stray grey pixels off the road are not."""
    pixels = frame[row].astype(int)
    grey = (pixels.max(axis=1) - pixels.min(axis=1) < 25) & (pixels.mean(axis=1) > 50) & (pixels.mean(axis=1) < 160)
    columns = np.nonzero(grey)[0]
    assert len(columns) > 40, f"no road found in row {row}"
    runs = np.split(columns, np.nonzero(np.diff(columns) > 12)[0] + 1)
    road = max(runs, key=lambda run: run[-1] - run[0])
    return (road[0] + road[-1]) / 2


def expected_shift_px(lateral_m: float, row: int = ROW, cam: CameraConfig | None = None) -> float:
    """Hand-derived: a ground point `lateral_m` sideways, seen in `row`, moves f * lateral / depth pixels."""
    cam = cam or CameraConfig()
    f = 80 / math.tan(math.radians(cam.vfov_deg / 2))  # 138.6 px
    pitch = math.radians(cam.pitch_deg)
    v = (row + 0.5 - 80) / f
    depth = cam.height_m / (math.sin(pitch) + v * math.cos(pitch))  # along the optical axis, to the ground
    return f * lateral_m / depth


@pytest.fixture(scope="module")
def lake():
    track = get_track("lake")
    return track, Renderer(track), straightest_progress(track)


def test_centred_car_sees_the_road_in_the_middle(lake):
    track, renderer, s = lake
    frame = renderer.render(*track.pose_at(s), camera="center")
    assert road_centre_column(frame) == pytest.approx(160, abs=3)


def test_car_left_of_centre_sees_the_road_shifted_right_and_the_left_camera_further(lake):
    track, renderer, s = lake
    offset = -1.5  # 1.5 m left of centre
    pose = track.pose_at(s, offset)
    centred = road_centre_column(renderer.render(*track.pose_at(s), camera="center"))
    center = road_centre_column(renderer.render(*pose, camera="center"))
    left = road_centre_column(renderer.render(*pose, camera="left"))
    right = road_centre_column(renderer.render(*pose, camera="right"))
    assert center - centred == pytest.approx(expected_shift_px(1.5), abs=4)  # ~31 px
    assert left - center == pytest.approx(expected_shift_px(CameraConfig().side_offset_m), abs=4)  # ~17 px more
    assert right < center < left


def test_heading_left_of_the_road_moves_the_road_right(lake):
    track, renderer, s = lake
    x, y, heading = track.pose_at(s)
    straight = road_centre_column(renderer.render(x, y, heading))
    turned = road_centre_column(renderer.render(x, y, heading + math.radians(5)))  # nose 5 degrees left
    assert turned > straight + 5


def test_frame_layout_sky_on_top_hood_at_the_bottom(lake):
    track, renderer, s = lake
    frame = renderer.render(*track.pose_at(s))
    assert frame.shape == (160, 320, 3) and frame.dtype == np.uint8
    sky = frame[:30].reshape(-1, 3).mean(axis=0)
    assert sky[2] > sky[0] + 40, f"the lake's sky should be blue, got {sky}"
    assert renderer.horizon_row == 62
    hood = frame[155, 150:170].astype(int)
    assert np.all(np.abs(hood - hood[0]) <= 2), "the hood is a smooth painted surface"
    left_hood = renderer.render(*track.pose_at(s), camera="left")[155]
    assert not np.array_equal(left_hood, frame[155]), "the left camera sees the hood shifted"


def test_same_seed_paints_and_renders_identical_frames_another_seed_differs():
    track = get_track("oval")
    first, second = paint_ground(track, 0.1, seed=3), paint_ground(track, 0.1, seed=3)
    assert np.array_equal(first.levels[0], second.levels[0])
    frames = []
    for seed in (0, 0, 1):
        world = World(WorldConfig(track="oval", seed=seed, start_speed_mph=10))
        for _ in range(20):
            world.step(-0.2, 0.3)
        frames.append(world.render_all())
    for camera in ("center", "left", "right"):
        assert np.array_equal(frames[0][camera], frames[1][camera])
    assert not np.array_equal(frames[0]["center"], frames[2]["center"])


def test_held_out_track_looks_different(lake):
    track, renderer, s = lake
    mountain = get_track("mountain")
    lake_frame = renderer.render(*track.pose_at(s))
    mountain_frame = Renderer(mountain).render(*mountain.pose_at(0.0))
    lake_road = lake_frame[100:130, 120:200].reshape(-1, 3).mean(axis=0)
    mountain_road = mountain_frame[100:130, 120:200].reshape(-1, 3).mean(axis=0)
    assert lake_road.mean() > mountain_road.mean() + 20, "the mountain's asphalt is darker"


def test_unity_rig_puts_horizon_bonnet_and_road_where_the_simulators_camera_does(lake):
    track, _, s = lake
    cam = CameraConfig.unity()
    renderer = Renderer(track, cam)
    # 1.25 m high, 7.9 deg down: horizon at 80 - 138.6 tan(7.9 deg) = 60.8, first ground row 61
    assert (cam.height_m, cam.pitch_deg) == (1.25, 7.9)
    assert renderer.horizon_row == 61
    # the bonnet's nose at the centre column starts at the simulator's row 135 (steering.udacity.HOOD_TOP_ROW)
    _, mask = renderer._hoods["center"]
    assert int(np.argmax(mask[:, 160, 0])) == pytest.approx(135, abs=1)
    # lower camera: the same 1.5 m offset moves the road further than with the default rig (~35 vs ~31 px at row 95)
    frame = renderer.render(*track.pose_at(s), camera="center")
    shifted = renderer.render(*track.pose_at(s, -1.5), camera="center")
    moved = road_centre_column(shifted) - road_centre_column(frame)
    assert moved == pytest.approx(expected_shift_px(1.5, cam=cam), abs=4)
    assert expected_shift_px(1.5, cam=cam) > expected_shift_px(1.5) + 5
    assert CameraConfig.named("unity") == cam and CameraConfig.named("default") == CameraConfig()
    with pytest.raises(ValueError, match="unknown camera rig"):
        CameraConfig.named("fisheye")
