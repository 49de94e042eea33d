"""Camera frames: 320x160 RGB images from pinhole cameras on the car, as the simulator's three cameras see.

How it stays fast: the ground is flat and the cameras are rigidly mounted, so each image pixel below the
horizon always looks at the same ground point *in the car's frame*. Those points are computed once per
camera; per frame a single affine map (the car's pose) turns them into texture coordinates and
`cv2.remap` samples the painted world (`texture.py`). Far rows sample coarser mip levels (no shimmering
lane lines), the sky samples a 360-degree panorama by heading, distant ground fades into haze, upright
roadside objects (trees, posts, walls; `sprites.py`) are drawn over it far to near, the car's hood is
pasted in, and in `Light` sections the whole frame is scaled by the section's sun colour.

Camera geometry: 60 degree vertical field of view (Unity's default), by default mounted 1.6 m high,
pitched 7.5 degrees down (horizon near row 62, the top crop of 60 rows removes the sky), the hood
filling the bottom ~20 rows, the left and right cameras 0.8 m to each side, parallel to the centre one.
`CameraConfig.unity()` is the Unity car's measured rig instead (`steering.udacity`: 1.25 m high, pitched
7.9 degrees, the hood from row 135 down; its 0.7 degree yaw and 1.2 degree roll are not modelled).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from steering.sim.scenery import build_scenery
from steering.sim.sprites import SpriteLayer
from steering.sim.texture import PANO_H, PANO_W, WorldTexture, world_texture
from steering.sim.tracks import Track
from steering.sim.tracks.spec import RAMP_M, Light
from steering.udacity import (
    CAMERA_HEIGHT_M,
    CAMERA_PITCH_DEG,
    CAMERA_POSITIONS_M,
    CAMERA_VFOV_DEG,
    CAMERAS,
    FRAME_HEIGHT,
    FRAME_WIDTH,
    HOOD_TOP_ROW,
)

CAMERA_RIGS = ("default", "unity")  # CameraConfig.named: the renderer's own rig, the Unity car's measured one


@dataclass(frozen=True)
class CameraConfig:
    """Mounting and optics shared by the three cameras (metres, degrees)."""

    height_m: float = 1.6
    pitch_deg: float = 7.5  # downwards
    vfov_deg: float = 60.0  # vertical field of view: Unity's default camera
    forward_m: float = 0.8  # ahead of the car's reference point (its centre of gravity)
    side_offset_m: float = 0.8  # left camera this far left of the centre one, right camera right
    max_distance_m: float = 160.0  # ground further away is drawn at this distance (hidden in haze)
    haze_start_m: float = 40.0
    hood: bool = True
    hood_height_m: float = 0.95  # the bonnet's nose above the ground
    hood_length_m: float = 1.15  # and ahead of the camera

    @classmethod
    def unity(cls) -> CameraConfig:
        """The Unity car's rig as measured on real frames (steering.udacity), the bonnet sized so that its nose
        shows at the row it does in the simulator's frames."""
        focal = FRAME_HEIGHT / 2 / math.tan(math.radians(CAMERA_VFOV_DEG) / 2)
        below = math.atan((HOOD_TOP_ROW - FRAME_HEIGHT / 2) / focal) + math.radians(CAMERA_PITCH_DEG)
        drop = 0.5  # bonnet nose below the camera: any drop with the matching length puts the nose at that row
        sides = (abs(CAMERA_POSITIONS_M["left"][0]) + abs(CAMERA_POSITIONS_M["right"][0])) / 2
        return cls(height_m=CAMERA_HEIGHT_M, pitch_deg=CAMERA_PITCH_DEG, vfov_deg=CAMERA_VFOV_DEG,
                   forward_m=CAMERA_POSITIONS_M["center"][2], side_offset_m=sides,
                   hood_height_m=CAMERA_HEIGHT_M - drop, hood_length_m=drop / math.tan(below))

    @classmethod
    def named(cls, name: str) -> CameraConfig:
        """`default` (the renderer's own rig) or `unity` (the simulator's measured one)."""
        if name not in CAMERA_RIGS:
            raise ValueError(f"unknown camera rig {name!r}; choose {' or '.join(CAMERA_RIGS)}")
        return cls.unity() if name == "unity" else cls()

    def lateral_m(self, camera: str) -> float:
        """Sideways mount position: positive = left of the car's axis."""
        if camera not in CAMERAS:
            raise ValueError(f"unknown camera {camera!r}; the simulator has {', '.join(CAMERAS)}")
        return {"center": 0.0, "left": self.side_offset_m, "right": -self.side_offset_m}[camera]


@dataclass
class _Band:
    """Image rows that sample one mip level."""

    rows: slice
    level: int
    points: np.ndarray  # float32 (rows, W, 2): ground points (forward, left) relative to the camera, metres


