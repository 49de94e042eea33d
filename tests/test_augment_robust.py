"""--augment robust: only training-set corruptions, severities 1-5, on the stated share, labels untouched."""
from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from steering.data import AugmentConfig, augment
from steering.data.augment import draw
from steering.data.synthetic import write_line_recording
from steering.model import create_model
from steering.perturb import HELD_OUT, TRAINING, PerturbError, get_perturbation, list_perturbations
from steering.perturb.splits import check_splits
from steering.preprocess import PreprocessConfig
from steering.training.config import TrainConfig
from steering.training.data_setup import bundle_from_logs
from steering.training.distributed import DistContext
from steering.training.phase_runner import make_runner
from steering.training.strategies import Phase

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import train as train_cli  # noqa: E402

ONLY_CORRUPTION = dict(flip_prob=0.0, translate_prob=0.0, brightness_contrast_prob=0.0, shadow_prob=0.0,
                       blur_prob=0.0, noise_prob=0.0, corruption_prob=1.0)


def _road_frame() -> np.ndarray:
    """A 160x320 frame with structure: a sky gradient, a grey road and a bright lane line."""
    frame = np.zeros((160, 320, 3), dtype=np.uint8)
    frame[:70] = np.linspace(120, 220, 70, dtype=np.uint8)[:, None, None]
    frame[70:] = (90, 110, 70)
    frame[70:, 100:220] = 100
    frame[70:, 158:162] = 240
    return frame


def test_training_and_held_out_sets_are_disjoint_and_cover_every_registered_name():
    assert set(TRAINING).isdisjoint(HELD_OUT)
    assert set(TRAINING) | set(HELD_OUT) == set(list_perturbations())
    assert len(TRAINING) == 9 and len(HELD_OUT) == len(list_perturbations()) - 9 == 14
    # noise + digital train; every blur, every weather and every renderer effect is held out
    assert {"gaussian_noise", "shot_noise", "impulse_noise", "jpeg_compression", "pixelate"} <= set(TRAINING)
    assert {"defocus_blur", "motion_blur", "glass_blur", "zoom_blur", "gaussian_blur", "fog", "snow", "frost",
            "brightness"} <= set(HELD_OUT)
    assert set(list_perturbations("render")) <= set(HELD_OUT)
    assert all(not get_perturbation(name).needs_scene for name in TRAINING)
    check_splits()


def test_robust_augmentation_draws_only_training_corruptions_at_severities_1_to_5_on_the_stated_share():
    config = AugmentConfig.robust(0.3)
    assert config.corruptions == TRAINING and config.corruption_prob == 0.3
    draws = [draw(config, np.random.default_rng([7, 0, i])) for i in range(4000)]
    chosen = [d.corruption for d in draws if d.corruption is not None]
    # binomial(4000, 0.3): standard deviation 0.0072, so 0.3 +- 0.025 is 3.5 sigma
    assert len(chosen) / 4000 == pytest.approx(0.3, abs=0.025)
    names = Counter(name for name, _ in chosen)
    assert set(names) == set(TRAINING), "every training corruption is drawn, and nothing else"
    assert not set(names) & set(HELD_OUT)
    severities = Counter(severity for _, severity in chosen)
    assert sorted(severities) == [1, 2, 3, 4, 5]
    for count in severities.values():  # ~1200 draws: each severity 20 % +- 4 points (3.5 sigma)
        assert count / len(chosen) == pytest.approx(0.2, abs=0.04)
    for count in names.values():  # 9 names: each 11.1 % +- 3.2 points (3.5 sigma)
        assert count / len(chosen) == pytest.approx(1 / 9, abs=0.032)


def test_robust_keeps_every_other_choice_of_the_full_augmentation_for_the_same_seed():
    full, robust = AugmentConfig(), AugmentConfig.robust(0.5)
    for i in range(200):
        a, b = draw(full, np.random.default_rng([3, 1, i])), draw(robust, np.random.default_rng([3, 1, i]))
        assert a.corruption is None
        assert (a.flip, a.shift, a.photometric_seed) == (b.flip, b.shift, b.photometric_seed)


