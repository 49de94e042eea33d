"""View synthesis: the frame a camera would see from another pose, from one recorded frame.

The paper's viewpoint transformation (PilotNet, section 5): points below the horizon lie on flat ground,
points above it infinitely far away. Each is one homography between the recorded camera and the wanted one:

- ground: `G = K R^T [e1 e2 -C]` maps a ground point (X, Y, 1) into a camera with rotation R (camera to
  world) and centre C; the recorded-to-wanted map is `G_dst G_src^-1`;
- infinity: only rotation matters, `K R_dst^T R_src K^-1`.

Which of the two a pixel of the wanted view takes depends only on whether its ray points up or down, i.e.
on the rig's pitch and roll, never on the car's heading: the mask is computed once. Both warps are one
`cv2.warpPerspective` each (no Python loop over pixels). Pixels whose source falls outside the recorded
frame are black; the hood rows (`CameraModel.hood_top_row`) are copied from the recorded frame.
Poses are (x, y, heading) in metres and radians (CCW), of the car's rear axle; see `camera.py`.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from steering.replay.camera import CameraModel

Pose = tuple[float, float, float]


def ground_to_image(camera: CameraModel, name: str, car_pose: Pose) -> np.ndarray:
    """(3, 3) homography from ground points (X, Y, 1) in the world to pixels of camera `name`."""
    rotation, centre = camera.pose_in_world(name, car_pose)
    plane = np.stack([np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]), -centre], axis=1)
    return camera.intrinsics() @ rotation.T @ plane


def ground_homography(camera: CameraModel, src: str, src_pose: Pose, dst: str, dst_pose: Pose) -> np.ndarray:
    """(3, 3) map from pixels of `src` (car at src_pose) to pixels of `dst` (car at dst_pose) for ground points."""
    homography = ground_to_image(camera, dst, dst_pose) @ np.linalg.inv(ground_to_image(camera, src, src_pose))
    return homography / homography[2, 2]


def infinity_homography(camera: CameraModel, src_pose: Pose, dst_pose: Pose) -> np.ndarray:
    """(3, 3) map between the two views for points at infinity: the heading change alone."""
    rot_src, _ = camera.pose_in_world(next(iter(camera.mounts)), src_pose)
    rot_dst, _ = camera.pose_in_world(next(iter(camera.mounts)), dst_pose)
    k = camera.intrinsics()
    homography = k @ rot_dst.T @ rot_src @ np.linalg.inv(k)
    return homography / homography[2, 2]


def sky_mask(camera: CameraModel) -> np.ndarray:
    """bool (H, W): pixels whose ray points at or above the horizon (the same for every camera of the rig)."""
    u, v = np.meshgrid(np.arange(camera.width, dtype=np.float64), np.arange(camera.height, dtype=np.float64))
    pixels = np.stack([u, v, np.ones_like(u)], axis=-1)  # (H, W, 3)
    rays = pixels @ np.linalg.inv(camera.intrinsics()).T @ camera.rotation().T  # (H, W, 3) in the car frame
    return rays[..., 2] >= 0.0


class ViewSynthesiser:
    """`synthesise(frame, src, src_pose, dst_pose)`: what camera `dst` sees with the car at dst_pose,
    made from `frame` (uint8 (H, W, 3)) recorded by camera `src` with the car at src_pose."""

    def __init__(self, camera: CameraModel) -> None:
        self.camera = camera
        self._sky = sky_mask(camera)[..., None]  # (H, W, 1)
        self._has_sky = bool(self._sky.any())

    def homographies(self, src: str, src_pose: Pose, dst_pose: Pose,
                     dst: str = "center") -> tuple[np.ndarray, np.ndarray]:
        return (ground_homography(self.camera, src, src_pose, dst, dst_pose),
                infinity_homography(self.camera, src_pose, dst_pose))

    def synthesise(self, frame: np.ndarray, src: str, src_pose: Pose, dst_pose: Pose,
                   dst: str = "center") -> np.ndarray:
        cam = self.camera
        if frame.shape[:2] != (cam.height, cam.width):
            raise ValueError(f"frame is {frame.shape[1]}x{frame.shape[0]}, "
                             f"the camera model is {cam.width}x{cam.height}")
        ground, infinity = self.homographies(src, src_pose, dst_pose, dst)
        size = (cam.width, cam.height)
        out = cv2.warpPerspective(frame, ground, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        if self._has_sky:
            sky = cv2.warpPerspective(frame, infinity, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            np.copyto(out, sky, where=self._sky)
        if cam.hood_top_row is not None:
            out[cam.hood_top_row:] = frame[cam.hood_top_row:]
        return out


def relative_pose(base: Pose, pose: Pose) -> Pose:
    """`pose` in the frame of `base`: (forward m, left m, heading difference rad in [-pi, pi))."""
    dx, dy = pose[0] - base[0], pose[1] - base[1]
    c, s = math.cos(base[2]), math.sin(base[2])
    return c * dx + s * dy, -s * dx + c * dy, math.remainder(pose[2] - base[2], math.tau)
