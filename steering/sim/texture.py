"""Painting a track: the top-down world texture (road, markings, curbs, ground) and the sky panorama.

Both are drawn once per (track content, resolution, seed) and cached; `render.py` only samples them.
Texture pixel (u, v) shows world point x = x0 + u * res, y = y1 - v * res (rows grow southwards).
All images are uint8 RGB. Randomness (ground patches, asphalt grain, ponds, hills) comes from a generator
seeded with the hash of the track's centre line (`Track.geometry_key`) and `seed`, so the same seed
paints the same world, and two tracks on one centre line share their grain. Sections that change the
road itself (bridges, run-offs, width changes) are painted by `texture_features.py`; shadows by
`scenery.py`'s placements.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import cv2
import numpy as np

from steering.sim import texture_features
from steering.sim.scenery import paint_shadows
from steering.sim.texture_features import EDGE_LINE_INSET_M, LINE_WIDTH_M, SHOULDER_WIDTH_M
from steering.sim.tracks import Track
from steering.sim.tracks.spec import Bridge

SHIFT = 4  # cv2 drawing with 4 fractional bits: sub-pixel accurate lines and polygons
CURB_WIDTH_M = 0.6
CURB_BLOCK_M = 1.0
CURB_MIN_CURVATURE = 1 / 70.0  # curbs only on corners, like the simulator's lake track
DASH_M = 3.0
WATER_GAP_M = 4.0  # ponds stay this far outside the road edge (shoulder and curbs stay dry)
WATER_CELL_M = 30.0  # pond size: the noise grid's cell
WATER_LEVEL = 0.3  # noise above this is water: about a third of the ground


@dataclass
class WorldTexture:
    """The painted ground, its mip pyramid, and the sky panorama."""

    levels: list[np.ndarray]  # levels[k]: uint8 (H / 2^k, W / 2^k, 3) RGB
    x0: float  # world x of texture column 0
    y1: float  # world y of texture row 0
    res_m: float  # metres per texture pixel at level 0
    panorama: np.ndarray  # uint8 (PANO_H, PANO_W, 3): 360 degrees of sky and hills, column 0 = east
    panorama_top_deg: float  # elevation of panorama row 0; the last row is the horizon
    ground_far: tuple[int, int, int]  # colour outside the texture and of the haze near the horizon


PANO_W, PANO_H = 2048, 256
PANO_TOP_DEG = 40.0


def _rng(track: Track, seed: int) -> np.random.Generator:
    return np.random.default_rng([int(track.geometry_key[:16], 16), seed])


def _to_px(points: np.ndarray, x0: float, y1: float, res: float) -> np.ndarray:
    """World points (N, 2) -> int32 fixed-point texture coordinates for cv2 drawing with SHIFT."""
    u = (points[:, 0] - x0) / res
    v = (y1 - points[:, 1]) / res
    return np.round(np.stack([u, v], axis=1) * (1 << SHIFT)).astype(np.int32)


def _noise(rng: np.random.Generator, shape: tuple[int, int], cell: int) -> np.ndarray:
    """Smooth noise in about [-1, 1]: random values on a coarse grid, upsampled with bicubic interpolation."""
    coarse = rng.uniform(-1, 1, (shape[0] // cell + 2, shape[1] // cell + 2)).astype(np.float32)
    return cv2.resize(coarse, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)


def _flat(colour: tuple[int, int, int], height: int, width: int) -> np.ndarray:
    return np.full((height, width, 3), colour, np.uint8)


def _grain(rng: np.random.Generator, height: int, width: int, sigma: float) -> np.ndarray:
    """Grey per-texel noise (uint8, 128 = none), tiled from a 521x521 patch: random numbers for a
    full texture are slow to draw, and a prime-sized tile never lines up with the road."""
    tile = np.clip(rng.normal(128, sigma, (521, 521)), 0, 255).astype(np.uint8)
    grey = np.tile(tile, (height // 521 + 1, width // 521 + 1))[:height, :width]
    return cv2.merge([grey, grey, grey])


def _composite(under: np.ndarray, over: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`over` where mask is 255, `under` where 0, blended on anti-aliased mask edges."""
    alpha = mask.astype(np.float32) * (1 / 255)
    return cv2.blendLinear(under, over, 1 - alpha, alpha)


