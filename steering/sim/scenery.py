"""Where the roadside things stand: trees, posts and poles (upright sprites), walls (upright panels), and
the shadows the `Shadows` sections cast across the road.

Placements are drawn once per (track content, seed) from a generator seeded with the centre line's hash,
the section's own content and the seed, so adding a section never moves the objects of another.
`render.py` draws billboards and panels per frame (`sprites.py`); `texture.py` darkens the ground under
the shadows (`paint_shadows`) before the mip levels are built.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field

import cv2
import numpy as np

from steering.sim.tracks import Track
from steering.sim.tracks.spec import Bridge, Objects, Section, Shadows

SPRITES = ("tree0", "tree1", "tree2", "post", "pole")  # billboard images, painted by sprites.py
TREE_SPRITES = (0, 1, 2)
POST, POLE = 3, 4
WALL_PANEL_M = 2.5  # walls are straight panels this long, following the road
BRIDGE_WALL_OFFSET_M = 0.15  # bridge walls stand this far outside the deck edge
SUN = np.array([math.cos(math.radians(120)), math.sin(math.radians(120))])  # horizontal sun direction, shades walls
SHIFT = 4


@dataclass
class Scenery:
    """Billboards (upright sprites facing the camera), wall panels and ground shadows of one track."""

    x: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (M,) billboard base, world metres
    y: np.ndarray = field(default_factory=lambda: np.zeros(0))
    width_m: np.ndarray = field(default_factory=lambda: np.zeros(0))
    height_m: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sprite: np.ndarray = field(default_factory=lambda: np.zeros(0, int))  # index into SPRITES
    panel_a: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # (P, 2) wall panel ends on the ground
    panel_b: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    panel_height_m: np.ndarray = field(default_factory=lambda: np.zeros(0))
    panel_colour: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.float32))  # shaded RGB
    shadows: list[tuple[np.ndarray, float]] = field(default_factory=list)  # (polygon (K, 2) world, darkness)

    @property
    def empty(self) -> bool:
        return len(self.x) == 0 and len(self.panel_a) == 0


def _rng(track: Track, seed: int, number: int, section: Section) -> np.random.Generator:
    return np.random.default_rng([int(track.geometry_key[:16], 16), seed, number, zlib.crc32(repr(section).encode())])


def _sides(side: str) -> tuple[int, ...]:
    return {"left": (1,), "right": (-1,), "both": (1, -1)}[side]


def _stations(track: Track, section: Section, spacing_m: float, rng: np.random.Generator | None) -> np.ndarray:
    """Progress values every `spacing_m` through the section (jittered by up to 30 % with `rng`)."""
    length = (section.to_m - section.from_m) % track.length_m
    count = max(1, int(length / spacing_m))
    along = (np.arange(count) + 0.5) * (length / count)
    if rng is not None:
        along += rng.uniform(-0.3, 0.3, count) * (length / count)
    return (section.from_m + along) % track.length_m


def _beside(track: Track, s: float, side: int, beyond_edge_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Point `beyond_edge_m` outside the road edge on `side` (+1 left) at progress `s`; its outward normal; tangent."""
    i = track.index_at(s)
    normal = track.normals_left[i] * side
    point = track.points[i] + normal * (track.widths[i] / 2 + beyond_edge_m)
    return point, normal, track.tangents[i]


class _Builder:
    def __init__(self) -> None:
        self.billboards: list[tuple[float, float, float, float, int]] = []
        self.panels: list[tuple[np.ndarray, np.ndarray, float, np.ndarray]] = []
        self.shadows: list[tuple[np.ndarray, float]] = []

    def wall(self, track: Track, section: Section, side: int, offset_m: float, height_m: float, colour) -> None:
        line = [_beside(track, s, side, offset_m) for s in _stations(track, section, WALL_PANEL_M, None)]
        base = np.asarray(colour, np.float32)
        for number, ((a, normal, _), (b, _, _)) in enumerate(zip(line, line[1:], strict=False)):
            shade = 0.72 + 0.28 * max(0.0, float(-normal @ SUN)) + (0.03 if number % 2 else -0.03)
            self.panels.append((a, b, height_m, np.clip(base * shade, 0, 255)))

    def tree(self, point: np.ndarray, rng: np.random.Generator, height_m: float) -> tuple[float, float]:
        height = height_m * rng.uniform(0.8, 1.2)
        width = height * rng.uniform(0.5, 0.65)
        self.billboards.append((point[0], point[1], width, height, int(rng.choice(TREE_SPRITES))))
        return width, height

    def build(self) -> Scenery:
        scenery = Scenery(shadows=self.shadows)
        if self.billboards:
            x, y, w, h, sprite = map(np.asarray, zip(*self.billboards, strict=False))
            scenery.x, scenery.y, scenery.width_m, scenery.height_m, scenery.sprite = x, y, w, h, sprite.astype(int)
        if self.panels:
            a, b, h, colour = zip(*self.panels, strict=False)
            scenery.panel_a, scenery.panel_b = np.asarray(a), np.asarray(b)
            scenery.panel_height_m, scenery.panel_colour = np.asarray(h), np.asarray(colour, np.float32)
        return scenery


