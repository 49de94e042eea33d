"""Track sections change the rendered frame where they should, and style randomisation between laps.

Each test renders one pose of a straight with and without the feature. Both tracks share the centre
line, so they share the ground grain (`Track.geometry_key`), and pixel-by-pixel comparisons hold.
"""
from __future__ import annotations

import csv
import datetime as dt

import numpy as np
import pytest

from steering.preprocess import read_frame
from steering.sim.expert import ExpertConfig
from steering.sim.randomize import random_spec
from steering.sim.recorder import RecordConfig, record
from steering.sim.render import Renderer
from steering.sim.scenery import POST, Scenery, build_scenery
from steering.sim.sprites import SpriteLayer
from steering.sim.tracks import Track, check_geometry, get_track
from steering.sim.tracks.spec import Bridge, Light, Objects, RunOff, Shadows, TrackSpec, TrackStyle, Width
from steering.sim.world import World, WorldConfig

# A stadium: the bottom side runs straight east along y = 0 from about 6 m to 112 m of progress.
STADIUM = ((0, 0), (40, 0), (80, 0), (120, 0), (150, 10), (160, 40), (150, 70), (120, 80), (80, 80), (40, 80),
           (0, 80), (-30, 70), (-40, 40), (-30, 10))
STYLE = TrackStyle(shoulder=None, curb_a=None)  # yellow edge lines on grey asphalt, no curbs or shoulder
ROW = 95  # 6.6 m ahead of the camera


def stadium(*sections, width: float = 9.0) -> Track:
    track = Track(TrackSpec(name="stadium", control_points=STADIUM, road_width_m=width, style=STYLE, sections=sections))
    check_geometry(track, "stadium")
    return track


def yellow(pixels: np.ndarray) -> np.ndarray:
    p = pixels.astype(int)
    return (p[..., 0] > 160) & (p[..., 1] > 140) & (p[..., 2] < 110)


def frames(track: Track, s: float, offset_m: float = 0.0) -> np.ndarray:
    return Renderer(track).render(*track.pose_at(s, offset_m)).astype(int)


def test_a_shadow_darkens_the_road_under_it_and_nothing_else():
    plain = frames(stadium(), 20.0)
    shade = frames(stadium(Shadows(from_m=25, to_m=80, caster="tree", side="left", spacing_m=10, darkness=0.5,
                                   length_m=12, angle_deg=0, visible=False)), 20.0)  # casters out of view
    assert np.all(shade <= plain + 1), "shadows only darken"
    ratio = (shade.sum(axis=2) + 1) / (plain.sum(axis=2) + 1)
    darker = ratio < 0.6
    assert np.array_equal(shade[:62], plain[:62]), "the sky is untouched"
    rows, cols = np.nonzero(darker)
    assert len(rows) > 300 and rows.min() >= 62
    core = ratio[darker]
    assert np.median(core) == pytest.approx(0.5, abs=0.04), "darkness 0.5 keeps half the light"
    road = (plain[..., :].max(axis=2) - plain.min(axis=2) < 25) & darker  # grey asphalt pixels in shadow
    assert road.sum() > 200
    shaded_rows = darker[62:140, 100:220].mean(axis=1) > 0.2
    patches = np.count_nonzero(np.diff(shaded_rows.astype(int)) == 1) + int(shaded_rows[0])
    assert patches >= 2, "trees every 10 m: patches of shade across the road with sun between"


def test_a_bridge_has_no_edge_lines_and_walls_beside_the_road():
    plain = frames(stadium(), 30.0)
    bridge = frames(stadium(Bridge(from_m=20, to_m=110)), 30.0)
    assert yellow(plain[ROW]).sum() >= 4, "the plain road shows both edge lines"
    assert yellow(bridge[80:140]).sum() == 0, "no edge line anywhere on the bridge"
    wall = np.asarray(Bridge.wall, float) * 0.72  # the darkest shade a panel gets
    near_wall = np.all(np.abs(bridge[80:100, :20] - np.asarray(Bridge.wall)) < 60, axis=2)
    assert near_wall.mean() > 0.5 and not np.all(np.abs(plain[80:100, :20] - wall) < 20), "a wall on the left"


