"""The camera model of view synthesis: intrinsics, mounting on the car, projection of ground points.

Car frame, used throughout `steering.replay`: X forward, Y left, Z up, metres, origin on the ground under
the rear axle (the point the kinematic bicycle model turns about, `bicycle.py`). Images: u right, v down,
pixel centres at integers, principal point at the image centre. `unity_camera()` is the Unity car's rig from
`steering.udacity`; the headless simulator's renderer has another rig (`steering.replay.fidelity` builds
it), which is why the model is a parameter everywhere and never a module constant.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from steering.udacity import (
    CAMERA_HEIGHT_M,
    CAMERA_PITCH_DEG,
    CAMERA_POSITIONS_M,
    CAMERA_ROLL_DEG,
    CAMERA_VFOV_DEG,
    CAMERA_YAW_DEG,
    CAMERAS,
    FRAME_HEIGHT,
    FRAME_WIDTH,
    HOOD_TOP_ROW,
    REAR_AXLE_Z_M,
)


def _rz(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _rx(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


# Columns: where the camera's x (image right), y (image down) and z (optical axis) point in the car frame
# for a level camera looking forward.
_LEVEL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


@dataclass(frozen=True)
class CameraModel:
    """One rotation and optics for all cameras of the rig, each mounted at its own (forward, left) spot.

    Angles in Unity's sense: `pitch_deg` positive looks down, `yaw_deg` positive looks right, `roll_deg`
    positive turns the camera's right side up (the horizon then falls towards the image's right edge)."""

    height_m: float
    pitch_deg: float
    vfov_deg: float
    mounts: dict[str, tuple[float, float]] = field(default_factory=dict)  # camera -> (forward_m, left_m)
    roll_deg: float = 0.0
    yaw_deg: float = 0.0
    width: int = FRAME_WIDTH
    height: int = FRAME_HEIGHT
    hood_top_row: int | None = None  # rows from here down show the car itself: copied, never warped

    @property
    def focal_px(self) -> float:
        return self.height / 2 / math.tan(math.radians(self.vfov_deg) / 2)

    def intrinsics(self) -> np.ndarray:
        """K (3, 3): focal length and principal point (pixel centres at integers)."""
        f = self.focal_px
        return np.array([[f, 0.0, (self.width - 1) / 2], [0.0, f, (self.height - 1) / 2], [0.0, 0.0, 1.0]])

    def rotation(self) -> np.ndarray:
        """Camera-to-car rotation (3, 3): column j is camera axis j (x right, y down, z forward) in the car frame."""
        return (_rz(-math.radians(self.yaw_deg)) @ _LEVEL @ _rx(-math.radians(self.pitch_deg))
                @ _rz(-math.radians(self.roll_deg)))

    def mount(self, camera: str) -> tuple[float, float]:
        """(forward_m, left_m) of `camera` from the rear axle."""
        if camera not in self.mounts:
            raise ValueError(f"camera {camera!r} is not on this rig; it has {', '.join(self.mounts)}")
        return self.mounts[camera]

    def pose_in_world(self, camera: str, car_pose: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
        """(rotation camera->world (3, 3), centre (3,)) for the car at (x, y, heading rad CCW) on flat ground."""
        x, y, heading = car_pose
        forward, left = self.mount(camera)
        c, s = math.cos(heading), math.sin(heading)
        centre = np.array([x + c * forward - s * left, y + s * forward + c * left, self.height_m])
        return _rz(heading) @ self.rotation(), centre

    def project(self, points_world: np.ndarray, camera: str, car_pose: tuple[float, float, float]) -> np.ndarray:
        """(N, 2) pixel coordinates (u, v) of world points (N, 3) seen by `camera` with the car at `car_pose`."""
        rotation, centre = self.pose_in_world(camera, car_pose)
        cam = (np.asarray(points_world, np.float64) - centre) @ rotation  # (N, 3) in camera axes
        pixels = cam @ self.intrinsics().T
        return pixels[:, :2] / pixels[:, 2:3]


def unity_camera() -> CameraModel:
    """The Unity car's rig (`steering.udacity`), mounts moved from the car's origin to its rear axle."""
    mounts = {name: (z - REAR_AXLE_Z_M, -x) for name, (x, _, z) in CAMERA_POSITIONS_M.items()}
    assert set(mounts) == set(CAMERAS)
    return CameraModel(height_m=CAMERA_HEIGHT_M, pitch_deg=CAMERA_PITCH_DEG, vfov_deg=CAMERA_VFOV_DEG, mounts=mounts,
                       roll_deg=CAMERA_ROLL_DEG, yaw_deg=CAMERA_YAW_DEG, hood_top_row=HOOD_TOP_ROW)
