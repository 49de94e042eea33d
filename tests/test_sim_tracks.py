"""Track files: built-ins as JSON, identity by content, paths wherever a track name goes, named errors,
and the challenge track's geometry (hairpins, S-bends, width) and drivability."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from steering.sim import texture
from steering.sim.__main__ import main
from steering.sim.car import CarConfig
from steering.sim.expert import Expert, ExpertConfig
from steering.sim.render import CAMERAS, Renderer
from steering.sim.tracks import TRACKS, get_track, list_tracks, load_track, min_turning_radius_m
from steering.sim.tracks.file_format import TrackFileError, content_hash, read_spec, spec_to_dict, write_spec
from steering.sim.tracks.spec import Bridge, RunOff, Shadows, Width
from steering.sim.world import World, WorldConfig


def oval_dict(**changes) -> dict:
    obj = spec_to_dict(TRACKS["oval"])
    obj.update(changes)
    return obj


def write(tmp_path, obj, name="track.json"):
    path = tmp_path / name
    path.write_text(json.dumps(obj))
    return path


@pytest.mark.parametrize("name", list_tracks())
def test_builtin_track_saved_to_json_and_reloaded_renders_identical_frames(name, tmp_path):
    original = get_track(name)
    path = write_spec(original.spec, tmp_path / f"{name}.json")
    reloaded = get_track(str(path))
    assert reloaded.spec == original.spec and reloaded.key == original.key
    texture._CACHE.clear()  # paint the reloaded track afresh rather than reuse the original's texture
    first = Renderer(original)
    texture._CACHE.clear()
    second = Renderer(reloaded)
    assert first.texture is not second.texture
    for s in (0.0, original.length_m / 3, 2 * original.length_m / 3):
        for camera in CAMERAS:
            assert np.array_equal(first.render(*original.pose_at(s, 0.7), camera),
                                  second.render(*reloaded.pose_at(s, 0.7), camera))


def test_identity_is_the_content_not_the_name_or_the_layout(tmp_path):
    obj = oval_dict()
    tidy = write(tmp_path, obj, "a.json")
    messy = tmp_path / "b.json"
    messy.write_text(json.dumps(dict(reversed(list(obj.items()))), indent=7))  # other key order and spacing
    assert content_hash(read_spec(tidy)) == content_hash(read_spec(messy)) == get_track("oval").key
    recoloured = oval_dict(style={**obj["style"], "asphalt": [60, 60, 60]})  # same name, other content
    other = get_track(str(write(tmp_path, recoloured, "c.json")))
    assert other.name == "oval" and other.key != get_track("oval").key
    pose = get_track("oval").pose_at(20.0)
    road = (slice(100, 130), slice(130, 190))
    assert Renderer(other).render(*pose)[road].mean() < Renderer(get_track("oval")).render(*pose)[road].mean() - 20


def test_a_path_works_wherever_a_track_name_does(tmp_path, capsys):
    path = write(tmp_path, oval_dict(name="my-oval"))
    assert str(path) in list_tracks() and "lake" in list_tracks()
    assert str(tmp_path / "missing.json") not in list_tracks() and "lakes" not in list_tracks()
    world = World(WorldConfig(track=str(path)))
    assert world.track.name == "my-oval" and world.track.length_m == pytest.approx(get_track("oval").length_m)
    assert main(["bench", "--track", str(path), "--frames", "2"]) == 0  # argparse `choices=list_tracks()` lets it in
    assert "frames/s" in capsys.readouterr().out
    with pytest.raises(FileNotFoundError, match="missing.json"):
        get_track(str(tmp_path / "missing.json"))


def expect_error(tmp_path, obj, where: str, words: str) -> TrackFileError:
    path = write(tmp_path, obj)
    with pytest.raises(TrackFileError) as info:
        load_track(path)
    error = info.value
    assert error.source == str(path) and str(path) in str(error)
    assert error.where == where, str(error)
    assert words in error.problem, str(error)
    return error


def test_missing_field_is_named(tmp_path):
    obj = oval_dict()
    del obj["road_width_m"]
    expect_error(tmp_path, obj, "road_width_m", "missing field")
    obj = oval_dict(sections=[{"kind": "width", "to_m": 50}])
    expect_error(tmp_path, obj, "sections[0].from_m", "missing field")


def test_wrong_type_is_named(tmp_path):
    expect_error(tmp_path, oval_dict(road_width_m="nine"), "road_width_m", 'must be a number, got a string "nine"')
    expect_error(tmp_path, oval_dict(control_points=[[0, 0], [40, 0], [60, "20"], [40, 40]]),
                 "control_points[2][1]", "must be a number")
    expect_error(tmp_path, oval_dict(sections=[{"kind": "shadows", "from_m": 1, "to_m": 9, "visible": "yes"}]),
                 "sections[0].visible", "must be true or false")


def test_colour_out_of_range_is_named(tmp_path):
    obj = oval_dict()
    obj["style"] = {**obj["style"], "asphalt": [105, 300, 108]}
    expect_error(tmp_path, obj, "style.asphalt[1]", "colour value 300 is outside 0..255")
    obj["style"] = {**obj["style"], "asphalt": [105, 105]}
    expect_error(tmp_path, obj, "style.asphalt", "must be a colour [r, g, b]")


def test_misspelt_field_and_unknown_section_kind_are_named(tmp_path):
    obj = oval_dict()
    obj["style"] = {**obj["style"], "edge_lines": None}
    expect_error(tmp_path, obj, "style.edge_lines", "did you mean 'edge_line'?")
    expect_error(tmp_path, oval_dict(sections=[{"kind": "tunnel", "from_m": 1, "to_m": 9}]), "sections[0].kind",
                 "must be one of bridge, runoff, width, light, shadows, objects")
    expect_error(tmp_path, oval_dict(sections=[{"kind": "runoff", "from_m": 1, "to_m": 9, "side": "up"}]),
                 "sections[0].side", "'up' is not one of left, right, both")


def test_section_beyond_the_lap_is_named(tmp_path):
    length = get_track("oval").length_m  # 168 m
    expect_error(tmp_path, oval_dict(sections=[{"kind": "bridge", "from_m": 10, "to_m": 400}]), "sections[0].to_m",
                 f"400 is beyond the end of the lap (the track is {length:.1f} m long)")


def test_self_intersecting_road_is_named_with_both_places(tmp_path):
    # Two lobes pinched together: the centre line passes 6.3 m from itself at x = 0 (the road is 9 m wide).
    pinch = [[-60, 0], [-40, -30], [-10, -2], [10, -2], [40, -30], [60, 0], [40, 30], [10, 2], [-10, 2], [-40, 30]]
    error = expect_error(tmp_path, oval_dict(control_points=pinch), "control_points", "self-intersecting road")
    assert "comes within 6.3 m of the road" in error.problem and "needs 9.0 m between centre lines" in error.problem
    assert error.problem.count("near control point") == 2, error.problem


def test_inner_edge_folding_over_is_a_self_intersection(tmp_path):
    # Hairpins of about 5.9 m radius are drivable (> 5.73 m) but a 14 m wide road folds over on their inside.
    hairpin = [
        [0, 0],
        [30, 0],
        [36.0, 2.5],
        [38.5, 8.5],
        [36.0, 14.5],
        [30, 17.0],
        [0, 17.0],
        [-6.0, 14.5],
        [-8.5, 8.5],
        [-6.0, 2.5],
    ]
    track_radius = (
        1 / np.abs(load_track(write(tmp_path, oval_dict(control_points=hairpin, road_width_m=9))).curvature).max()
    )
    assert min_turning_radius_m() < track_radius < 7.0
    expect_error(tmp_path, oval_dict(control_points=hairpin, road_width_m=14), "control_points",
                 "less than half the road width (7.0 m), so the inner edge folds over itself")


def test_curve_tighter_than_the_cars_turning_circle_is_named(tmp_path):
    car = CarConfig()
    # Hand-computed: centre-of-gravity radius at 25 degrees lock = hypot(1.3, 2.6 / tan 25) = 5.73 m.
    assert min_turning_radius_m(car) == pytest.approx(math.hypot(1.3, 2.6 / math.tan(math.radians(25))), abs=1e-9)
    assert min_turning_radius_m(car) == pytest.approx(5.725, abs=0.001)
    tight = [[0, 0], [60, 0], [64, 4], [60, 8], [0, 8], [-4, 4]]
    error = expect_error(
        tmp_path,
        oval_dict(control_points=tight, road_width_m=4),
        "control_points",
        "tighter than the car's minimum turning radius 5.73 m (wheelbase 2.6 m, 25 degree steering lock)",
    )
    assert "near control point 2 [64.0, 4.0]" in error.problem or "near control point 5 [-4.0, 4.0]" in error.problem


def test_invalid_json_names_line_and_column(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"name": "x",\n "road_width_m": 9,,}')
    with pytest.raises(TrackFileError, match=r"broken.json: line 2 column 20: not valid JSON"):
        load_track(path)


def curves(track, min_curvature: float = 1 / 60):
    """(sign, start_m, end_m, turn_deg, min_radius_m) of each stretch bending one way more than `min_curvature`."""
    k = track.curvature
    sign = np.where(np.abs(k) > min_curvature, np.sign(k), 0)
    first = int(np.nonzero(sign == 0)[0][0])
    order = (first + np.arange(len(k))) % len(k)
    runs = np.split(order, np.nonzero(np.diff(sign[order]))[0] + 1)
    return [(int(sign[r[0]]), track.s[r[0]], track.s[r[-1]], math.degrees(k[r].sum() * track.spacing_m),
             1 / np.abs(k[r]).max()) for r in runs if sign[r[0]] != 0]


def test_challenge_track_has_its_hairpins_s_bends_width_and_sections():
    track = get_track("challenge")
    assert track.widths.max() <= 7.0 and track.widths.min() == pytest.approx(6.0)
    bends = curves(track)
    hairpins = [c for c in bends if abs(c[3]) >= 150]
    assert len(hairpins) == 2 and {c[0] for c in hairpins} == {1, -1}, "one hairpin each way"
    for _, _, _, _, radius in hairpins:
        assert min_turning_radius_m() < radius <= 15.0
    s_bends = [(a, b) for a, b in zip(bends, bends[1:], strict=False) if a[0] == -b[0] and b[1] - a[2] < 20
               and min(abs(a[3]), abs(b[3])) >= 25 and max(abs(a[3]), abs(b[3])) < 150]
    assert len(s_bends) >= 2
    kinds = {type(s) for s in track.spec.sections}
    assert {Bridge, RunOff, Shadows, Width} <= kinds
    bridge = track.spec.of_kind(Bridge)[0]
    runoff = track.spec.of_kind(RunOff)[0]
    assert 0 < (runoff.from_m - bridge.to_m) % track.length_m < 15, "the run-off comes right after the bridge"


@pytest.mark.parametrize("recoveries", [False, True])
def test_expert_drives_a_lap_of_the_challenge_track_at_its_default_speed_on_the_road(recoveries):
    world = World(WorldConfig(track="challenge"))
    expert = Expert(ExpertConfig(recoveries=recoveries))  # default cruise speed, 20 mph
    assert expert.config.cruise_speed_mph == 20.0
    off, margin = 0, []
    while world.distance_along_m < world.track.length_m:
        assert world.steps < 3000, f"stuck at {world.progress_m:.0f} m"
        command = expert.run(world)
        info = world.step(command.steering, command.throttle)
        off += info.off_road
        margin.append(world.track.half_width_at(info.progress_m) - abs(info.cte_m))
    assert world.laps_completed == 1 and off == 0
    assert min(margin) > (0.5 if recoveries else 2.4), f"closest to an edge: {min(margin):.2f} m"


def test_the_example_in_docs_tracks_md_loads_and_renders(tmp_path):
    text = (Path(__file__).resolve().parents[1] / "docs" / "tracks.md").read_text()
    example = text.split("```json\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "stadium.json"
    path.write_text(example)
    track = load_track(path)
    assert track.name == "stadium" and track.style.curb_a is None and track.style.asphalt == (90, 90, 95)
    assert [type(s).__name__ for s in track.spec.sections] == ["Bridge", "RunOff", "Objects", "Light"]
    frame = World(WorldConfig(track=str(path), start_progress_m=30.0)).render()  # on the bridge
    deck = frame[100:125, 130:190].reshape(-1, 3).mean(axis=0)
    assert np.abs(deck - (150, 140, 125)).max() < 15, f"the road ahead is the bridge's concrete, got {deck}"
