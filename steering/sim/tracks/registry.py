"""The track registry: every track by name, each with its one-line help; a new track is one JSON file.

The built-in tracks are the JSON files in `steering/sim/track_data/` (package data), read at import:
dropping a file there adds a track. `register_track` adds one from anywhere else (a path or a
`TrackSpec`). Each track's help is its file's `description`, which starts with the track's role
(training, held-out, challenge, test) and says what it has; `track_help()` lists them all for a
`--track` argument, whose `choices=list_tracks()` also takes the path of any track file (`TrackNames`).
`get_track` builds each track once per content (its hash) and caches it.

Reading files is `file_format.py`'s job, building and checking the centre line `geometry.py`'s.
"""
from __future__ import annotations

import difflib
from importlib import resources
from pathlib import Path

from steering.sim.tracks.file_format import TrackFileError, content_hash, read_spec
from steering.sim.tracks.geometry import Track, check_geometry
from steering.sim.tracks.spec import TrackSpec

TRACK_DIR = resources.files("steering.sim") / "track_data"  # the built-in track files (package data)

TRACKS: dict[str, TrackSpec] = {}  # name -> spec: the built-in tracks and those registered since
_SOURCES: dict[str, str] = {}  # name -> where its spec came from, for error messages
_CACHE: dict[str, Track] = {}  # content hash -> Track


def register_track(source: str | Path | TrackSpec, *, replace: bool = False) -> TrackSpec:
    """Add a track under its `name`: the track file at a path, or a `TrackSpec`. Fields and geometry are
    checked first (`TrackFileError`). A name already taken by a different track is refused unless
    `replace`; registering the same content again is a no-op."""
    if isinstance(source, TrackSpec):
        spec, where = source, f"track {source.name!r}"
    else:
        spec, where = read_spec(source), str(source)
    known = TRACKS.get(spec.name)
    if known is not None and not replace and content_hash(known) != content_hash(spec):
        raise TrackFileError(where, "name", f"{spec.name!r} is already a registered track; rename it or "
                                            "register with replace=True")
    track = Track(spec)
    check_geometry(track, where)
    TRACKS[spec.name], _SOURCES[spec.name] = spec, where
    _CACHE[track.key] = track
    return spec


def _register_builtin() -> None:
    for entry in sorted(TRACK_DIR.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            spec = read_spec(Path(str(entry)))
            # Built once, on first use (get_track checks them then): importing stays fast.
            TRACKS[spec.name], _SOURCES[spec.name] = spec, f"built-in track {spec.name!r}"


_register_builtin()


class TrackNames(list):
    """The registered track names. `in` also accepts the path of an existing .json file, so a command line
    argument declared with `choices=list_tracks()` takes `NAME|PATH.json`."""

    def __contains__(self, item: object) -> bool:
        if list.__contains__(self, item):
            return True
        return isinstance(item, str) and item.endswith(".json") and Path(item).is_file()


def list_tracks() -> TrackNames:
    """Names of the registered tracks, sorted."""
    return TrackNames(sorted(TRACKS))


def track_help() -> str:
    """One line per track for a `--track` argument's help: `name: description`, after the file form."""
    lines = [f"{name}: {(TRACKS[name].description or '(no description)').splitlines()[0]}" for name in list_tracks()]
    return "; ".join(["a track name or the path of a track file (docs/tracks.md)", *lines])


def load_track(path: str | Path) -> Track:
    """The track in the file at `path`, checked (fields, ranges, geometry); raises `TrackFileError`."""
    spec = read_spec(path)
    track = Track(spec)
    check_geometry(track, str(path))
    return track


def get_track(name_or_path: str | Path) -> Track:
    """A registered track by name, or the track file at a path (`*.json`); built once per content, then cached."""
    text = str(name_or_path)
    if text in TRACKS:
        spec, source = TRACKS[text], _SOURCES[text]
    elif text.endswith(".json") or Path(text).is_file() or "/" in text:
        path = Path(text)
        if not path.is_file():
            raise FileNotFoundError(f"no track file {path} (built-in tracks: {', '.join(list_tracks())})")
        spec, source = read_spec(path), str(path)
    else:
        close = difflib.get_close_matches(text, list(TRACKS), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"unknown track {text!r}{hint} (list_tracks() shows all: {', '.join(list_tracks())}; "
                       "or give the path of a .json track file)")
    key = content_hash(spec)
    if key not in _CACHE:
        track = Track(spec)
        check_geometry(track, source)
        _CACHE[key] = track
    return _CACHE[key]
