"""The Unity-lake family of random looks (`randomize.random_lake_spec`): its markings, water, determinism,
how families mix per lap, and the colour range its crops cover.

Pixel tests paint one fixed lake style on a stadium whose bottom side runs straight east along y = 0
(progress ~6-112 m) and whose ends are curves of ~40 m radius, so where each marking lands is known.
"""
from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest

from steering.preprocess import PreprocessConfig, crop_resize
from steering.sim.__main__ import main
from steering.sim.randomize import LOOKS, random_lake_style, random_spec, random_track
from steering.sim.render import CameraConfig, Renderer
from steering.sim.scenery import build_scenery
from steering.sim.texture import CURB_BLOCK_M, CURB_WIDTH_M, WATER_GAP_M, world_texture
from steering.sim.texture_features import EDGE_LINE_INSET_M
from steering.sim.tracks import Track, check_geometry, get_track
from steering.sim.tracks.spec import Light, Objects, TrackSpec

STADIUM = ((0, 0), (40, 0), (80, 0), (120, 0), (150, 10), (160, 40), (150, 70), (120, 80), (80, 80), (40, 80),
           (0, 80), (-30, 70), (-40, 40), (-30, 10))


def lake_stadium(seed: int = 5, **style) -> Track:
    """The stadium in one lake look (no sections: no light, shadows or objects to move pixels)."""
    look = dataclasses.replace(random_lake_style(np.random.default_rng(seed)), **style)
    track = Track(TrackSpec(name="stadium", control_points=STADIUM, road_width_m=9.0, style=look))
    check_geometry(track, "stadium")
    return track


def ground_pixel(camera: CameraConfig, forward_m: float, left_m: float) -> tuple[int, int]:
    """(row, column) of a ground point `forward_m` ahead of and `left_m` left of the camera (pinhole, pitched)."""
    f = 80 / math.tan(math.radians(camera.vfov_deg) / 2)
    p = math.radians(camera.pitch_deg)
    z = forward_m * math.cos(p) + camera.height_m * math.sin(p)
    return (round(80 + f * (camera.height_m * math.cos(p) - forward_m * math.sin(p)) / z - 0.5),
            round(160 - f * left_m / z - 0.5))


@pytest.mark.parametrize("rig", ["default", "unity"])
def test_lake_look_paints_yellow_edge_lines_where_the_road_edges_are_and_no_centre_line(rig):
    track = lake_stadium()
    camera = CameraConfig.named(rig)
    frame = Renderer(track, camera).render(*track.pose_at(30.0)).astype(int)
    edge = track.half_width_m - EDGE_LINE_INSET_M  # 4.15 m either side of the centre
    for left in (edge, -edge):
        row, col = ground_pixel(camera, 8.0, left)
        pixels = frame[row, col - 3 : col + 4]
        r, g, b = pixels[np.argmax(pixels[:, 0] - pixels[:, 2])]
        assert r > b + 70 and g > b + 50, f"yellow at {left:+.2f} m (row {row}, col {col}): {(r, g, b)}"
    row, col = ground_pixel(camera, 8.0, 0.0)
    centre = frame[row - 2 : row + 3, col - 20 : col + 21]
    assert np.all(np.abs(centre[..., 0] - centre[..., 2]) < 25), "grey asphalt, no yellow or white centre line"


def test_asphalt_grain_scales_the_roads_texture_contrast():
    """The grain is added linearly, so doubling `asphalt_grain` doubles the asphalt's spread around its mean."""
    spreads = []
    for grain in (1.8, 3.6):
        track = lake_stadium(asphalt=(140, 140, 140), asphalt_grain=grain)
        frame = Renderer(track).render(*track.pose_at(30.0)).astype(float)
        spreads.append(frame[120:135, 130:190].std())  # 3-4 m ahead, the middle of the lane
    assert spreads[1] / spreads[0] == pytest.approx(2.0, abs=0.15)
    assert spreads[1] > 15


def test_lake_look_curbs_alternate_red_and_white_along_the_curve_and_not_on_the_straight():
    track = lake_stadium()
    texture = world_texture(track)
    out = track.half_width_m + CURB_WIDTH_M / 2

    def colours(s_values):
        kinds = []
        for s in s_values:
            x, y, heading = track.pose_at(s)
            px, py = x - math.sin(heading) * out, y + math.cos(heading) * out  # on the left edge's curb
            texel = int((texture.y1 - py) / texture.res_m), int((px - texture.x0) / texture.res_m)
            r, g, b = texture.levels[0][texel].astype(int)
            kinds.append("red" if r > g + 60 else "white" if min(r, g, b) > 150 else "other")  # blends at borders
        return kinds

    step = CURB_BLOCK_M / 4
    curve = colours(np.arange(150.0, 170.0, step))  # the east curve
    assert set(curve) == {"red", "white"}
    runs = [len(list(group)) for _, group in itertools.groupby(curve)][1:-1]
    assert all(3 <= n <= 6 for n in runs), f"1 m blocks (a little longer outside the curve), ~4 samples: {runs}"
    assert "red" not in colours(np.arange(30.0, 60.0, step)), "no curbs on the straight"


