"""Augmentation keeps labels right: flip negates, translation adds steering_per_px * dx, photometric none."""
from __future__ import annotations

import numpy as np
import pytest

from steering.data import AugmentConfig, augment, preview_grid, read_logs, samples_from_log
from steering.data.augment import flip, translate

ONLY_GEOMETRY = dict(brightness_contrast_prob=0.0, shadow_prob=0.0, blur_prob=0.0, noise_prob=0.0)


def _line_frame(x: int = 160) -> np.ndarray:
    """Dark frame with one bright vertical line at column x (and a left-right asymmetric block)."""
    frame = np.full((160, 320, 3), 30, dtype=np.uint8)
    frame[:, x] = 250
    frame[100:120, 10:40] = (200, 0, 0)
    return frame


def _line_column(frame: np.ndarray) -> float:
    """Sub-pixel column of the bright line (intensity-weighted centre on a middle row)."""
    row = frame[80, :, 1].astype(np.float64) - 30
    row[row < 0] = 0
    return float((row * np.arange(320)).sum() / row.sum())


def test_flipped_frame_negates_steering():
    frame = _line_frame(100)
    flipped, steering = flip(frame, 0.3)
    assert steering == -0.3
    assert np.array_equal(flipped, frame[:, ::-1]) and _line_column(flipped) == 219.0


@pytest.mark.parametrize("dx, expected", [(10, 0.14), (-10, 0.06), (25.5, 0.202), (-50, -0.1)])
def test_translation_shifts_content_and_adds_steering_per_px(dx, expected):
    shifted, steering = translate(_line_frame(160), 0.1, dx, 0.0, steering_per_px=0.004)
    assert steering == pytest.approx(expected)
    # dx > 0 moves the picture right, as seen from a camera further left, which steers right (+).
    assert _line_column(shifted) == pytest.approx(160 + dx, abs=0.01)


def test_translation_label_is_clipped_to_full_lock():
    assert translate(_line_frame(), 0.95, 40, 0, 0.004)[1] == 1.0
    assert translate(_line_frame(), -0.95, -40, 0, 0.004)[1] == -1.0


def test_vertical_shift_keeps_the_label():
    frame = _line_frame()
    shifted, steering = translate(frame, 0.2, 0, 6, 0.004)
    assert steering == 0.2 and np.array_equal(shifted[6 + 100:6 + 120, 10:40], frame[100:120, 10:40])


def test_augment_flip_only_negates_and_mirrors():
    config = AugmentConfig(flip_prob=1.0, translate_prob=0.0, **ONLY_GEOMETRY)
    frame = _line_frame(100)
    out, steering = augment(frame, -0.4, config, np.random.default_rng(0))
    assert steering == 0.4 and np.array_equal(out, frame[:, ::-1])


@pytest.mark.parametrize("seed", range(6))
def test_augment_translation_label_matches_the_measured_shift(seed):
    config = AugmentConfig(flip_prob=0.0, translate_prob=1.0, translate_x=30, translate_y=0, **ONLY_GEOMETRY)
    out, steering = augment(_line_frame(160), 0.0, config, np.random.default_rng(seed))
    shift = _line_column(out) - 160
    assert abs(shift) <= 30
    assert steering == pytest.approx(0.004 * shift, abs=1e-4), f"shift {shift:.2f}px gave steering {steering}"


def test_augment_flip_and_translate_combine_with_the_right_sign():
    config = AugmentConfig(flip_prob=1.0, translate_prob=1.0, translate_x=30, translate_y=0, **ONLY_GEOMETRY)
    out, steering = augment(_line_frame(100), 0.5, config, np.random.default_rng(3))
    shift = _line_column(out) - 219  # after the flip the line sits at 219
    assert steering == pytest.approx(-0.5 + 0.004 * shift, abs=1e-4)


def test_photometric_augmentation_changes_pixels_not_labels():
    config = AugmentConfig(flip_prob=0.0, translate_prob=0.0, brightness_contrast_prob=1.0, shadow_prob=1.0,
                           blur_prob=0.0, noise_prob=1.0)
    frame = _line_frame()
    out, steering = augment(frame, 0.3, config, np.random.default_rng(0))
    assert steering == 0.3 and out.shape == frame.shape and out.dtype == np.uint8
    assert not np.array_equal(out, frame)


def test_augment_is_reproducible_from_the_rng():
    frame, config = _line_frame(), AugmentConfig(shadow_prob=1.0, noise_prob=1.0)
    a = augment(frame, 0.1, config, np.random.default_rng(42))
    b = augment(frame, 0.1, config, np.random.default_rng(42))
    c = augment(frame, 0.1, config, np.random.default_rng(43))
    assert np.array_equal(a[0], b[0]) and a[1] == b[1]
    assert not np.array_equal(a[0], c[0])


def test_disabled_config_returns_the_frame_unchanged():
    frame = _line_frame()
    out, steering = augment(frame, 0.7, AugmentConfig.none(), np.random.default_rng(0))
    assert out is frame and steering == 0.7


def test_bad_probability_is_rejected_by_name():
    with pytest.raises(ValueError, match="flip_prob must be in"):
        AugmentConfig(flip_prob=1.5)


def test_preview_grid_writes_a_png(tmp_path, windows_log):
    samples = samples_from_log(read_logs(windows_log).rows, cameras="all")
    path = preview_grid(samples, AugmentConfig(), tmp_path / "preview" / "grid.png", n=6, seed=1)
    assert path == tmp_path / "preview" / "grid.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
