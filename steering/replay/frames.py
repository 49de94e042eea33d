"""Which recorded frame to warp: the camera position nearest the car's centre camera.

The simulator records three cameras per row from the same car pose, so a row offers three viewpoints
about 0.8 m apart; with the neighbouring rows (~1.2 m apart at 30 mph) the nearest of up to nine camera
positions is the one whose view needs the smallest warp. Distances are between camera centres on the
ground plane (headings are those of the rows, the same for the three cameras); cameras ahead of the car's
are used only when none is behind it. Missing side frames ("")
are skipped; the centre frame always exists (the log reader drops rows without one).
"""
from __future__ import annotations

import cv2
import numpy as np

from steering.replay.camera import CameraModel
from steering.replay.reference import Segment
from steering.replay.synthesis import Pose

AHEAD_TOLERANCE_M = 0.1  # a source camera this little ahead still sees the road above the hood


def nearest_row(segment: Segment, pose: Pose, hint: int, window: int = 8) -> int:
    """Row of the segment whose reference pose is nearest `pose`, searched within `window` rows of `hint`."""
    lo, hi = max(0, hint - window), min(len(segment), hint + window + 1)
    d = np.hypot(segment.poses[lo:hi, 0] - pose[0], segment.poses[lo:hi, 1] - pose[1])
    return lo + int(np.argmin(d))


def camera_centre_xy(camera: CameraModel, name: str, pose: Pose) -> np.ndarray:
    return camera.pose_in_world(name, pose)[1][:2]


def choose_source(segment: Segment, camera: CameraModel, pose: Pose, row: int,
                  target: str = "center") -> tuple[int, str]:
    """(row, camera name) of the recorded frame whose camera stood nearest the car's `target` camera,
    among those not ahead of it: a camera ahead of the car has not seen the road just in front of the car
    (it would come out black above the hood), one behind it has."""
    want = camera_centre_xy(camera, target, pose)
    along = np.array([np.cos(pose[2]), np.sin(pose[2])])
    candidates = []
    for r in range(max(0, row - 1), min(len(segment), row + 2)):
        ref = segment.pose(r)
        for name in camera.mounts:
            if name != "center" and not segment.frame_path(r, name):
                continue
            delta = camera_centre_xy(camera, name, ref) - want
            candidates.append((float(np.linalg.norm(delta)), float(delta @ along) > AHEAD_TOLERANCE_M, r, name))
    behind = [c for c in candidates if not c[1]] or candidates
    _, _, best_row, best_name = min(behind)
    return best_row, best_name


def load_frame(path: str) -> np.ndarray:
    """uint8 (H, W, 3) RGB frame; raises OSError naming the file when it cannot be read."""
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise OSError(f"cannot read frame {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
