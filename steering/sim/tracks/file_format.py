"""Track files: JSON <-> `TrackSpec`, with errors that name the file and the field.

A file holds `name`, `control_points`, `road_width_m`, `description`, `style` (the `TrackStyle` fields)
and optionally `sections` (a list of objects with a `kind`, see `spec.SECTION_KINDS`). Fields left
out of `style` and of a section take their defaults. This module checks each value's type and range;
the geometry (curve radius, overlaps, section ranges) is checked by `geometry.check_geometry` once the
centre line is built. `content_hash` is a track's identity: the hash of its normalised content, so the
same track saved twice (any key order or spacing) is the same track.
"""
from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from steering.sim.tracks.spec import SECTION_KINDS, Section, TrackSpec, TrackStyle, kind_name

REQUIRED = ("name", "control_points", "road_width_m", "style")


class TrackFileError(ValueError):
    """A track file that cannot be used; the message names the file, the field and what is wrong."""

    def __init__(self, source: str, where: str, problem: str) -> None:
        self.source, self.where, self.problem = source, where, problem
        super().__init__(f"{source}: {where}: {problem}" if where else f"{source}: {problem}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}.get(
        type(value), "a number" if _is_number(value) else type(value).__name__)


class _Reader:
    def __init__(self, source: str):
        self.source = source

    def fail(self, where: str, problem: str) -> TrackFileError:
        return TrackFileError(self.source, where, problem)

    def number(self, value: Any, where: str, low: float | None = None, high: float | None = None) -> float:
        if not _is_number(value):
            raise self.fail(where, f"must be a number, got {_type_name(value)} {json.dumps(value)}")
        if (low is not None and value < low) or (high is not None and value > high):
            raise self.fail(where, f"{value} is outside {low if low is not None else '-inf'} .. "
                                   f"{high if high is not None else 'inf'}")
        return float(value)

    def colour(self, value: Any, where: str) -> tuple[int, int, int]:
        if not isinstance(value, list) or len(value) != 3:
            raise self.fail(where, f"must be a colour [r, g, b], got {json.dumps(value)}")
        for i, channel in enumerate(value):
            if not isinstance(channel, int) or isinstance(channel, bool):
                raise self.fail(f"{where}[{i}]", f"must be a whole number 0..255, got {json.dumps(channel)}")
            if not 0 <= channel <= 255:
                raise self.fail(f"{where}[{i}]", f"colour value {channel} is outside 0..255")
        return tuple(value)  # type: ignore[return-value]

    def dataclass(self, cls: type, obj: Any, where: str, skip: tuple[str, ...] = ()) -> Any:
        """Fields of dataclass `cls` from the JSON object `obj`; the annotation says the type, metadata the range."""
        if not isinstance(obj, dict):
            raise self.fail(where, f"must be an object, got {_type_name(obj)}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for key in obj:
            if key not in fields and key not in skip:
                close = difflib.get_close_matches(key, list(fields), n=1)
                raise self.fail(f"{where}.{key}", "unknown field" + (f"; did you mean {close[0]!r}?" if close else
                                                                     f" (known: {', '.join(fields)})"))
        values = {}
        for name, f in fields.items():
            here = f"{where}.{name}"
            if name not in obj:
                if f.default is dataclasses.MISSING:
                    raise self.fail(here, "missing field")
                continue
            value, kind, meta = obj[name], str(f.type), f.metadata
            if value is None and "None" in kind:
                values[name] = None
            elif kind.startswith("Colour"):
                values[name] = self.colour(value, here)
            elif kind.startswith("float"):
                values[name] = self.number(value, here, meta.get("min"), meta.get("max"))
            elif kind == "bool":
                if not isinstance(value, bool):
                    raise self.fail(here, f"must be true or false, got {json.dumps(value)}")
                values[name] = value
            elif kind == "str":
                if not isinstance(value, str):
                    raise self.fail(here, f"must be a string, got {_type_name(value)} {json.dumps(value)}")
                if "choices" in meta and value not in meta["choices"]:
                    raise self.fail(here, f"{value!r} is not one of {', '.join(meta['choices'])}")
                values[name] = value
            else:  # pragma: no cover - a new field type needs a reader here
                raise TypeError(f"no reader for {cls.__name__}.{name}: {kind}")
        return cls(**values)

    def section(self, obj: Any, where: str) -> Section:
        if not isinstance(obj, dict):
            raise self.fail(where, f"must be an object, got {_type_name(obj)}")
        kind = obj.get("kind")
        if kind not in SECTION_KINDS:
            raise self.fail(f"{where}.kind", f"must be one of {', '.join(SECTION_KINDS)}, got {json.dumps(kind)}")
        return self.dataclass(SECTION_KINDS[kind], obj, where, skip=("kind",))

    def spec(self, obj: Any) -> TrackSpec:
        if not isinstance(obj, dict):
            raise self.fail("", f"a track file holds one JSON object, got {_type_name(obj)}")
        for name in REQUIRED:
            if name not in obj:
                raise self.fail(name, "missing field")
        known = {"name", "description", "control_points", "road_width_m", "style", "sections"}
        for key in obj:
            if key not in known:
                close = difflib.get_close_matches(key, sorted(known), n=1)
                raise self.fail(key, "unknown field" + (f"; did you mean {close[0]!r}?" if close else ""))
        name, description = obj["name"], obj.get("description", "")
        if not isinstance(name, str) or not name.strip():
            raise self.fail("name", f"must be a non-empty string, got {json.dumps(name)}")
        if not isinstance(description, str):
            raise self.fail("description", f"must be a string, got {_type_name(description)}")
        points = obj["control_points"]
        if not isinstance(points, list) or len(points) < 4:
            raise self.fail("control_points", "must be a list of at least 4 [x, y] points in metres")
        control = []
        for i, point in enumerate(points):
            if not isinstance(point, list) or len(point) != 2:
                raise self.fail(f"control_points[{i}]", f"must be [x, y], got {json.dumps(point)}")
            control.append(
                (self.number(point[0], f"control_points[{i}][0]"), self.number(point[1], f"control_points[{i}][1]"))
            )
        width = self.number(obj["road_width_m"], "road_width_m", 3.0, 30.0)
        style = self.dataclass(TrackStyle, obj["style"], "style")
        sections = obj.get("sections", [])
        if not isinstance(sections, list):
            raise self.fail("sections", f"must be a list, got {_type_name(sections)}")
        parsed = tuple(self.section(s, f"sections[{i}]") for i, s in enumerate(sections))
        return TrackSpec(name=name, control_points=tuple(control), road_width_m=width, style=style,
                         description=description, sections=parsed)


def spec_from_dict(obj: Any, source: str = "<track>") -> TrackSpec:
    """A checked `TrackSpec` from parsed JSON (fields and ranges only; `geometry.check_geometry` does the rest)."""
    return _Reader(source).spec(obj)


def read_spec(path: str | Path) -> TrackSpec:
    """Parse the track file at `path`; raises `TrackFileError` naming the file and field."""
    path = Path(path)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise TrackFileError(str(path), f"line {exc.lineno} column {exc.colno}", f"not valid JSON: {exc.msg}") from exc
    return spec_from_dict(obj, str(path))


def spec_to_dict(spec: TrackSpec) -> dict[str, Any]:
    """The JSON object of `spec` (every field written out, so the file documents itself)."""
    def plain(value: Any) -> Any:
        return [plain(v) for v in value] if isinstance(value, (tuple, list)) else value

    return {
        "name": spec.name,
        "description": spec.description,
        "road_width_m": spec.road_width_m,
        "control_points": [[float(x), float(y)] for x, y in spec.control_points],
        "style": {f.name: plain(getattr(spec.style, f.name)) for f in dataclasses.fields(spec.style)},
        "sections": [{"kind": kind_name(s), **{f.name: plain(getattr(s, f.name)) for f in dataclasses.fields(s)}}
                     for s in spec.sections],
    }


def write_spec(spec: TrackSpec, path: str | Path) -> Path:
    """Save `spec` as a track file: indented, each colour and control point on one line (readable in a diff)."""
    text = json.dumps(spec_to_dict(spec), indent=2)
    text = re.sub(r"\[[^\[\]{}]*\]", lambda m: "[" + ", ".join(v.strip() for v in m.group(0)[1:-1].split(",")) + "]"
                  if m.group(0)[1:-1].strip() else "[]", text)  # innermost lists onto one line
    path = Path(path)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def content_hash(spec: TrackSpec) -> str:
    """sha256 (hex) of the normalised content: a track's identity for caches and random seeds."""
    canonical = json.dumps(spec_to_dict(spec), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def geometry_hash(spec: TrackSpec) -> str:
    """sha256 (hex) of the control points only: seeds the ground and asphalt grain, so two tracks on the same
    centre line that differ in colours or sections share their grain and can be compared pixel by pixel."""
    canonical = json.dumps([[float(x), float(y)] for x, y in spec.control_points], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