def test_a_run_off_edge_has_no_marking_and_road_like_ground_beyond_it():
    plain = frames(stadium(), 40.0)
    runoff = frames(stadium(RunOff(from_m=30, to_m=110, side="right", width_m=10)), 40.0)
    left, right = slice(0, 160), slice(160, 320)
    assert yellow(plain[ROW, left]).sum() >= 2 and yellow(plain[ROW, right]).sum() >= 2
    assert yellow(runoff[ROW, left]).sum() >= 2, "the other edge keeps its line"
    assert yellow(runoff[80:140, right]).sum() == 0, "no marking on the run-off edge"
    beyond = (slice(80, 110), slice(300, 320))  # beyond the right edge: off the road
    saturation = lambda f: (f[beyond].max(axis=2) - f[beyond].min(axis=2)).mean()  # noqa: E731
    assert saturation(runoff) < saturation(plain) - 15, "the run-off is grey like the road, not brown ground"


def test_a_tree_sprite_hides_what_is_behind_it():
    trees = stadium(Objects(from_m=40, to_m=60, object="tree", side="right", spacing_m=20, offset_m=1.0))
    scenery = build_scenery(trees)
    assert len(scenery.x) == 1 and 40 < scenery.x[0] < 62 and scenery.y[0] < -5.5
    plain, tree = frames(stadium(), 20.0), frames(trees, 20.0)
    changed = np.any(tree != plain, axis=2)
    rows, cols = np.nonzero(changed)
    assert cols.min() > 160, "the tree stands right of the road"
    green = (tree[..., 1] > tree[..., 0] + 10) & (tree[..., 1] > tree[..., 2] + 10) & changed
    assert green.sum() > 100
    sky_hidden = changed[:62].sum()
    assert sky_hidden > 50, "its canopy hides the sky behind it"


def test_a_nearer_sprite_is_drawn_over_a_farther_one():
    scenery = Scenery(x=np.array([20.0, 10.0]), y=np.array([0.0, 0.0]), width_m=np.array([4.0, 0.3]),
                      height_m=np.array([6.0, 1.2]), sprite=np.array([0, POST]))
    layer = SpriteLayer(scenery, 138.56, 1.6, 7.5, 160.0, 40.0, np.zeros(3))
    frame = np.zeros((160, 320, 3), np.uint8)
    layer.draw(frame, 0.0, 0.0, 0.0)  # looking east along y = 0: the post 10 m ahead, the tree 20 m ahead
    column = frame[:, 160].astype(int)
    post_rows = np.nonzero(np.all(column > 200, axis=1) | np.all(np.abs(column - (240, 130, 30)) < 30, axis=1))[0]
    assert len(post_rows) > 5, "the post (white, orange reflector) shows in the middle column"
    tree_rows = np.nonzero((column[:, 1] > column[:, 0]) & (column[:, 1] > 30))[0]
    assert len(tree_rows) > 5 and tree_rows.min() < post_rows.min(), "the taller tree shows above the post"
    assert not np.intersect1d(tree_rows, post_rows).size, "where both are, the nearer post wins"


def test_light_section_scales_the_whole_frame_where_the_car_is():
    lit = stadium(Light(from_m=30, to_m=90, brightness=0.5, colour=(255, 255, 255)))
    renderer, plain_renderer = Renderer(lit), Renderer(stadium())
    inside, outside = lit.pose_at(60.0), lit.pose_at(140.0)
    dim, plain = renderer.render(*inside).astype(int), plain_renderer.render(*inside).astype(int)
    assert np.abs(dim - np.round(plain * 0.5)).max() <= 1, "brightness 0.5 halves every pixel, sky and hood too"
    assert np.array_equal(renderer.render(*outside), plain_renderer.render(*outside))


def road_width_px(frame: np.ndarray, row: int = ROW) -> int:
    pixels = frame[row].astype(int)
    grey = (pixels.max(axis=1) - pixels.min(axis=1) < 25) & (pixels.mean(axis=1) > 50) & (pixels.mean(axis=1) < 160)
    columns = np.nonzero(grey)[0]
    runs = np.split(columns, np.nonzero(np.diff(columns) > 12)[0] + 1)
    road = max(runs, key=lambda run: run[-1] - run[0])
    return int(road[-1] - road[0])