def test_water_lies_beside_the_road_but_never_within_four_metres_of_its_edge():
    water = (40, 90, 200)
    track = lake_stadium(water=water, ground=(170, 150, 100), ground_alt=(170, 150, 100))
    image = world_texture(track).levels[0].astype(int)
    wet = np.all(np.abs(image - water) < 40, axis=2)
    assert 0.05 < wet.mean() < 0.7, "ponds over part of the ground"
    texture = world_texture(track)
    for s in np.arange(0.0, track.length_m, 2.0):
        x, y, heading = track.pose_at(s)
        for side in (1, -1):
            d = track.half_width_m + WATER_GAP_M - 0.5
            px, py = x - side * math.sin(heading) * d, y + side * math.cos(heading) * d
            assert not wet[int((texture.y1 - py) / texture.res_m), int((px - texture.x0) / texture.res_m)]


def test_lake_looks_are_reproducible_and_mixing_families_keeps_each_classic_lap(capsys, tmp_path):
    lake = get_track("lake")
    mixed = [random_track(lake, 3, lap, ("classic", "lake")).spec for lap in range(8)]
    assert mixed == [random_track(lake, 3, lap, ("classic", "lake")).spec for lap in range(8)]
    families = ["lake" if "random lake look" in spec.description else "classic" for spec in mixed]
    assert families == ["classic", "lake"] * 4, "families in turn, so every mix holds each of them"
    for lap, (spec, family) in enumerate(zip(mixed, families, strict=True)):
        assert spec.control_points == lake.spec.control_points
        if family == "classic":
            assert spec == random_spec(lake, np.random.default_rng([3, lap])), "the same lap as without mixing"
        else:
            r, g, b = spec.style.edge_line
            assert spec.style.centre_line is None and r > 180 and g > 150 and b < 90
            assert all(0.95 <= s.brightness <= 1.3 for s in spec.sections if isinstance(s, Light))
            assert any(isinstance(s, Objects) for s in spec.sections), "trees or hillsides beside the road"
    with pytest.raises(ValueError, match="unknown look"):
        random_track(lake, 3, 0, ("lakes",))
    with pytest.raises(SystemExit):
        main(["record", "--out", str(tmp_path), "--randomize-style", "--looks", "classic,lakes"])
    assert "unknown look 'lakes'; choose from classic, lake" in capsys.readouterr().err
    assert set(LOOKS) == {"classic", "lake"}


def test_lake_look_trees_and_hillsides_stay_clear_of_the_whole_road():
    lake = get_track("lake")
    for lap in range(6):
        look = random_track(lake, 11, lap, ("lake",))
        objects = tuple(s for s in look.spec.sections if isinstance(s, Objects))  # not the bridge walls, shadows
        track = Track(dataclasses.replace(look.spec, sections=objects))
        scenery = build_scenery(track)
        things = np.vstack([np.stack([scenery.x, scenery.y], 1), scenery.panel_a, scenery.panel_b])
        gap = np.sqrt(((things[:, None] - track.points[None, ::4]) ** 2).sum(-1)).min(axis=1)
        assert gap.min() > track.half_width_m + 1.0


def test_lake_look_crops_are_brighter_than_classic_ones_and_span_the_real_lakes_brightness():
    """The model's crops of 4 laps x 2 poses, each lap in both families (textures at 0.2 m to keep it quick).
    The real lake's crops have a median grey of 137 (docs/realdata.md: 60 crops of lake-two-laps-mouse);
    classic looks sit around 120, below it; the lake family's crops must reach either side of it."""
    lake = get_track("lake")
    grey = {"classic": [], "lake": []}
    for family, values in grey.items():
        for lap in range(4):
            track = random_track(lake, 0, lap, (family,))
            renderer = Renderer(track, CameraConfig.unity(), texture_res_m=0.2)
            for s in (40.0 + 60 * lap, 300.0 + 60 * lap):
                values.append(crop_resize(renderer.render(*track.pose_at(s)), PreprocessConfig()).mean())
    assert min(grey["lake"]) < 137 < max(grey["lake"])
    assert np.mean(grey["lake"]) > np.mean(grey["classic"]) + 10
