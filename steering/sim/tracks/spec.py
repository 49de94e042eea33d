"""What a track file holds: the centre line, the road width, the look (`TrackStyle`) and optional sections.

These are plain frozen dataclasses; `file_format.py` reads and checks them from JSON, `geometry.py` turns a
`TrackSpec` into geometry, `texture.py` / `scenery.py` / `render.py` draw it. Every section covers the
progress range `from_m` .. `to_m` (metres of centre line from the start line, in the driving direction);
`from_m > to_m` means the section runs across the start line. docs/tracks.md describes each field.
"""
from __future__ import annotations

from dataclasses import dataclass, field

Colour = tuple[int, int, int]
SIDES = ("left", "right", "both")
RAMP_M = 10.0  # width and light change smoothly over this distance at each end of their section


@dataclass(frozen=True)
class TrackStyle:
    """Colours (RGB) and markings, so held-out tracks look different from the training track."""

    asphalt: Colour = (105, 105, 108)
    ground: Colour = (150, 120, 80)  # off-road
    ground_alt: Colour = (95, 120, 60)  # second off-road colour, mixed in as patches
    edge_line: Colour | None = (215, 190, 40)  # solid line near each edge; None = none
    centre_line: Colour | None = None  # dashed centre marking; None = none
    curb_a: Colour | None = (200, 40, 40)  # alternating curb blocks; None = no curbs
    curb_b: Colour = (235, 235, 235)
    shoulder: Colour | None = (190, 190, 185)  # a pale strip just outside the road; None = none
    sky_top: Colour = (70, 120, 200)
    sky_horizon: Colour = (175, 200, 230)
    hills: Colour | None = (70, 100, 60)  # distant silhouette on the panorama; None = flat horizon
    hill_height_deg: float = field(default=6.0, metadata={"min": 0.0, "max": 40.0})
    asphalt_grain: float = field(default=1.8, metadata={"min": 0.0, "max": 6.0})  # grain contrast: 1.8 = std ~16
    water: Colour | None = None  # ponds on the ground beyond a few metres of the road edge; None = none


@dataclass(frozen=True)
class Section:
    """A stretch of the track: progress `from_m` to `to_m` (metres; wraps across the start if from > to)."""

    from_m: float = field(metadata={"min": 0.0})
    to_m: float = field(metadata={"min": 0.0})


@dataclass(frozen=True)
class Bridge(Section):
    """A different road surface between walls: no edge lines, curbs, shoulder or centre line; water below."""

    surface: Colour = (150, 140, 125)
    wall: Colour = (165, 160, 150)
    wall_height_m: float = field(default=1.0, metadata={"min": 0.2, "max": 5.0})
    water: Colour | None = (55, 85, 110)  # off-road beside the bridge; None = ordinary ground


@dataclass(frozen=True)
class RunOff(Section):
    """The road edge on `side` has no marking and road-like ground runs on beyond it (a dirt exit)."""

    side: str = field(default="right", metadata={"choices": SIDES})
    width_m: float = field(default=8.0, metadata={"min": 1.0, "max": 40.0})  # how far the run-off area reaches
    surface: Colour | None = None  # None = a dirt colour between the asphalt and the ground


@dataclass(frozen=True)
class Width(Section):
    """A narrower (or wider) road: `width_m` inside the section, blended over `RAMP_M` at both ends."""

    width_m: float = field(default=6.0, metadata={"min": 3.0, "max": 30.0})


@dataclass(frozen=True)
class Light(Section):
    """Sun brightness and colour while the car is in the section: the frame is scaled by brightness * colour / 255."""

    brightness: float = field(default=0.7, metadata={"min": 0.2, "max": 2.0})
    colour: Colour = (255, 255, 255)


@dataclass(frozen=True)
class Shadows(Section):
    """Trees or poles beside the road on `side` whose shadows fall across it, every `spacing_m` or so."""

    caster: str = field(default="tree", metadata={"choices": ("tree", "pole")})
    side: str = field(default="left", metadata={"choices": SIDES})
    spacing_m: float = field(default=8.0, metadata={"min": 1.0, "max": 200.0})
    length_m: float = field(default=12.0, metadata={"min": 1.0, "max": 60.0})  # shadow length from the caster
    darkness: float = field(default=0.45, metadata={"min": 0.0, "max": 0.95})  # 0.45: shaded ground keeps 55 %
    angle_deg: float = field(default=15.0, metadata={"min": -60.0, "max": 60.0})  # skew against straight across
    visible: bool = True  # draw the casters as sprites (False: they stand out of view)


@dataclass(frozen=True)
class Objects(Section):
    """Upright roadside objects: trees, posts (delineators) or a wall, `offset_m` beyond the road edge."""

    object: str = field(default="post", metadata={"choices": ("tree", "post", "wall")})
    side: str = field(default="both", metadata={"choices": SIDES})
    spacing_m: float = field(default=10.0, metadata={"min": 1.0, "max": 200.0})  # walls: panel length
    offset_m: float = field(default=1.0, metadata={"min": 0.0, "max": 50.0})
    height_m: float | None = field(default=None, metadata={"min": 0.2, "max": 30.0})  # None = the object's usual
    colour: Colour | None = None  # walls only; None = grey stone


SECTION_KINDS: dict[str, type[Section]] = {"bridge": Bridge, "runoff": RunOff, "width": Width, "light": Light,
                                           "shadows": Shadows, "objects": Objects}


@dataclass(frozen=True)
class TrackSpec:
    """A named track: control polygon of a periodic cubic B-spline (metres), road width, look, sections."""

    name: str
    control_points: tuple[tuple[float, float], ...]
    road_width_m: float
    style: TrackStyle
    description: str = ""
    sections: tuple[Section, ...] = ()

    def of_kind(self, kind: type[Section]) -> list[Section]:
        return [section for section in self.sections if type(section) is kind]


def kind_name(section: Section) -> str:
    return next(name for name, cls in SECTION_KINDS.items() if type(section) is cls)
