"""Weather drawn by the renderer, and perturbations in the simulator: depth, fog with distance, night,
rain, sun glare, a schedule that switches at the stated metre, and the command line."""
from __future__ import annotations

import math

import numpy as np
import pytest

from steering.eval import cli as eval_cli
from steering.perturb import FrameContext, PerturbPlan, Scene, get_perturbation
from steering.perturb.distance_fog import VISIBILITY_M, transmission
from steering.perturb.rain import _fresnel
from steering.perturb.sun_glare import sun_azimuth
from steering.sim.world import World, WorldConfig
from steering.udacity import CAMERAS, FRAME_HEIGHT, FRAME_WIDTH

NEAR_ROWS = slice(118, 128)  # about 3.5-4.5 m ahead, above the hood
FAR_ROWS = slice(66, 72)  # about 25-45 m ahead


@pytest.fixture(scope="module")
def lake():
    """The lake's centre camera at the start: clean frame, its depth, and the renderer's scene."""
    world = World(WorldConfig(track="lake"))
    st, renderer = world.car.state, world.renderer
    depth = np.empty((FRAME_HEIGHT, FRAME_WIDTH), np.float32)
    frame = renderer.render(st.x, st.y, st.heading, "center", depth=depth)
    scene = Scene(depth, renderer.horizon_row, renderer.focal_px, renderer.camera.pitch_deg, st.heading)
    return world, frame, scene


def effect(name: str, frame: np.ndarray, scene: Scene, severity: int, seed: int = 0) -> np.ndarray:
    return get_perturbation(name).apply(frame, severity, FrameContext(np.random.default_rng(seed), seed, scene))


def test_depth_is_zero_on_the_hood_infinite_in_the_sky_and_grows_towards_the_horizon(lake):
    _, _, scene = lake
    depth, column = scene.depth_m, FRAME_WIDTH // 2
    assert np.all(np.isinf(depth[: scene.horizon_row]))
    assert depth[-1, column] == 0  # the hood
    near_road = depth[80:130, column]  # the road from ~20 m to ~4.5 m (a bridge further ahead has its own depth)
    assert np.all(np.diff(near_road) < 0), "ground distance must fall row by row towards the car"
    f, pitch = 80 / math.tan(math.radians(30)), math.radians(7.5)  # the pinhole, by hand
    for row in (NEAR_ROWS.start, FAR_ROWS.start):
        down, across = (row + 0.5 - 80) / f, (column + 0.5 - 160) / f
        forward, up = math.cos(pitch) - down * math.sin(pitch), -math.sin(pitch) - down * math.cos(pitch)
        assert depth[row, column] == pytest.approx(math.hypot(forward, across) * 1.6 / -up, rel=1e-4)


def test_fog_density_grows_with_distance(lake):
    _, clean, scene = lake
    fogged = effect("distance_fog", clean, scene, 3)  # visibility 55 m
    change = np.abs(fogged.astype(float) - clean).mean(axis=(1, 2))
    near, far = change[NEAR_ROWS].mean(), change[FAR_ROWS].mean()
    assert far > 3 * near, f"fog changed far rows by {far:.1f}, near rows by {near:.1f}"
    # Koschmieder: contrast falls by the transmission exp(-3.912 d / 55 m): ~0.75 at 4 m, below 0.2 from 25 m on
    kept_near = fogged[NEAR_ROWS].std() / clean[NEAR_ROWS].std()
    expected = np.exp(-3.912 * scene.depth_m[NEAR_ROWS, 100:220] / 55).mean()
    assert kept_near == pytest.approx(expected, abs=0.05), f"near contrast kept {kept_near:.2f}, not {expected:.2f}"
    kept_far = fogged[FAR_ROWS].std() / clean[FAR_ROWS].std()
    assert kept_far < 0.3 < kept_near, f"contrast kept far {kept_far:.2f}, near {kept_near:.2f}"
    assert np.all(fogged[: scene.horizon_row] == (196, 200, 204))  # the sky is all air light
    assert transmission(np.float32([[0, VISIBILITY_M[2], np.inf]]), 3)[0].tolist() == pytest.approx(
        [1.0, math.exp(-3.912), 0.0], rel=1e-4)


def test_thicker_fog_at_each_severity(lake):
    _, clean, scene = lake
    change = [np.abs(effect("distance_fog", clean, scene, s).astype(float) - clean)[FAR_ROWS].mean()
              for s in range(1, 6)]
    assert all(a < b for a, b in zip(change, change[1:], strict=False)), change


