"""Tracks of the headless simulator: what a track is, its file format, its geometry, and the registry.

- `spec`        what a track file holds: `TrackSpec` (centre-line control points, road width), its look
                (`TrackStyle`) and sections (bridge, run-off, width, light, shadows, objects); plain dataclasses
- `file_format` track JSON files <-> `TrackSpec`: checked field by field (`TrackFileError` names the file and
                field), written back readably; `content_hash`, a track's identity
- `geometry`    `Track`: the centre line built from a spec (periodic cubic B-spline), CTE/progress projection
                (CTE > 0 = right of centre), and `check_geometry` (can the car drive it?)
- `registry`    every track by name with its one-line help; `get_track(NAME|PATH.json)`, `list_tracks`,
                `register_track`: a new track is one JSON file (in `steering/sim/track_data/` or registered)

docs/tracks.md describes the file format. Drawing a track is `texture.py` / `scenery.py` / `render.py`'s job.
"""
from steering.sim.tracks.file_format import TrackFileError
from steering.sim.tracks.geometry import Projection, Track, check_geometry, min_turning_radius_m
from steering.sim.tracks.registry import (
    TRACKS,
    get_track,
    list_tracks,
    load_track,
    register_track,
    track_help,
)
from steering.sim.tracks.spec import TrackSpec, TrackStyle

__all__ = ["Projection", "Track", "TrackSpec", "TrackStyle", "TRACKS", "get_track", "list_tracks", "load_track",
           "check_geometry", "min_turning_radius_m", "TrackFileError", "register_track", "track_help"]