def _shadow_polygons(point: np.ndarray, direction: np.ndarray, caster: str, length_m: float,
                     width_m: float) -> list[np.ndarray]:
    """Ground polygons (K, 2) of a caster's shadow: a pole's is a thin bar; a tree's a trunk and a canopy blob."""
    across = np.array([-direction[1], direction[0]])

    def bar(half: float, length: float) -> np.ndarray:
        return np.array([point + across * half, point + across * half + direction * length,
                         point - across * half + direction * length, point - across * half])

    if caster == "pole":
        return [bar(0.12, length_m)]
    t = np.linspace(0, 2 * np.pi, 36, endpoint=False)
    centre = point + direction * length_m * 0.65
    blob = (
        centre
        + np.outer(np.cos(t) * max(width_m / 2, length_m * 0.35), direction)
        + np.outer(np.sin(t) * width_m / 2, across)
    )
    return [bar(0.15, length_m * 0.45), blob]


def build_scenery(track: Track, seed: int = 0) -> Scenery:
    """All roadside objects and shadows of `track` (deterministic for a given content and seed)."""
    builder = _Builder()
    for number, section in enumerate(track.spec.sections):
        rng = _rng(track, seed, number, section)
        if isinstance(section, Bridge):
            for side in (1, -1):
                builder.wall(track, section, side, BRIDGE_WALL_OFFSET_M, section.wall_height_m, section.wall)
        elif isinstance(section, Objects):
            for side in _sides(section.side):
                if section.object == "wall":
                    builder.wall(track, section, side, section.offset_m, section.height_m or 1.5,
                                 section.colour or (125, 120, 112))
                    continue
                for s in _stations(track, section, section.spacing_m, rng):
                    if section.object == "tree":
                        point, _, _ = _beside(track, s, side, section.offset_m + rng.uniform(0, 2))
                        builder.tree(point, rng, section.height_m or 7.0)
                    else:
                        point, _, _ = _beside(track, s, side, section.offset_m)
                        builder.billboards.append((point[0], point[1], 0.12, section.height_m or 1.0, POST))
        elif isinstance(section, Shadows):
            for side in _sides(section.side):
                for s in _stations(track, section, section.spacing_m, rng):
                    point, normal, tangent = _beside(track, s, side, 1.0 + rng.uniform(0, 2.5))
                    angle = math.radians(section.angle_deg + rng.uniform(-5, 5))
                    direction = -normal * math.cos(angle) + tangent * math.sin(angle)
                    if section.caster == "tree":
                        width, _ = builder.tree(point, rng, 7.0)
                        if not section.visible:
                            builder.billboards.pop()
                    else:
                        width = 0.25
                        if section.visible:
                            builder.billboards.append((point[0], point[1], width, 7.0, POLE))
                    length = section.length_m * rng.uniform(0.85, 1.15)
                    for polygon in _shadow_polygons(point, direction, section.caster, length, width):
                        builder.shadows.append((polygon, section.darkness))
    return builder.build()


def paint_shadows(image: np.ndarray, track: Track, seed: int, frame: tuple[float, float, float]) -> np.ndarray:
    """`image` darkened under the shadows of `track`'s `Shadows` sections (soft-edged)."""
    shadows = build_scenery(track, seed).shadows if track.spec.of_kind(Shadows) else []
    if not shadows:
        return image
    x0, y1, res = frame
    mask = np.zeros(image.shape[:2], np.uint8)
    for polygon, darkness in shadows:
        px = np.round(np.stack([(polygon[:, 0] - x0) / res, (y1 - polygon[:, 1]) / res], 1) * (1 << SHIFT)).astype(
            np.int32
        )
        cv2.fillPoly(mask, [px], int(round(255 * darkness)), cv2.LINE_AA, SHIFT)
    mask = cv2.GaussianBlur(mask, (0, 0), 0.12 / res)  # a penumbra of about 12 cm
    keep = 255 - mask
    return cv2.multiply(image, cv2.merge([keep, keep, keep]), scale=1 / 255)