def test_a_narrow_section_narrows_the_road_in_view_and_for_off_road():
    narrow = stadium(Width(from_m=30, to_m=110, width_m=6.0))
    wide, thin = road_width_px(frames(stadium(), 60.0)), road_width_px(frames(narrow, 60.0))
    assert thin / wide == pytest.approx(6.0 / 9.0, abs=0.06)
    assert narrow.half_width_at(60.0) == pytest.approx(3.0) and narrow.half_width_at(140.0) == pytest.approx(4.5)
    assert narrow.half_width_at(35.0) == pytest.approx(3.0 + 1.5 * (1 - 0.5 ** 2 * (3 - 2 * 0.5)), abs=0.05)  # ramp
    world = World(WorldConfig(), track=narrow)
    world.reset(progress_m=60.0, offset_m=3.2)
    assert world.off_road, "3.2 m from centre is off a 6 m road"
    world.reset(progress_m=140.0, offset_m=3.2)
    assert not world.off_road, "but on a 9 m one"


def test_random_style_is_reproducible_per_seed_and_lap_and_keeps_the_geometry():
    lake = get_track("lake")
    a = random_spec(lake, np.random.default_rng([7, 0]))
    assert a == random_spec(lake, np.random.default_rng([7, 0]))
    b = random_spec(lake, np.random.default_rng([7, 1]))
    assert a.style != b.style and a.control_points == b.control_points == lake.spec.control_points
    for spec in (a, b):
        check_geometry(Track(spec), "random")  # sections stay inside the lap
        assert abs(np.mean(spec.style.asphalt) - np.mean(spec.style.ground)) >= 18, "the road stays visible"
    (bridge,) = [s for s in lake.spec.sections if isinstance(s, Bridge)]
    (bridge_a,), (bridge_b,) = ([s for s in spec.sections if isinstance(s, Bridge)] for spec in (a, b))
    assert (bridge_a.from_m, bridge_a.to_m) == (bridge_b.from_m, bridge_b.to_m) == (bridge.from_m, bridge.to_m)
    assert len({bridge.surface, bridge_a.surface, bridge_b.surface}) == 3, "each lap paints the deck anew"
    # decks are grey 90..180, the blue channel x0.9, each channel jittered +-10
    assert bridge_a.wall != bridge_b.wall and all(71 <= v <= 190 for v in bridge_a.surface + bridge_b.surface)


@pytest.fixture(scope="module")
def randomized_recordings(tmp_path_factory):
    """Two recordings of 1.2 oval laps with randomize_style, same seed; and one without."""
    start = dt.datetime(2024, 5, 1, 12, 0, 0)
    runs = []
    for name, randomize in (("a", True), ("b", True), ("plain", False)):
        out = tmp_path_factory.mktemp(name)
        summary = record(out, WorldConfig(track="oval", seed=4), ExpertConfig(recoveries=False),
                         RecordConfig(laps=1.2, start_time=start, progress=False, randomize_style=randomize))
        runs.append((out, summary))
    return runs


def centre_frames_by_lap(out) -> dict[int, list]:
    rows = list(csv.DictReader(open(out / "sim_trace.csv")))
    laps: dict[int, list] = {}
    for row in rows:
        laps.setdefault(int(row["laps"]), []).append((float(row["progress_m"]), out / "IMG" / row["center"]))
    return laps


def test_randomize_style_changes_the_look_each_lap_reproducibly(randomized_recordings):
    (a, summary_a), (b, summary_b), (plain, summary_plain) = randomized_recordings
    assert len(set(summary_a.track_keys)) == 2 and summary_a.track_keys == summary_b.track_keys
    assert summary_plain.track_keys == [get_track("oval").key] * 2, "without it, both laps look the same"
    laps = centre_frames_by_lap(a)
    p1, second = laps[1][5]  # early in the second lap, and the first lap's frame nearest that spot
    p0, first = min(laps[0], key=lambda item: abs(item[0] - p1))
    assert abs(p0 - p1) < 1.0
    road = (slice(95, 130), slice(120, 200))
    assert np.abs(read_frame(first)[road].mean(axis=(0, 1)) - read_frame(second)[road].mean(axis=(0, 1))).max() > 8
    for (_, frame_a), (_, frame_b) in zip(laps[1][:20], centre_frames_by_lap(b)[1][:20], strict=False):
        assert frame_a.read_bytes() == frame_b.read_bytes(), "the same seed records the same frames"