def paint_ground(track: Track, res_m: float, seed: int, margin_m: float = 70.0) -> WorldTexture:
    """Paint the top-down texture of `track` at `res_m` metres per pixel."""
    style, rng = track.style, _rng(track, seed)
    x0, y0, x1, y1 = track.bounds(margin_m)
    width, height = int(np.ceil((x1 - x0) / res_m)), int(np.ceil((y1 - y0) / res_m))
    to_px = lambda pts: _to_px(pts, x0, y1, res_m)  # noqa: E731 - local shorthand

    # Compositing goes through OpenCV's saturating uint8 kernels: numpy float arithmetic on a
    # 3000x2500 texture took seconds, these take tens of milliseconds.
    patches = _noise(rng, (height, width), int(12 / res_m)) * 0.8 + _noise(rng, (height, width), int(3 / res_m)) * 0.4
    mix = np.clip(patches * 1.5 + 0.5, 0, 1)  # 0 = ground, 1 = ground_alt
    image = cv2.blendLinear(_flat(style.ground, height, width), _flat(style.ground_alt, height, width), 1 - mix, mix)
    grain = _grain(rng, height, width, 9.0)  # uint8 around 128
    image = cv2.addWeighted(image, 1.0, grain, 1.0, -128.0)

    closed = np.vstack([track.points, track.points[:1]])
    centre = to_px(closed)
    if style.water is not None:  # drawn only for a look with water, so other looks keep their random stream
        image = _paint_water(image, track, grain, rng, centre, res_m)
    if texture_features.needed(track):
        image = texture_features.paint_road(image, track, grain, rng, (x0, y1, res_m))
    else:
        image = _paint_plain_road(image, track, grain, centre, to_px, res_m)
    line_px = max(1, int(round(LINE_WIDTH_M / res_m)))
    if style.centre_line is not None:
        on_bridge = texture_features.sample_mask(track, Bridge)
        step = max(1, int(round(DASH_M / track.spacing_m)))
        for start in range(0, len(track.points) - step, 2 * step):
            if not on_bridge[start : start + step + 1].any():
                cv2.polylines(
                    image, [centre[start : start + step + 1]], False, style.centre_line, line_px, cv2.LINE_AA, SHIFT
                )
    if style.curb_a is not None:
        _paint_curbs(image, track, to_px)
    image = paint_shadows(image, track, seed, (x0, y1, res_m))

    levels = [image]
    for _ in range(4):
        levels.append(cv2.pyrDown(levels[-1]))
    far = tuple(int(c) for c in (np.asarray(style.ground, np.float32) * 0.5 + np.asarray(style.sky_horizon) * 0.5))
    return WorldTexture(levels=levels, x0=x0, y1=y1, res_m=res_m, panorama=paint_panorama(track, seed),
                        panorama_top_deg=PANO_TOP_DEG, ground_far=far)


def _paint_water(image: np.ndarray, track: Track, grain: np.ndarray, rng: np.random.Generator, centre: np.ndarray,
                 res_m: float) -> np.ndarray:
    """Ponds with ragged shores where a coarse noise field is high, kept `WATER_GAP_M` clear of the road edge."""
    height, width = image.shape[:2]
    ponds = _noise(rng, (height, width), int(WATER_CELL_M / res_m))
    dry = np.zeros((height, width), np.uint8)
    cv2.polylines(dry, [centre], True, 255, int(round((float(track.widths.max()) + 2 * WATER_GAP_M) / res_m)),
                  cv2.LINE_AA, SHIFT)
    alpha = np.clip((ponds - WATER_LEVEL) * 6.0, 0, 1) * (1 - dry.astype(np.float32) * (1 / 255))
    water = cv2.addWeighted(_flat(track.style.water, height, width), 1.0, grain, 0.3, -0.3 * 128)
    return cv2.blendLinear(image, water, 1 - alpha, alpha)


def _paint_plain_road(image: np.ndarray, track: Track, grain: np.ndarray, centre: np.ndarray, to_px,
                      res_m: float) -> np.ndarray:
    """Shoulder, asphalt and edge lines of a road of constant width, drawn as thick polylines."""
    style = track.style
    height, width = image.shape[:2]
    closed = np.vstack([track.points, track.points[:1]])
    if style.shoulder is not None:
        shoulder_mask = np.zeros((height, width), np.uint8)
        cv2.polylines(shoulder_mask, [centre], True, 255,
                      int(round((track.road_width_m + 2 * SHOULDER_WIDTH_M) / res_m)), cv2.LINE_AA, SHIFT)
        shoulder = cv2.addWeighted(_flat(style.shoulder, height, width), 1.0, grain, 0.4, -0.4 * 128)
        image = _composite(image, shoulder, shoulder_mask)
    road_mask = np.zeros((height, width), np.uint8)
    cv2.polylines(road_mask, [centre], True, 255, int(round(track.road_width_m / res_m)), cv2.LINE_AA, SHIFT)
    asphalt = cv2.addWeighted(_flat(style.asphalt, height, width), 1.0, grain, style.asphalt_grain,
                              -style.asphalt_grain * 128)
    image = _composite(image, asphalt, road_mask)
    line_px = max(1, int(round(LINE_WIDTH_M / res_m)))
    if style.edge_line is not None:
        for side in (-1, 1):
            offset = closed + side * (track.half_width_m - EDGE_LINE_INSET_M) * np.vstack(
                [track.normals_left, track.normals_left[:1]]
            )
            cv2.polylines(image, [to_px(offset)], True, style.edge_line, line_px, cv2.LINE_AA, SHIFT)
    return image


