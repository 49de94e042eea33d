"""Drawing roadside objects into a camera frame: billboards (trees, posts, poles) and wall panels.

The ground stays a flat remap (`render.py`); upright things go on top of it, far to near (painter's
algorithm), so a nearer object hides what is behind it: ground, sky, or a farther object. A billboard
is a sprite scaled to the object's size at its distance and standing on its base point; a wall panel
is a quadrilateral between its two ground ends and their tops. Both fade into the haze like the ground.
Projection: a point `forward`, `left`, `up` of the camera lands at column W/2 + f * (-left) / z and
row H/2 + f * (-forward sin(p) - up cos(p)) / z, with z = forward cos(p) - up sin(p) (p = pitch down).
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from steering.preprocess import FRAME_HEIGHT, FRAME_WIDTH
from steering.sim.scenery import SPRITES, Scenery

NEAR_M = 0.5  # nearer than this (along the view) is not drawn: it would be behind the lens
MIN_HEIGHT_PX = 3.0  # objects smaller than this on screen are left out (a post beyond ~45 m)
HAZE_STEPS = 8  # sprites are hazed in this many steps, prepared once (per-frame haze cost more than the blend)
SHIFT = 4


def _tree(rng: np.random.Generator, conifer: bool) -> np.ndarray:
    """RGBA float32 (160, 96, 4) tree: a brown trunk under a textured green canopy."""
    height, width = 160, 96
    alpha = np.zeros((height, width), np.uint8)
    trunk = np.zeros_like(alpha)
    cv2.rectangle(trunk, (width // 2 - 4, int(height * 0.62)), (width // 2 + 4, height - 1), 255, -1)
    if conifer:
        for tier in range(4):
            top, bottom = int(height * (0.02 + 0.17 * tier)), int(height * (0.35 + 0.14 * tier))
            half = int(width * (0.22 + 0.08 * tier))
            cv2.fillConvexPoly(
                alpha,
                np.array([[width // 2, top], [width // 2 - half, bottom], [width // 2 + half, bottom]]),
                255,
                cv2.LINE_AA,
            )
        green = np.array([35, 75, 40], np.float32) * rng.uniform(0.85, 1.1)
    else:
        for _ in range(26):
            cx, cy = rng.normal(width / 2, width * 0.16), rng.uniform(height * 0.18, height * 0.55)
            cv2.circle(alpha, (int(cx), int(cy)), int(rng.uniform(0.14, 0.24) * width), 255, -1, cv2.LINE_AA)
        green = np.array([70, 105, 45], np.float32) * rng.uniform(0.8, 1.1)
    alpha[int(height * 0.8):] = 0
    rows = np.linspace(1.15, 0.7, height, dtype=np.float32)[:, None, None]  # lit from above
    speckle = 1 + 0.18 * rng.standard_normal((height, width, 1)).astype(np.float32)
    canopy = green * rows * speckle
    bark = np.array([85, 62, 40], np.float32) * np.linspace(1.1, 0.8, width, dtype=np.float32)[None, :, None]
    is_trunk = (trunk > 0) & (alpha < 128)
    rgb = np.where(is_trunk[..., None], bark, canopy)
    a = np.maximum(alpha, trunk * is_trunk).astype(np.float32) / 255
    return np.dstack([np.clip(rgb, 0, 255), a]).astype(np.float32)


def _post() -> np.ndarray:
    """RGBA (128, 16, 4) delineator post: white, a black band and an orange reflector near the top."""
    rgb = np.full((128, 16, 3), 228, np.float32)
    rgb[:, 10:] *= 0.8  # the shaded side
    rgb[12:30] = (25, 25, 25)
    rgb[16:26, 4:12] = (240, 130, 30)
    return np.dstack([rgb, np.ones((128, 16), np.float32)])


def _pole() -> np.ndarray:
    """RGBA (256, 8, 4) grey pole, darker on one side so it reads as round."""
    rgb = np.full((256, 8, 3), (120, 120, 125), np.float32) * np.linspace(1.15, 0.7, 8, dtype=np.float32)[None, :, None]
    return np.dstack([rgb, np.ones((256, 8), np.float32)])


def sprite_pyramids() -> list[list[np.ndarray]]:
    """Per entry of `scenery.SPRITES`, the RGBA image and its halvings (down to 4 px high)."""
    rng = np.random.default_rng(20240501)  # the sprites' look is fixed, not part of a track
    images = {"tree0": _tree(rng, True), "tree1": _tree(rng, False), "tree2": _tree(rng, False),
              "post": _post(), "pole": _pole()}
    pyramids = []
    for name in SPRITES:
        image = images[name]
        image[..., :3] *= image[..., 3:]  # premultiplied alpha: scaling then blends edges correctly
        levels = [image]
        while levels[-1].shape[0] > 8 and levels[-1].shape[1] > 2:
            levels.append(cv2.pyrDown(levels[-1]))
        pyramids.append(levels)
    return pyramids


class SpriteLayer:
    """Draws one track's `Scenery` for a camera with focal `focal_px`, mounted `height_m` high, pitched down."""

    def __init__(self, scenery: Scenery, focal_px: float, height_m: float, pitch_deg: float, max_distance_m: float,
                 haze_start_m: float, haze_colour: np.ndarray) -> None:
        self.scenery = scenery
        self.f, self.h = focal_px, height_m
        self.cos_p, self.sin_p = math.cos(math.radians(pitch_deg)), math.sin(math.radians(pitch_deg))
        self.far, self.haze_start = max_distance_m, haze_start_m
        self.haze_colour = np.asarray(haze_colour, np.float32)
        self.pyramids = sprite_pyramids()
        self.tan_half = FRAME_WIDTH / 2 / focal_px  # horizontal half field of view, as a slope
        self._heights = [np.array([lv.shape[0] for lv in reversed(levels)]) for levels in self.pyramids]  # ascending
        # Per sprite, haze step and level: premultiplied hazed RGB and 1 - alpha, so a blend is one multiply-add.
        self._ready = [[[self._prepare(level, step / HAZE_STEPS) for level in reversed(levels)]
                        for step in range(HAZE_STEPS + 1)] for levels in self.pyramids]

    def _prepare(self, level: np.ndarray, haze: float) -> np.ndarray:
        rgb, alpha = level[..., :3], level[..., 3:]
        return np.ascontiguousarray(
            np.dstack([rgb * (1 - haze) + alpha * (haze * self.haze_colour), 1 - alpha]), np.float32
        )

    def _haze(self, distance: np.ndarray) -> np.ndarray:
        return np.clip((distance - self.haze_start) / (self.far - self.haze_start), 0, 1) ** 0.8

    def _project(self, forward: np.ndarray, left: np.ndarray, up: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        z = forward * self.cos_p - up * self.sin_p
        return FRAME_WIDTH / 2 - self.f * left / z, FRAME_HEIGHT / 2 + self.f * (
            -forward * self.sin_p - up * self.cos_p
        ) / z

    def draw(self, frame: np.ndarray, cam_x: float, cam_y: float, heading: float,
             depth: np.ndarray | None = None) -> None:
        """Paint every visible object into `frame` (uint8, in place), far ones first. The geometry of all
        objects is computed at once; only the drawing calls loop (numpy calls per object cost more than cv2's).
        With `depth` (float32 (H, W)), each object also writes its distance (m) where it covers the frame."""
        c, s = math.cos(heading), math.sin(heading)
        depths, draws = [], []
        for part in (self._billboards(cam_x, cam_y, c, s), self._panels(cam_x, cam_y, c, s)):
            if part is not None:
                depths.append(part[0])
                draws.extend(part[1])
        if not draws:
            return
        for k in np.argsort(-np.concatenate(depths), kind="stable"):
            item = draws[k]
            if len(item) == 3:
                cv2.fillConvexPoly(frame, item[0], item[1], cv2.LINE_AA, SHIFT)
                if depth is not None:
                    cv2.fillConvexPoly(depth, item[0], float(item[2]), cv2.LINE_8, SHIFT)
            else:
                self._paint_billboard(frame, *item[:-1], depth=depth, distance=item[-1])

    def _billboards(self, cam_x: float, cam_y: float, c: float, s: float):
        sc = self.scenery
        if not len(sc.x):
            return None
        dx, dy = sc.x - cam_x, sc.y - cam_y
        fwd, left = dx * c + dy * s, -dx * s + dy * c
        seen = np.nonzero((fwd > NEAR_M) & (fwd < self.far) & (np.abs(left) < fwd * self.tan_half + sc.width_m))[0]
        if not len(seen):
            return None
        fwd, left, height, width = fwd[seen], left[seen], sc.height_m[seen], sc.width_m[seen]
        col, base = self._project(fwd, left, -self.h)
        _, top = self._project(fwd, left, height - self.h)
        half = self.f * width / (fwd * self.cos_p + self.h * self.sin_p) / 2
        x0, x1 = np.round(col - half).astype(int), np.round(col + half).astype(int)
        y0, y1 = np.round(top).astype(int), np.round(base).astype(int)
        x1, y1 = np.maximum(x1, x0 + 1), np.maximum(y1, y0 + 1)
        keep = np.nonzero(
            (x1 > 0) & (x0 < FRAME_WIDTH) & (y1 > 0) & (y0 < FRAME_HEIGHT) & (base - top >= MIN_HEIGHT_PX)
        )[0]
        haze = np.round(self._haze(np.hypot(fwd, left)) * HAZE_STEPS).astype(int)
        sprite = sc.sprite[seen]
        level = np.zeros(len(seen), int)  # the smallest pyramid level still as high as the drawn height
        for kind in np.unique(sprite[keep]):
            mine = keep[sprite[keep] == kind]
            level[mine] = np.minimum(
                np.searchsorted(self._heights[kind], (y1 - y0)[mine]), len(self._heights[kind]) - 1
            )
        draws = list(zip(sprite[keep].tolist(), haze[keep].tolist(), level[keep].tolist(), x0[keep].tolist(),
                         x1[keep].tolist(), y0[keep].tolist(), y1[keep].tolist(), np.hypot(fwd, left)[keep].tolist(),
                         strict=True))
        return fwd[keep], draws

    def _paint_billboard(self, frame: np.ndarray, sprite: int, haze: int, level: int, x0: int, x1: int, y0: int,
                         y1: int, depth: np.ndarray | None = None, distance: float = 0.0) -> None:
        image = cv2.resize(self._ready[sprite][haze][level], (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        cx0, cx1, cy0, cy1 = max(0, x0), min(FRAME_WIDTH, x1), max(0, y0), min(FRAME_HEIGHT, y1)
        if cx0 != x0 or cx1 != x1 or cy0 != y0 or cy1 != y1:
            image = image[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
        roi = frame[cy0:cy1, cx0:cx1]
        roi[:] = roi * image[..., 3:] + image[..., :3]
        if depth is not None:  # where the object is more than half opaque (channel 3 holds 1 - alpha)
            depth[cy0:cy1, cx0:cx1][image[..., 3] < 0.5] = distance

    def _panels(self, cam_x: float, cam_y: float, c: float, s: float):
        sc = self.scenery
        if not len(sc.panel_a):
            return None
        pa, pb = sc.panel_a - (cam_x, cam_y), sc.panel_b - (cam_x, cam_y)
        f0, l0 = pa[:, 0] * c + pa[:, 1] * s, -pa[:, 0] * s + pa[:, 1] * c
        f1, l1 = pb[:, 0] * c + pb[:, 1] * s, -pb[:, 0] * s + pb[:, 1] * c
        slope = self.tan_half
        seen = (np.maximum(f0, f1) > NEAR_M) & (np.minimum(f0, f1) < self.far)
        seen &= ~((l0 > f0 * slope + 1) & (l1 > f1 * slope + 1)) & ~((-l0 > f0 * slope + 1) & (-l1 > f1 * slope + 1))
        seen = np.nonzero(seen)[0]
        if not len(seen):
            return None
        f0, l0, f1, l1 = f0[seen], l0[seen], f1[seen], l1[seen]
        t = np.clip((NEAR_M - f0) / np.where(f1 != f0, f1 - f0, 1), 0, 1)  # clip at the near plane
        clip_a, clip_b = f0 < NEAR_M, f1 < NEAR_M
        f0, l0, f1, l1 = (np.where(clip_a, NEAR_M, f0), np.where(clip_a, l0 + t * (l1 - l0), l0),
                          np.where(clip_b, NEAR_M, f1), np.where(clip_b, l0 + t * (l1 - l0), l1))
        top = sc.panel_height_m[seen] - self.h
        cols, rows = self._project(np.stack([f0, f1, f1, f0], 1), np.stack([l0, l1, l1, l0], 1),
                                   np.stack([np.full_like(f0, -self.h), np.full_like(f0, -self.h), top, top], 1))
        points = np.round(np.stack([cols, rows], 2) * (1 << SHIFT)).astype(np.int32)  # (K, 4, 2)
        haze = self._haze(np.hypot((f0 + f1) / 2, (l0 + l1) / 2))[:, None]
        colours = (sc.panel_colour[seen] + haze * (self.haze_colour - sc.panel_colour[seen])).tolist()
        distances = np.hypot((f0 + f1) / 2, (l0 + l1) / 2).tolist()
        return (f0 + f1) / 2, list(zip(points, colours, distances, strict=False))
