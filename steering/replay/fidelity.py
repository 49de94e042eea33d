"""Fidelity of the view synthesis where the truth is known: the headless simulator renders any pose.

For a place on a track, the on-centre centre-camera render is warped to the car shifted `offset_m` to the
right and turned `heading_deg` (left positive) about its rear axle, and compared with the renderer's own
frame at that pose: mean absolute error (0-255, RGB) and SSIM (grey, 7x7 Gaussian window) over the road
region, i.e. pixels whose ground point lies on the road (within the half width of the centre line), no more
than `max_distance_m` ahead, below the horizon and above the hood, and inside the recorded frame after the
warp. The same numbers for the unwarped on-centre frame say what the warp buys.

The renderer's rig differs from Unity's (1.6 m high, 7.5 deg pitch, cameras 0.8 m ahead of the car's centre
of gravity): `renderer_camera` states it as a `CameraModel` from `steering.sim.render.CameraConfig`.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from steering.replay.camera import CameraModel
from steering.replay.synthesis import Pose, ViewSynthesiser, ground_to_image, sky_mask
from steering.sim.car import CarConfig
from steering.sim.render import CameraConfig, Renderer
from steering.sim.tracks import Track
from steering.udacity import CAMERAS


@dataclass(frozen=True)
class FidelityPoint:
    offset_m: float  # right of the centre line
    heading_deg: float  # left positive
    mae: float
    ssim: float
    mae_unwarped: float
    ssim_unwarped: float
    pixels: int  # size of the road region compared


def renderer_camera(camera: CameraConfig | None = None, car: CarConfig | None = None) -> CameraModel:
    """The headless renderer's rig as a CameraModel (mounts measured from the rear axle)."""
    camera, car = camera or CameraConfig(), car or CarConfig()
    forward = car.cg_to_rear_m + camera.forward_m
    mounts = {name: (forward, camera.lateral_m(name)) for name in CAMERAS}
    return CameraModel(height_m=camera.height_m, pitch_deg=camera.pitch_deg, vfov_deg=camera.vfov_deg,
                       mounts=mounts, hood_top_row=hood_top_row(camera) if camera.hood else None)


def hood_top_row(camera: CameraConfig) -> int:
    """First row the renderer paints its hood into in the centre camera (a conservative 2-row margin)."""
    from steering.sim.render import _hood  # the renderer's own outline; a private helper, read-only use

    focal = 80 / math.tan(math.radians(camera.vfov_deg) / 2)
    _, mask = _hood(camera, focal, "center")
    rows = np.nonzero(mask[..., 0].any(axis=1))[0]
    return int(rows.min()) - 2 if len(rows) else 160


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel SSIM (Wang et al. 2004) of two uint8 RGB images on grey, Gaussian window sigma 1.5."""
    x = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY).astype(np.float64)
    y = cv2.cvtColor(b, cv2.COLOR_RGB2GRAY).astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(img: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(img, (7, 7), 1.5)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    return ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))


def rear_axle_pose(cg_pose: Pose, car: CarConfig) -> Pose:
    x, y, heading = cg_pose
    return x - car.cg_to_rear_m * math.cos(heading), y - car.cg_to_rear_m * math.sin(heading), heading


def cg_pose(rear_pose: Pose, car: CarConfig) -> Pose:
    x, y, heading = rear_pose
    return x + car.cg_to_rear_m * math.cos(heading), y + car.cg_to_rear_m * math.sin(heading), heading


def road_mask(camera: CameraModel, track: Track, rear_pose: Pose, max_distance_m: float = 30.0) -> np.ndarray:
    """bool (H, W): pixels of the centre camera at `rear_pose` whose ground point is on the road, near enough."""
    u, v = np.meshgrid(np.arange(camera.width, dtype=np.float64), np.arange(camera.height, dtype=np.float64))
    pixels = np.stack([u.ravel(), v.ravel(), np.ones(u.size)], axis=0)
    ground = np.linalg.inv(ground_to_image(camera, "center", rear_pose)) @ pixels
    xy = (ground[:2] / ground[2]).T  # (H*W, 2) world points
    below = ~sky_mask(camera).ravel()
    centre = camera.pose_in_world("center", rear_pose)[1][:2]
    near = below & (np.hypot(xy[:, 0] - centre[0], xy[:, 1] - centre[1]) <= max_distance_m)
    # Nearest centre-line sample of each near ground point, among the samples within reach of the camera.
    local = np.nonzero(np.hypot(*(track.points - centre).T) <= max_distance_m + track.widths.max())[0]
    gaps = np.hypot(xy[near, None, 0] - track.points[local, 0], xy[near, None, 1] - track.points[local, 1])
    nearest = gaps.argmin(axis=1)
    on_road = np.zeros(len(xy), bool)
    on_road[near] = gaps[np.arange(len(nearest)), nearest] <= track.widths[local[nearest]] / 2
    mask = on_road.reshape(camera.height, camera.width)
    if camera.hood_top_row is not None:
        mask[camera.hood_top_row:] = False
    return mask


def measure(renderer: Renderer, progress_m: float, offsets_m: Sequence[float], headings_deg: Sequence[float],
            car: CarConfig | None = None) -> list[FidelityPoint]:
    """Synthesised vs true view for each (offset, heading) at `progress_m` on the renderer's track."""
    car = car or CarConfig()
    camera = renderer_camera(renderer.camera, car)
    synth = ViewSynthesiser(camera)
    track = renderer.track
    src_cg = track.pose_at(progress_m)
    src_rear = rear_axle_pose(src_cg, car)
    source = renderer.render(*src_cg, "center")
    points = []
    for offset in offsets_m:
        for heading in headings_deg:
            x, y, h = rear_axle_pose(track.pose_at(progress_m, offset), car)
            dst_rear = (x, y, h + math.radians(heading))  # turned about the rear axle
            truth = renderer.render(*cg_pose(dst_rear, car), "center")
            view = synth.synthesise(source, "center", src_rear, dst_rear)
            mask = road_mask(camera, track, dst_rear) & (view.sum(axis=-1) > 0)
            err = np.abs(view.astype(np.float32) - truth)[mask].mean()
            base = np.abs(source.astype(np.float32) - truth)[mask].mean()
            points.append(FidelityPoint(offset, heading, float(err), float(ssim_map(view, truth)[mask].mean()),
                                        float(base), float(ssim_map(source, truth)[mask].mean()), int(mask.sum())))
    return points