class Renderer:
    """Renders frames of one track. `render` is a pure function of the pose: same pose, same pixels."""

    def __init__(self, track: Track, camera: CameraConfig | None = None, texture_res_m: float = 0.1,
                 seed: int = 0) -> None:
        self.track = track
        self.camera = camera or CameraConfig()
        self.texture: WorldTexture = world_texture(track, texture_res_m, seed)
        self._build_rays()
        self._hoods = {name: _hood(self.camera, self._focal, name) for name in CAMERAS} if self.camera.hood else {}
        scenery = build_scenery(track, seed)
        cam = self.camera
        self._sprites = None if scenery.empty else SpriteLayer(scenery, self._focal, cam.height_m, cam.pitch_deg,
                                                               cam.max_distance_m, cam.haze_start_m, self._haze_colour)
        self._light = light_gains(track)  # (N, 3) or None: the sun's colour where the car is


    # -- precomputation ---------------------------------------------------------------------------
    def _build_rays(self) -> None:
        cam, tex = self.camera, self.texture
        f = FRAME_HEIGHT / 2 / math.tan(math.radians(cam.vfov_deg) / 2)
        self._focal = f
        pitch = math.radians(cam.pitch_deg)
        u = (np.arange(FRAME_WIDTH) + 0.5 - FRAME_WIDTH / 2) / f
        v = (np.arange(FRAME_HEIGHT) + 0.5 - FRAME_HEIGHT / 2) / f
        uu, vv = np.meshgrid(u, v)  # (H, W) normalised image coordinates, x right, y down
        # Ray in the car frame (forward, left, up): optical axis F, image right R, image down D.
        fwd = math.cos(pitch) - vv * math.sin(pitch)
        left = -uu
        up = -math.sin(pitch) - vv * math.cos(pitch)
        self.horizon_row = int(math.ceil(FRAME_HEIGHT / 2 - f * math.tan(pitch) - 0.5))  # first row looking down
        ground = slice(self.horizon_row, FRAME_HEIGHT)
        t = cam.height_m / -up[ground]  # ray length to the ground plane
        planar = np.hypot(fwd[ground], left[ground]) * t  # horizontal distance
        scale = np.minimum(1.0, cam.max_distance_m / planar)
        gx, gy = fwd[ground] * t * scale, left[ground] * t * scale
        distance = planar * scale
        # Footprint of a pixel on the ground: lateral d/f, along the ray d/(f sin(grazing)); mip on their mean.
        grazing = np.arctan2(cam.height_m, distance)
        footprint = distance / f / np.sqrt(np.sin(grazing))
        level_per_row = np.clip(np.round(np.log2(np.maximum(footprint[:, FRAME_WIDTH // 2] / tex.res_m, 1e-6))),
                                0, len(tex.levels) - 1).astype(int)
        self._bands: list[_Band] = []
        start = 0
        for r in range(1, len(level_per_row) + 1):
            if r == len(level_per_row) or level_per_row[r] != level_per_row[start]:
                pts = np.stack([gx[start:r], gy[start:r]], axis=-1).astype(np.float32)
                self._bands.append(
                    _Band(slice(self.horizon_row + start, self.horizon_row + r), int(level_per_row[start]), pts)
                )
                start = r
        # Distance of what each pixel shows, for effects that need it (steering.perturb): sky = inf.
        self._depth = np.full((FRAME_HEIGHT, FRAME_WIDTH), np.inf, np.float32)
        self._depth[ground] = distance
        haze = np.clip((distance - cam.haze_start_m) / (cam.max_distance_m - cam.haze_start_m), 0, 1) ** 0.8
        hazy_rows = np.nonzero(haze.max(axis=1) > 0.01)[0]
        self._haze_rows = slice(
            self.horizon_row, self.horizon_row + (int(hazy_rows.max()) + 1 if len(hazy_rows) else 0)
        )
        self._haze = haze[: self._haze_rows.stop - self.horizon_row, :, None].astype(np.float32)
        self._haze_colour = (
            np.asarray(self.track.style.sky_horizon, np.float32) * 0.6 + np.asarray(tex.ground_far, np.float32) * 0.4
        )
        # Sky: panorama column from the azimuth (clockwise from east), row from the elevation.
        sky = slice(0, self.horizon_row)
        azimuth_left = np.arctan2(left[sky], fwd[sky])
        elevation = np.degrees(np.arctan2(up[sky], np.hypot(fwd[sky], left[sky])))
        col = -azimuth_left / (2 * np.pi) * PANO_W
        row = np.clip((1 - elevation / tex.panorama_top_deg) * PANO_H, 0, PANO_H - 1)
        self._sky_map = np.stack([col, row], axis=-1).astype(np.float32)  # (horizon_row, W, 2)

    @property
    def focal_px(self) -> float:
        return self._focal

    # -- per frame --------------------------------------------------------------------------------
    def render(self, x: float, y: float, heading: float, camera: str = "center",
               depth: np.ndarray | None = None) -> np.ndarray:
        """uint8 (160, 320, 3) RGB frame seen by `camera` with the car at (x, y), heading in radians.
        With `depth` (float32 (160, 320)), also fills it with each pixel's distance in metres along the
        ground (0 = the car's own hood, inf = sky), roadside objects included."""
        cam, tex = self.camera, self.texture
        frame = np.empty((FRAME_HEIGHT, FRAME_WIDTH, 3), np.uint8)
        c, s = math.cos(heading), math.sin(heading)
        fx, fy = cam.forward_m, cam.lateral_m(camera)
        # Camera-relative ground point (a, b) -> world -> texture pixel at level 0.
        base = np.array([[c / tex.res_m, -s / tex.res_m, (c * fx - s * fy + x - tex.x0) / tex.res_m],
                         [-s / tex.res_m, -c / tex.res_m, (tex.y1 - (s * fx + c * fy + y)) / tex.res_m]])
        for band in self._bands:
            k = 2.0**band.level
            matrix = base / k
            matrix[:, 2] += 0.5 / k - 0.5  # pyrDown pixel centres
            coords = cv2.transform(band.points, matrix)  # (rows, W, 2) texture coordinates
            cv2.remap(tex.levels[band.level], coords, None, cv2.INTER_LINEAR, dst=frame[band.rows],
                      borderMode=cv2.BORDER_CONSTANT, borderValue=tex.ground_far)
        if self._haze.size:
            region = frame[self._haze_rows].astype(np.float32)
            region += self._haze * (self._haze_colour - region)
            frame[self._haze_rows] = region.astype(np.uint8)
        sky_map = self._sky_map.copy()
        sky_map[..., 0] -= heading / (2 * np.pi) * PANO_W
        cv2.remap(
            tex.panorama, sky_map, None, cv2.INTER_LINEAR, dst=frame[: self.horizon_row], borderMode=cv2.BORDER_WRAP
        )
        if depth is not None:
            np.copyto(depth, self._depth)
        if self._sprites is not None:
            self._sprites.draw(frame, x + c * fx - s * fy, y + s * fx + c * fy, heading, depth)
        if camera in self._hoods:
            hood, mask = self._hoods[camera]
            np.copyto(frame, hood, where=mask)
            if depth is not None:
                depth[mask[..., 0]] = 0.0
        if self._light is not None:
            gain = self._light[self.track.project(x, y).index]  # the whole projection: a pure function of the pose
            if np.any(np.abs(gain - 1) > 1e-3):  # a lookup table per channel: cheaper than a multiply
                table = np.clip(np.arange(256, dtype=np.float32)[:, None] * gain.astype(np.float32) + 0.5, 0, 255)
                cv2.LUT(frame, table.astype(np.uint8).reshape(256, 1, 3), dst=frame)
        return frame

    def render_all(self, x: float, y: float, heading: float) -> dict[str, np.ndarray]:
        """The three frames the simulator records: {"center", "left", "right"}."""
        return {name: self.render(x, y, heading, name) for name in CAMERAS}


def light_gains(track: Track) -> np.ndarray | None:
    """(N, 3) per-sample RGB gain of the track's `Light` sections (blended over `RAMP_M`), or None without any."""
    sections = track.spec.of_kind(Light)
    if not sections:
        return None
    gain = np.ones((len(track.s), 3))
    for section in sections:
        weight = track.section_weight(section, RAMP_M)[:, None]
        target = section.brightness * np.asarray(section.colour, np.float64) / 255.0
        gain = gain * (1 - weight) + target * weight
    return gain


def _hood(cam: CameraConfig, focal: float, camera: str) -> tuple[np.ndarray, np.ndarray]:
    """The car's bonnet as seen from `camera`: (image, mask (H, W, 1) bool)."""
    pitch = math.radians(cam.pitch_deg)
    half_width, front, hood_z = 0.85, cam.forward_m + cam.hood_length_m, cam.hood_height_m
    ys = np.linspace(-half_width, half_width, 41)
    outline = [(front - 0.35 * (yy / half_width) ** 2, yy) for yy in ys]  # rounded nose
    outline += [(cam.forward_m + 0.05, half_width), (cam.forward_m + 0.05, -half_width)]  # down past the image
    lateral = cam.lateral_m(camera)
    pts = []
    for px, py in outline:
        d = np.array([px - cam.forward_m, py - lateral, hood_z - cam.height_m])
        zc = d[0] * math.cos(pitch) - d[2] * math.sin(pitch)
        xc = -d[1]
        yc = -d[0] * math.sin(pitch) - d[2] * math.cos(pitch)
        pts.append((FRAME_WIDTH / 2 + focal * xc / zc, FRAME_HEIGHT / 2 + focal * yc / zc))
    polygon = np.round(np.array(pts) * 16).astype(np.int32)
    mask = np.zeros((FRAME_HEIGHT, FRAME_WIDTH), np.uint8)
    cv2.fillPoly(mask, [polygon], 255, cv2.LINE_AA, 4)
    rows = np.linspace(0, 1, FRAME_HEIGHT, dtype=np.float32)[:, None, None]
    cols = np.linspace(-1, 1, FRAME_WIDTH, dtype=np.float32)[None, :, None]
    paint = np.asarray((175, 180, 186), np.float32) * (1.05 - 0.25 * rows) + 25 * np.exp(-((cols - 0.1) ** 2) * 30) * (
        1 - rows
    )
    return np.clip(paint, 0, 255).astype(np.uint8), (mask > 127)[..., None]
