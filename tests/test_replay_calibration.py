"""The Unity rig in steering.udacity explains the real frames: centre warped to each side camera's pose."""
from __future__ import annotations

import numpy as np

from steering.data.reading import read_logs
from steering.replay.calibration import side_camera_fit
from steering.replay.camera import unity_camera


def test_warping_the_centre_frame_to_each_side_camera_matches_its_frame(lake_log):
    rows = read_logs(lake_log).rows
    picks = rows.iloc[np.linspace(0, len(rows) - 1, 30).astype(int)]
    triples = list(zip(picks["center"], picks["left"], picks["right"], strict=False))
    for side in ("left", "right"):
        fit = side_camera_fit(unity_camera(), triples, side)
        # Measured: left 29.7 -> 11.5, right 29.7 -> 12.0 (the prefab's 9.445 deg pitch gives 18.8).
        assert fit.unwarped_mae > 27.0, f"{side}: the side views should differ from the centre view"
        assert fit.warped_mae < 13.0, f"{side}: warped error {fit.warped_mae:.1f} (measured 11.5/12.0)"
