"""The track registry: a new track is one JSON file, listed with its one-line help wherever `--track` is
asked for, and loadable by name; names stay unique."""
from __future__ import annotations

import json

import pytest

from steering.eval import cli as eval_cli
from steering.sim.__main__ import main as sim_main
from steering.sim.tracks import TRACKS, TrackFileError, get_track, list_tracks, register_track, track_help
from steering.sim.tracks.file_format import spec_to_dict
from steering.sim.world import World, WorldConfig

FOREST_HELP = "held-out track: the oval's centre line under a forest's dark green, for the registry test"


@pytest.fixture()
def forest_file(tmp_path):
    """A track file named "forest" (the oval's centre line, a darker look); the registry is restored afterwards."""
    obj = spec_to_dict(TRACKS["oval"])
    obj.update(name="forest", description=FOREST_HELP, style={**obj["style"], "ground": [40, 70, 35]})
    path = tmp_path / "forest.json"
    path.write_text(json.dumps(obj))
    saved = dict(TRACKS)
    yield path
    TRACKS.clear()
    TRACKS.update(saved)


def help_text(run, argv: list[str], capsys) -> str:
    """What `--help` prints, with argparse's line wrapping undone."""
    with pytest.raises(SystemExit) as info:
        run(argv)
    assert info.value.code == 0
    return " ".join(capsys.readouterr().out.split())


def test_a_registered_track_file_is_in_the_help_of_record_and_evaluate_and_loads_by_name(forest_file, capsys):
    assert "forest" not in list_tracks()
    register_track(forest_file)  # the one call
    assert "forest" in list_tracks()
    assert f"forest: {FOREST_HELP}" in help_text(sim_main, ["record", "--help"], capsys)
    assert f"forest: {FOREST_HELP}" in help_text(eval_cli.main, ["evaluate", "--help"], capsys)
    forest, oval = get_track("forest"), get_track("oval")
    assert forest.name == "forest" and forest.length_m == pytest.approx(oval.length_m)
    assert forest.geometry_key == oval.geometry_key and forest.key != oval.key, "same centre line, other look"
    world = World(WorldConfig(track="forest"))
    assert world.track is forest


def test_every_track_has_a_one_line_help_that_record_help_lists(capsys):
    text = help_text(sim_main, ["record", "--help"], capsys)
    for name in list_tracks():
        line = TRACKS[name].description
        assert line and "\n" not in line, f"track {name!r} needs a one-line description: its --help line"
        assert f"{name}: {line}" in text and f"{name}: {line}" in track_help()
    assert "lake: training track:" in text and "mountain: held-out track:" in text
    assert "challenge: hard held-out track:" in text


def test_a_taken_name_is_refused_unless_replaced_and_the_same_content_again_is_a_no_op(forest_file):
    register_track(forest_file)
    assert register_track(forest_file) == TRACKS["forest"]  # the same file twice: nothing changes
    obj = json.loads(forest_file.read_text())
    other = forest_file.with_name("other.json")
    other.write_text(json.dumps({**obj, "road_width_m": 8.0}))
    with pytest.raises(TrackFileError, match="'forest' is already a registered track") as info:
        register_track(other)
    assert info.value.source == str(other) and info.value.where == "name"
    assert TRACKS["forest"].road_width_m == 9.0
    register_track(other, replace=True)
    assert TRACKS["forest"].road_width_m == 8.0 and get_track("forest").road_width_m == 8.0


def test_a_track_the_car_cannot_drive_is_not_registered(forest_file):
    obj = json.loads(forest_file.read_text())
    tight = forest_file.with_name("tight.json")
    scale = 0.05  # the oval shrunk to a few metres across: tighter than the car's turning circle
    tight.write_text(json.dumps({**obj, "name": "tight", "road_width_m": 3.0,
                                 "control_points": [[x * scale, y * scale] for x, y in obj["control_points"]]}))
    with pytest.raises(TrackFileError, match="minimum turning radius"):
        register_track(tight)
    assert "tight" not in list_tracks()