def test_corruption_leaves_steering_and_shape_alone_and_is_deterministic_for_a_seed():
    frame = _road_frame()
    config = AugmentConfig(**ONLY_CORRUPTION, corruptions=("gaussian_noise",))
    out, steering = augment(frame, 0.37, config, np.random.default_rng(5))
    again, _ = augment(frame, 0.37, config, np.random.default_rng(5))
    other, _ = augment(frame, 0.37, config, np.random.default_rng(6))
    assert steering == pytest.approx(0.37) and out.shape == frame.shape and out.dtype == np.uint8
    assert np.array_equal(out, again) and not np.array_equal(out, other)
    # ImageNet-C gaussian noise: standard deviation 0.08-0.38 of full scale, i.e. 20-97 grey levels
    assert 15 < float(np.std(out.astype(np.float64) - frame)) < 105
    # robust and full on the same seeds: the same labels always; the same pixels exactly where no corruption fell
    full, robust = AugmentConfig(), AugmentConfig.robust(0.5)
    corrupted = 0
    for i in range(24):
        label = (i - 12) / 20
        plain, label_full = augment(frame, label, full, np.random.default_rng([9, 0, i]))
        hit, label_robust = augment(frame, label, robust, np.random.default_rng([9, 0, i]))
        assert label_robust == label_full
        choice = draw(robust, np.random.default_rng([9, 0, i]))
        corrupted += choice.corruption is not None
        assert np.array_equal(plain, hit) == (choice.corruption is None), choice
    assert 0 < corrupted < 24


def test_renderer_effects_and_unknown_names_cannot_be_training_corruptions():
    with pytest.raises(ValueError, match="renderer .*cannot be applied to a recorded frame"):
        AugmentConfig(corruption_prob=0.5, corruptions=("night",))
    with pytest.raises(PerturbError, match="did you mean gaussian_noise"):
        AugmentConfig(corruption_prob=0.5, corruptions=("gausian_noise",))
    with pytest.raises(ValueError, match="needs corruptions"):
        AugmentConfig(corruption_prob=0.5)
    with pytest.raises(ValueError, match="corruption_prob must be in"):
        AugmentConfig.robust(1.5)


def test_train_help_lists_robust_with_its_training_set_and_the_renderer_limit(capsys):
    with pytest.raises(SystemExit):
        train_cli.main(["--help"])
    text = re.sub(r"\s+", " ", capsys.readouterr().out)
    assert "{auto,full,robust,flip,none}" in text and "--corruption-probability" in text
    assert "robust (full, then one camera corruption of the training set, noise and digital: gaussian_noise," in text
    assert "distance_fog night rain sun_glare, needs depth and cannot be applied to recorded frames" in text
    config, _ = train_cli.parse_config(["a.csv", "--augment", "robust", "--corruption-probability", "0.25"])
    assert (config.augment, config.corruption_probability) == ("robust", 0.25)
    with pytest.raises(ValueError, match="corruption_probability must be in"):
        TrainConfig(corruption_probability=-0.1)


def test_robust_mode_builds_a_training_set_with_the_training_corruptions(tmp_path):
    log = write_line_recording(tmp_path / "rec", 40)
    config = TrainConfig(logs=[str(log)], augment="robust", corruption_probability=0.4, flip_probability=0.3)
    bundle = bundle_from_logs(config, PreprocessConfig())
    assert bundle.make_train("robust").augment == AugmentConfig(flip_prob=0.3, corruption_prob=0.4,
                                                                 corruptions=TRAINING)
    assert bundle.make_train("full").augment == AugmentConfig(flip_prob=0.3)
    assert bundle.make_train("none").augment is None


@pytest.mark.parametrize("stages", [None, ()], ids=["backbone-trains", "backbone-frozen"])
def test_a_robust_phase_trains_on_corrupted_images_never_on_the_feature_cache(tmp_path, stages):
    log = write_line_recording(tmp_path / "rec", 40)
    config = TrainConfig(logs=[str(log)], model="pilotnet", pretrained="none", augment="robust",
                         out=str(tmp_path / "run"), progress=False)
    runner = make_runner(config, bundle_from_logs(config, config.preprocess()), create_model("pilotnet"),
                         Phase(0, stages), DistContext())
    assert not runner.cached
    assert runner.train_set.augment == AugmentConfig.robust(0.5)
