"""How well the camera model explains real frames: warp each row's centre frame to a side camera's pose
and compare it with that camera's actual frame over the road (rows 72-134: below the horizon, above the hood).

The simulator renders the three cameras of a row from one car pose, so with the right rig one fixed ground
homography maps the centre frame onto each side frame; the mean absolute error (0-255) left is texture,
JPEG noise and what is not flat ground (kerbs). `steering.udacity` states the rig this was fitted with
(tests/test_replay_calibration.py keeps it honest on the recorded lake laps).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from steering.replay.camera import CameraModel
from steering.replay.frames import load_frame
from steering.replay.synthesis import ViewSynthesiser

ROAD_ROWS = slice(72, 135)  # below the horizon (~60) plus a margin, above the hood (135)


@dataclass(frozen=True)
class SideFit:
    side: str
    warped_mae: float  # centre frame warped to the side camera vs the side frame
    unwarped_mae: float  # centre frame as it is vs the side frame
    rows: int


def side_camera_fit(camera: CameraModel, rows: Sequence[tuple[str, str, str]], side: str) -> SideFit:
    """Mean absolute error over ROAD_ROWS for (center, left, right) frame paths; pixels the warp leaves
    empty (outside the centre frame) are left out."""
    synth = ViewSynthesiser(camera)
    pose = (0.0, 0.0, 0.0)
    warped, unwarped = [], []
    for center_path, left_path, right_path in rows:
        center = load_frame(center_path)
        target = load_frame(left_path if side == "left" else right_path)[ROAD_ROWS].astype(np.float32)
        view = synth.synthesise(center, "center", pose, pose, dst=side)[ROAD_ROWS].astype(np.float32)
        valid = view.sum(axis=-1) > 0
        warped.append(float(np.abs(view - target)[valid].mean()))
        unwarped.append(float(np.abs(center[ROAD_ROWS].astype(np.float32) - target).mean()))
    return SideFit(side, float(np.mean(warped)), float(np.mean(unwarped)), len(rows))