def test_night_leaves_the_road_lit_by_the_headlights_and_the_rest_dark(lake):
    _, clean, scene = lake
    dark = effect("night", clean, scene, 4)
    kept = dark.astype(float).mean(axis=2) / np.maximum(clean.astype(float).mean(axis=2), 1)
    centre = slice(140, 180)
    assert kept[NEAR_ROWS, centre].mean() > 0.8  # lit by the low beams
    assert kept[FAR_ROWS, centre].mean() < 0.4  # beyond them: ambient 13 % plus a little beam
    assert kept[NEAR_ROWS, :40].mean() < kept[NEAR_ROWS, centre].mean() - 0.3  # outside the beam's lobe
    assert dark[: scene.horizon_row].mean() < 40


def test_rain_streaks_move_each_frame_and_the_wet_road_shines_more_far_away(lake):
    _, clean, scene = lake
    first, second = effect("rain", clean, scene, 3, seed=0), effect("rain", clean, scene, 3, seed=1)
    assert not np.array_equal(first, second)
    assert np.array_equal(first, effect("rain", clean, scene, 3, seed=0))
    assert first.mean() < clean.mean()  # overcast
    assert _fresnel(np.float32([0.0]))[0] == pytest.approx(0.0201, abs=1e-3)  # water head-on
    assert list(_fresnel(np.float32([2, 10, 40]))) == sorted(_fresnel(np.float32([2, 10, 40])))


def test_sun_glare_only_when_the_sun_is_ahead(lake):
    _, clean, scene = lake
    azimuth = sun_azimuth(0)
    facing = Scene(scene.depth_m, scene.horizon_row, scene.focal_px, scene.pitch_deg, azimuth)
    away = Scene(scene.depth_m, scene.horizon_row, scene.focal_px, scene.pitch_deg, azimuth + math.pi)
    glare = effect("sun_glare", clean, facing, 3)
    assert glare.astype(float).mean() > clean.mean() + 15
    # the sun, 4 degrees above the horizon straight ahead: column 160, row 80 - f tan(4 + 7.5 degrees) = 52
    assert glare[48:56, 150:170].mean(axis=2).min() > 220 > 190 > clean[48:56, 150:170].mean(axis=2).max()
    assert np.array_equal(effect("sun_glare", clean, away, 5), clean)


def drive_until(world: World, metres: float) -> None:
    while world.distance_along_m < metres:
        world.step(0.0, 0.5)


@pytest.mark.parametrize("text", ["distance_fog:4@6-12", "gaussian_noise:2@6-12"])
def test_schedule_switches_at_the_stated_metre(text):
    clean = World(WorldConfig(track="lake"))
    world = World(WorldConfig(track="lake", perturb=PerturbPlan.parse("", text)))
    seen = []
    while world.distance_along_m < 13:
        for w in (clean, world):
            w.step(0.0, 0.6)
        seen.append((world.distance_along_m, not np.array_equal(world.render(), clean.render())))
    before = [changed for d, changed in seen if d < 6]
    inside = [changed for d, changed in seen if 6 <= d < 12]
    after = [changed for d, changed in seen if d >= 12]
    assert before and inside and after
    assert not any(before) and all(inside) and not any(after), seen


def test_every_camera_is_perturbed_and_rendering_a_step_twice_gives_the_same_frames():
    world = World(WorldConfig(track="lake", perturb=PerturbPlan.parse("gaussian_noise:3,rain:2")))
    clean = World(WorldConfig(track="lake")).render_all()
    frames = world.render_all()
    assert list(frames) == list(CAMERAS)
    for camera in CAMERAS:
        assert not np.array_equal(frames[camera], clean[camera])
        assert np.array_equal(frames[camera], world.render(camera))


def test_perturb_list_prints_every_name(capsys):
    with pytest.raises(SystemExit) as exit_:
        eval_cli.main(["suite", "--perturb", "list"])  # no model needed, as with --help
    assert exit_.value.code == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert "gaussian_noise" in names and "jpeg_compression" in names and "distance_fog" in names
    assert len(names) == 23


def test_bad_perturb_name_fails_the_command_with_close_matches(capsys):
    with pytest.raises(SystemExit) as exit_:
        eval_cli.main(["evaluate", "model.pt", "--perturb", "jpeg_compresion:2"])
    assert exit_.value.code == 2
    assert "did you mean jpeg_compression" in capsys.readouterr().err


def test_bench_times_the_clean_render_and_each_requested_perturbation():
    from bench import perturb as bench_perturb  # the benchmark imports torch (machine facts): only here

    result = bench_perturb.run(bench_perturb.PerturbBenchConfig(severity=2, names=("contrast", "night"), repeats=3,
                                                                budget_s=5.0))
    rows = result.rows
    assert [row.name for row in rows] == ["clean", "contrast", "night"]
    assert rows[0].alone is None and all(row.alone > 0 for row in rows[1:])
    assert all(row.render > 0 for row in rows)
    assert "| night | render | renderer depth |" in bench_perturb.table(result)