def _paint_curbs(image: np.ndarray, track: Track, to_px) -> None:
    """Alternating blocks just outside both road edges wherever the road bends (not on bridges or run-off edges)."""
    style = track.style
    block = max(1, int(round(CURB_BLOCK_M / track.spacing_m)))
    n = len(track.points)
    half = track.widths / 2
    bare = {side: texture_features.unmarked_edge(track, side) for side in (-1, 1)}  # side: +1 = left
    for number, start in enumerate(range(0, n, block)):
        idx = np.arange(start, start + block + 1) % n
        if np.abs(track.curvature[idx]).max() < CURB_MIN_CURVATURE:
            continue
        colour = style.curb_a if number % 2 == 0 else style.curb_b
        for side in (-1, 1):
            if bare[side][idx].any():
                continue
            inner = track.points[idx] + side * half[idx, None] * track.normals_left[idx]
            outer = track.points[idx] + side * (half[idx, None] + CURB_WIDTH_M) * track.normals_left[idx]
            polygon = to_px(np.vstack([inner, outer[::-1]]))
            cv2.fillPoly(image, [polygon], colour, cv2.LINE_AA, SHIFT)


def paint_panorama(track: Track, seed: int) -> np.ndarray:
    """360-degree sky with a hill silhouette; columns wrap, column 0 looks east, columns grow clockwise."""
    style, rng = track.style, _rng(track, seed + 1)
    rows = np.linspace(1.0, 0.0, PANO_H, dtype=np.float32)[:, None, None]  # 1 at the top, 0 at the horizon
    sky = (
        np.asarray(style.sky_horizon, np.float32) * (1 - rows**0.6) + np.asarray(style.sky_top, np.float32) * rows**0.6
    )
    image = np.broadcast_to(sky, (PANO_H, PANO_W, 3)).copy()
    if style.hills is None:  # a flat horizon
        return np.clip(image, 0, 255).astype(np.uint8)
    angle = np.linspace(0, 2 * np.pi, PANO_W, endpoint=False)
    profile = np.zeros(PANO_W)
    for freq, weight in ((2, 0.5), (3, 0.35), (7, 0.2), (13, 0.12), (29, 0.06)):  # integer frequencies wrap seamlessly
        profile += weight * np.sin(freq * angle + rng.uniform(0, 2 * np.pi))
    profile = (profile - profile.min()) / (np.ptp(profile) + 1e-9)
    top_rows = PANO_H - (0.25 + 0.75 * profile) * style.hill_height_deg / PANO_TOP_DEG * PANO_H  # (PANO_W,)
    row_index = np.arange(PANO_H)[:, None]
    hill = row_index >= top_rows[None, :]  # (PANO_H, PANO_W)
    shade = np.clip((row_index - top_rows[None, :]) / 40.0, 0, 1)[..., None]  # darker towards the foot
    hills = np.asarray(style.hills, np.float32) * (1.0 - 0.25 * shade) + rng.normal(0, 6, (PANO_H, PANO_W, 1))
    image = np.where(hill[..., None], hills, image)
    return np.clip(image, 0, 255).astype(np.uint8)


CACHE_SIZE = 6  # textures kept (30-60 MB each); style randomisation paints a new one per lap
_CACHE: OrderedDict[tuple[str, float, int], WorldTexture] = OrderedDict()


def world_texture(track: Track, res_m: float = 0.1, seed: int = 0) -> WorldTexture:
    """The cached texture of `track` (painting takes about a second; every renderer shares it).
    Keyed by the track's content hash, so two different tracks never share a texture, whatever their names."""
    key = (track.key, float(res_m), int(seed))
    if key in _CACHE:
        _CACHE.move_to_end(key)
    else:
        _CACHE[key] = paint_ground(track, res_m, seed)
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return _CACHE[key]
