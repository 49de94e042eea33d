"""The view-bias check places the true render where the replay's car was: on the reference (a control that
repeats the recorded steering) the renderer's view at the placed pose is the recorded frame up to JPEG noise,
and a model that ignores the image steers identically on both views."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from steering.inference.controls import ConstantSteering
from steering.replay.view_bias import compare, summary
from steering.sim.expert import ExpertConfig
from steering.sim.recorder import RecordConfig, record
from steering.sim.world import WorldConfig


@pytest.fixture(scope="module")
def curve_log(tmp_path_factory):
    out = tmp_path_factory.mktemp("curve")
    return record(out, WorldConfig(track="mountain", start_speed_mph=20), ExpertConfig(recoveries=False),
                  RecordConfig(max_samples=45, progress=False, start_time=dt.datetime(2026, 1, 1))).log_path


class Brightness:
    """Steers by the road ahead: the left half's mean brightness minus the right half's, scaled (rows and
    columns the warp always fills: a turn leaves its unfilled wedge at the frame's sides)."""

    def predict(self, frame: np.ndarray) -> float:
        grey = frame[80:130, 80:240].astype(np.float32).mean(axis=-1)
        return float(grey[:, :80].mean() - grey[:, 80:].mean()) / 50.0


def test_a_car_kept_on_the_reference_sees_the_true_view(curve_log):
    pairs = compare(ConstantSteering(0.0), curve_log, "mountain", every=1)
    assert len(pairs) == 44
    assert all(p.synthesised == p.true == 0.0 for p in pairs)
    # Constant 0 on a curve leaves the reference: the first frames are still on it, the later ones warped.
    assert np.mean([p.road_mae for p in pairs[:3]]) < 6.0  # the recorded frame against a fresh render: JPEG noise
    assert all(p.road_mae < 8.0 for p in pairs)  # measured 4.9 at most; a pose 0.2 m off gives 14-21


def test_an_image_reading_model_steers_alike_on_both_views(curve_log):
    pairs = compare(Brightness(), curve_log, "mountain", every=2)
    synthesised = np.array([p.synthesised for p in pairs])
    true = np.array([p.true for p in pairs])
    assert np.abs(synthesised - true).mean() < 0.02  # measured 0.003
    assert np.ptp(true) > 0.2  # measured 0.50: the views change along the curve, so agreement is not trivial
    lines = summary(pairs)
    assert lines[0].startswith(f"all: {len(pairs)} frames")
