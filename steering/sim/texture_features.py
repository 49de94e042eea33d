"""Painting roads whose look changes along the lap: width changes, bridges and run-off areas.

A road of constant width is drawn as thick polylines (`texture._paint_plain_road`). Once sections change
it, every texel needs to know where it lies relative to the centre line: `lateral_map` finds each
texel's nearest centre-line sample (a distance transform with labels) and its signed lateral offset
from that sample (positive = left of the driving direction). Road, shoulder, edge lines, run-off
areas, bridge decks and water are then alpha masks on that offset, anti-aliased over one texel.
"""
from __future__ import annotations

import cv2
import numpy as np

from steering.sim.tracks import Track
from steering.sim.tracks.spec import Bridge, RunOff, Section, Width

SHOULDER_WIDTH_M = 1.5
LINE_WIDTH_M = 0.18
EDGE_LINE_INSET_M = 0.35
WALL_FOOT_M = 0.3  # the top of a bridge wall, seen from above, just outside the deck
JOINT_EVERY_M = 4.0  # expansion joints across a bridge deck
WATER_REACH_M = 25.0  # water beside a bridge reaches this far from its edge (ragged)


def needed(track: Track) -> bool:
    """Whether `track` has sections that change the road surface itself (else the plain painter is exact)."""
    return any(type(s) in (Bridge, RunOff, Width) for s in track.spec.sections)


def sample_mask(track: Track, kind: type[Section]) -> np.ndarray:
    """(N,) bool: the samples inside any section of `kind`."""
    mask = np.zeros(len(track.s), bool)
    for section in track.spec.of_kind(kind):
        mask |= track.section_weight(section) > 0
    return mask


def _sides(side: str) -> tuple[int, ...]:
    return {"left": (1,), "right": (-1,), "both": (1, -1)}[side]


def unmarked_edge(track: Track, side: int) -> np.ndarray:
    """(N,) bool: samples whose edge on `side` (+1 left, -1 right) has no line or curb: bridges and run-offs."""
    mask = sample_mask(track, Bridge)
    for section in track.spec.of_kind(RunOff):
        if side in _sides(section.side):
            mask |= track.section_weight(section) > 0
    return mask


