"""train.py --smooth-labels: training and validation targets are the steering averaged over time."""
from __future__ import annotations

import numpy as np
import pytest

from steering.data.synthetic import SyntheticRow, write_log_file, write_recording
from steering.model import default_preprocess
from steering.training import TrainConfig
from steering.training.config import ConfigError
from steering.training.data_setup import bundle_from_logs

# A tap driver: a spike of 0.6 every third frame, zeros between (frames 0.1 s apart).
TAPS = [0.6 if i % 3 == 0 else 0.0 for i in range(60)]


def config(tmp_path, **changes) -> TrainConfig:
    lines = write_recording(tmp_path / "rec", [SyntheticRow(steering=s) for s in TAPS], period_s=0.1)
    log = write_log_file(tmp_path / "rec" / "driving_log.csv", lines)
    values = dict(logs=[str(log)], model="pilotnet", pretrained="none", augment="none", block_size=10,
                  val_fraction=0.25, device="cpu", progress=False, out=str(tmp_path / "run"))
    values.update(changes)
    return TrainConfig(**values)


def test_smoothed_labels_are_the_centred_mean_of_the_taps(tmp_path):
    raw = bundle_from_logs(config(tmp_path), default_preprocess("pilotnet"))
    smooth = bundle_from_logs(config(tmp_path, smooth_labels=0.3), default_preprocess("pilotnet"))
    assert set(np.round(raw.train_targets, 6)) == {0.0, 0.6}
    # 0.3 s window: a frame and one neighbour each side; away from the ends every window holds one tap of 0.6
    inner = smooth.train_targets[1:-1]
    np.testing.assert_allclose(inner, 0.2, atol=1e-6)
    np.testing.assert_allclose(smooth.val_targets, 0.2, atol=1e-6)
    assert len(smooth.train_targets) == len(raw.train_targets), "smoothing changes labels, never which frames"


def test_negative_smoothing_window_is_refused():
    with pytest.raises(ConfigError, match="smooth_labels"):
        TrainConfig(smooth_labels=-1.0)
