"""Image-space perturbations: the names, determinism per seed, severities that differ, values by hand."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from bench import perturb, registry
from steering.perturb import (
    Condition,
    FrameContext,
    PerturbError,
    PerturbPlan,
    describe,
    get_perturbation,
    list_perturbations,
)

# imagecorruptions.get_corruption_names("all") of imagecorruptions 1.1.2, in its order (15 benchmark + 4 validation)
LIBRARY_NAMES = ["gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur",
                 "zoom_blur", "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate",
                 "jpeg_compression", "speckle_noise", "gaussian_blur", "spatter", "saturate"]
RENDER_NAMES = ["distance_fog", "night", "rain", "sun_glare"]


def textured_frame(height: int = 160, width: int = 320) -> np.ndarray:
    """uint8 RGB: colour gradients plus a 10 px checkerboard, no pixel at 0 or 255 (nothing clips at once)."""
    ys, xs = np.mgrid[0:height, 0:width]
    checker = ((ys // 10 + xs // 10) % 2) * 60
    frame = np.stack([40 + xs * 120 // width + checker, 50 + ys * 100 // height + checker,
                      90 + checker + 0 * xs], axis=-1)
    return frame.astype(np.uint8)


def apply(name: str, frame: np.ndarray, severity: int, seed: int = 7) -> np.ndarray:
    return get_perturbation(name).apply(frame, severity, FrameContext(rng=np.random.default_rng(seed), seed=seed))


def test_every_library_corruption_is_registered_by_its_own_name():
    assert list_perturbations("imagenet-c") == sorted(LIBRARY_NAMES)
    assert list_perturbations("render") == RENDER_NAMES
    listing = describe().splitlines()
    assert [line.split()[0] for line in listing] == sorted(LIBRARY_NAMES + RENDER_NAMES)


@pytest.mark.parametrize("name", LIBRARY_NAMES)
def test_corruption_is_deterministic_for_a_seed_and_differs_between_severities(name):
    frame = textured_frame()
    outputs = []
    for severity in range(1, 6):
        first, again = apply(name, frame, severity), apply(name, frame, severity)
        assert first.shape == frame.shape and first.dtype == np.uint8
        assert np.array_equal(first, again), f"{name}:{severity} differs between two runs with the same seed"
        assert not np.array_equal(first, frame), f"{name}:{severity} left the frame as it was"
        outputs.append(first)
    for severity in range(1, 5):
        assert not np.array_equal(outputs[severity - 1], outputs[severity]), \
            f"{name}: severity {severity} and {severity + 1} give the same frame"


@pytest.mark.parametrize("name", ["gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "snow",
                                  "motion_blur", "glass_blur", "elastic_transform", "spatter", "frost"])
def test_random_corruptions_change_with_the_seed(name):
    frame = textured_frame()
    assert not np.array_equal(apply(name, frame, 3, seed=1), apply(name, frame, 3, seed=2))


def test_gaussian_noise_has_imagenet_c_standard_deviation():
    grey = np.full((160, 320, 3), 128, np.uint8)
    for severity, std in ((1, 0.08), (3, 0.18)):  # ImageNet-C's table, as a fraction of 255
        noise = (apply("gaussian_noise", grey, severity).astype(float) - 128) / 255
        assert abs(noise.mean()) < 0.005
        assert noise.std() == pytest.approx(std, rel=0.05)


def test_contrast_shrinks_each_pixels_distance_to_the_mean():
    frame = np.zeros((40, 40, 3), np.uint8)
    frame[:20], frame[20:] = 100, 200  # mean 150
    out = apply("contrast", frame, 1).astype(int)  # c = 0.4: 150 -+ 50 * 0.4
    assert out[0, 0].tolist() == [130] * 3 and out[-1, 0].tolist() == [170] * 3


def test_pixelate_makes_blocks_of_the_downscaled_size():
    frame = textured_frame()
    out = apply("pixelate", frame, 5)  # 25 %: 80x40, each shown as a 4x4 block
    blocks = out.reshape(40, 4, 80, 4, 3)
    assert np.all(blocks == blocks[:, :1, :, :1])


def test_brightness_raises_the_hsv_value_by_the_table():
    frame = np.full((32, 32, 3), (50, 100, 150), np.uint8)  # V = 150/255
    out = apply("brightness", frame, 2)  # +0.2 V at equal hue and saturation: every channel * (0.788/0.588)
    scale = (150 / 255 + 0.2) / (150 / 255)
    assert out[0, 0].tolist() == pytest.approx([50 * scale, 100 * scale, 150 * scale], abs=1)


def test_unknown_name_error_names_close_matches():
    with pytest.raises(PerturbError, match=r"'gausian_noise'.*gaussian_noise.*--perturb list"):
        get_perturbation("gausian_noise")
    with pytest.raises(PerturbError, match="distance_fog"):
        PerturbPlan.parse("distance_fgo:3")


@pytest.mark.parametrize("text, message", [("gaussian_noise:6", "1-5"), ("gaussian_noise", "NAME:SEV"),
                                           ("gaussian_noise:two", "integer"),
                                           ("gaussian_noise:2@0-10", "--perturb-schedule")])
def test_bad_perturb_text_says_what_is_wrong(text, message):
    with pytest.raises(PerturbError, match=message):
        PerturbPlan.parse(text)


def test_schedule_parses_ranges_in_metres_driven():
    plan = PerturbPlan.parse("night:2", "distance_fog:4@200-350, rain:5@500-")
    assert plan.conditions == (Condition("night", 2), Condition("distance_fog", 4, 200.0, 350.0),
                               Condition("rain", 5, 500.0, math.inf))
    assert str(plan) == "night:2,distance_fog:4@200-350,rain:5@500-"
    assert [c.name for c in plan.active(199.9)] == ["night"]
    assert [c.name for c in plan.active(200.0)] == ["night", "distance_fog"]
    assert [c.name for c in plan.active(350.0)] == ["night"]
    assert [c.name for c in plan.active(1e6)] == ["night", "rain"]
    with pytest.raises(PerturbError, match="FROM < TO"):
        PerturbPlan.parse("", "rain:2@300-200")


def test_plan_puts_renderer_effects_before_image_corruptions():
    plan = PerturbPlan.parse("gaussian_noise:1,night:2,contrast:3,rain:1")
    assert [c.name for c in plan.active(0.0)] == ["night", "rain", "gaussian_noise", "contrast"]


def test_renderer_effect_refuses_a_frame_without_the_renderers_scene():
    with pytest.raises(PerturbError, match="renderer"):
        PerturbPlan.parse("distance_fog:2").apply(textured_frame(), 0.0, frame_index=0)


def test_plan_seeds_each_frame_and_camera_apart():
    plan, frame = PerturbPlan.parse("gaussian_noise:3"), textured_frame()
    first = plan.apply(frame, 0.0, frame_index=3, camera_index=0, seed=5)
    assert np.array_equal(first, plan.apply(frame, 0.0, frame_index=3, camera_index=0, seed=5))
    assert not np.array_equal(first, plan.apply(frame, 0.0, frame_index=4, camera_index=0, seed=5))
    assert not np.array_equal(first, plan.apply(frame, 0.0, frame_index=3, camera_index=1, seed=5))
    assert not np.array_equal(first, plan.apply(frame, 0.0, frame_index=3, camera_index=0, seed=6))


def test_robustness_doc_quotes_the_stored_speed_table_exactly():
    """docs/robustness.md's speed table is `python -m bench perturb --update`'s, as bench/results.json holds it."""
    repo = Path(__file__).resolve().parents[1]
    stored = registry.load(repo / "bench" / "results.json").results["perturb"]
    assert perturb.section(stored) in (repo / "docs" / "robustness.md").read_text()
    assert {row.name for row in stored.rows} == {"clean", *list_perturbations()}