def lateral_map(
    track: Track, frame: tuple[float, float, float], shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Per texel: index (H, W) int32 of the nearest centre-line sample, and the lateral offset (H, W) float32
    from it in metres, positive = left."""
    x0, y1, res = frame
    height, width = shape
    u = np.clip(np.round((track.points[:, 0] - x0) / res).astype(int), 0, width - 1)
    v = np.clip(np.round((y1 - track.points[:, 1]) / res).astype(int), 0, height - 1)
    seeds = np.full((height, width), 255, np.uint8)
    seeds[v, u] = 0
    _, labels = cv2.distanceTransformWithLabels(seeds, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    lut = np.zeros(int(labels.max()) + 1, np.int32)
    lut[labels[v, u]] = np.arange(len(u), dtype=np.int32)  # each seed pixel carries its own label
    index = lut[labels]
    del labels
    points = track.points.astype(np.float32)
    normals = track.normals_left.astype(np.float32)
    xs = (x0 + np.arange(width, dtype=np.float64) * res).astype(np.float32)
    ys = (y1 - np.arange(height, dtype=np.float64) * res).astype(np.float32)
    lateral = (xs[None, :] - points[index, 0]) * normals[index, 0]
    lateral += (ys[:, None] - points[index, 1]) * normals[index, 1]
    return index, lateral


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cell: int) -> np.ndarray:
    coarse = rng.uniform(-1, 1, (shape[0] // cell + 2, shape[1] // cell + 2)).astype(np.float32)
    return cv2.resize(coarse, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)


def _blend(image: np.ndarray, colour, alpha: np.ndarray, grain: np.ndarray | None = None, amount: float = 0.0) -> None:
    """In place: `image` = `colour` (plus `amount` of `grain`) where alpha is 1, unchanged where 0."""
    over = np.empty_like(image)
    over[:] = colour
    if grain is not None and amount:
        over = cv2.addWeighted(over, 1.0, grain, amount, -amount * 128)
    alpha = np.ascontiguousarray(alpha, np.float32)
    image[:] = cv2.blendLinear(image, over, 1 - alpha, alpha)


def _window(track: Track, mask: np.ndarray, reach_m: float, frame, shape) -> tuple[slice, slice]:
    """Texel rows and columns around the samples in `mask`, grown by `reach_m`."""
    x0, y1, res = frame
    pts = track.points[mask]
    u0, u1 = (pts[:, 0].min() - reach_m - x0) / res, (pts[:, 0].max() + reach_m - x0) / res
    v0, v1 = (y1 - pts[:, 1].max() - reach_m) / res, (y1 - pts[:, 1].min() + reach_m) / res
    return (slice(max(0, int(v0)), min(shape[0], int(v1) + 1)), slice(max(0, int(u0)), min(shape[1], int(u1) + 1)))


def _band(distance: np.ndarray, half_width_m: float, res: float) -> np.ndarray:
    """Anti-aliased 0..1 mask of |distance| <= half_width_m."""
    return np.clip(half_width_m / res + 0.5 - np.abs(distance) / res, 0, 1)


def paint_road(image: np.ndarray, track: Track, grain: np.ndarray, rng: np.random.Generator,
               frame: tuple[float, float, float]) -> np.ndarray:
    """Shoulder, run-offs, asphalt, edge lines and bridges over the painted ground `image` (uint8 RGB)."""
    style, (_, _, res) = track.style, frame
    shape = image.shape[:2]
    index, lateral = lateral_map(track, frame, shape)
    half = (track.widths / 2).astype(np.float32)[index]
    dist = np.abs(lateral)
    left = lateral > 0
    bare = np.where(left, unmarked_edge(track, 1)[index], unmarked_edge(track, -1)[index])
    if style.shoulder is not None:
        alpha = np.clip((half + SHOULDER_WIDTH_M - dist) / res + 0.5, 0, 1) * ~bare
        _blend(image, style.shoulder, alpha, grain, 0.4)
    for section in track.spec.of_kind(RunOff):
        length = (section.to_m - section.from_m) % track.length_m
        reach = (track.section_weight(section, min(15.0, length / 3)) * section.width_m).astype(np.float32)
        rows, cols = _window(track, reach > 0, section.width_m + float(half.max()) + 2, frame, shape)
        idx, lat, d = index[rows, cols], lateral[rows, cols], dist[rows, cols]
        on_side = np.zeros(d.shape, bool)
        for side in _sides(section.side):
            on_side |= (lat > 0) if side > 0 else (lat <= 0)
        ragged = reach[idx] * (0.85 + 0.15 * _smooth_noise(rng, d.shape, int(3 / res)))
        alpha = np.clip((half[rows, cols] + ragged - d) / res + 0.5, 0, 1) * on_side * (reach[idx] > 0)
        surface = section.surface or tuple(int(0.55 * a + 0.45 * g)
                                           for a, g in zip(style.asphalt, style.ground, strict=True))
        _blend(image[rows, cols], surface, alpha, grain[rows, cols], 1.6)
    _blend(image, style.asphalt, np.clip((half - dist) / res + 0.5, 0, 1), grain, style.asphalt_grain)
    if style.edge_line is not None:
        _blend(image, style.edge_line, _band(dist - (half - EDGE_LINE_INSET_M), LINE_WIDTH_M / 2, res) * ~bare)
    for section in track.spec.of_kind(Bridge):
        _paint_bridge(image, track, section, index, lateral, half, grain, rng, frame)
    return image


def _paint_bridge(image: np.ndarray, track: Track, section: Bridge, index: np.ndarray, lateral: np.ndarray,
                  half: np.ndarray, grain: np.ndarray, rng: np.random.Generator, frame) -> None:
    res = frame[2]
    inside = track.section_weight(section).astype(np.float32)
    rows, cols = _window(track, inside > 0, WATER_REACH_M + float(half.max()) + 8, frame, image.shape[:2])
    idx, d, hw = index[rows, cols], np.abs(lateral[rows, cols]), half[rows, cols]
    view, fine = image[rows, cols], grain[rows, cols]
    on = inside[idx]
    if section.water is not None:
        shore = track.section_weight(section, 8.0).astype(np.float32)[idx]  # water fades out towards the abutments
        ragged = WATER_REACH_M + 6 * _smooth_noise(rng, d.shape, int(6 / res))
        alpha = shore * np.clip((d - hw - WALL_FOOT_M) / res + 0.5, 0, 1) * np.clip((hw + ragged - d) / 1.5, 0, 1)
        _blend(view, section.water, alpha, fine, 0.5)
    joints = ((track.s % JOINT_EVERY_M) < track.spacing_m)[idx]  # a darker line across the deck every few metres
    deck = np.clip((hw - d) / res + 0.5, 0, 1) * on
    _blend(view, section.surface, deck, fine, 1.2)
    _blend(view, tuple(int(c * 0.7) for c in section.surface), deck * joints)
    _blend(view, tuple(int(c * 0.85) for c in section.wall), _band(d - hw - WALL_FOOT_M / 2, WALL_FOOT_M / 2, res) * on)
