"""The fast corruptions against the implementations they replaced (kept here, not in the package): same effect.

On real frames (two rendered by the simulator, one recorded by the Unity simulator) the mean |out - clean| of
each rewritten corruption stays within 15 % of the old one's at every severity, the old values computed here
from the old code; where the new code draws the same random numbers differently, the output given the same
draws is the old output exactly.
"""
from __future__ import annotations

import math

import albumentations as A
import cv2
import numpy as np
import pytest
from albumentations.augmentations.blur.functional import defocus as albumentations_defocus
from albumentations.augmentations.blur.functional import glass_blur as albumentations_glass_blur
from albumentations.augmentations.pixel import functional as albumentations_pixel

from steering.perturb import FrameContext, get_perturbation
from steering.perturb.imagenet_c import motion_kernel, streak
from steering.perturb.imagenet_c_fast import DEFOCUS, GLASS, SPATTER, _glass_grid, spatter_from_layer, spatter_layer
from steering.sim.world import World, WorldConfig

SEEDS = (0, 1, 2)
MORE_SEEDS = {"spatter": tuple(range(10))}  # its few drops at severity 1 vary ~20 % from one draw to the next
TOLERANCE = 0.15  # relative difference allowed between the effect sizes (mean |out - clean|)


@pytest.fixture(scope="module")
def frames(lake_log) -> list[np.ndarray]:
    """Two simulator frames of the lake (start, 30 steps on) and one centre frame of a Unity recording."""
    world = World(WorldConfig(track="lake"))
    rendered = [world.render("center")]
    for _ in range(30):
        world.step(0.0, 0.6)
    rendered.append(world.render("center"))
    path = lake_log.parent / "IMG" / lake_log.read_text().splitlines()[0].split(",")[0].split("/")[-1]
    unity = cv2.imread(str(path))
    assert unity is not None, f"cannot read {path}"
    return [*rendered, cv2.cvtColor(unity, cv2.COLOR_BGR2RGB)]


def effect_size(apply, frames: list[np.ndarray], seeds=SEEDS) -> float:
    """mean |out - clean| in 0..255 over the frames and seeds; `apply(frame, seed)` -> frame."""
    return float(np.mean([np.abs(apply(f, seed).astype(np.float32) - f).mean() for f in frames for seed in seeds]))


def new(name: str, severity: int):
    perturbation = get_perturbation(name)
    return lambda frame, seed: perturbation.apply(frame, severity, FrameContext(np.random.default_rng(seed), seed))


# -- the implementations replaced -------------------------------------------------------------------------------
def old_shot_noise(frame: np.ndarray, severity: int, seed: int) -> np.ndarray:
    c = [60, 25, 12, 5, 3][severity - 1]
    x = np.random.default_rng(seed).poisson(frame.astype(np.float32) / 255 * c) / c
    return np.clip(x * 255 + 0.5, 0, 255).astype(np.uint8)


def old_glass_blur(frame: np.ndarray, severity: int, seed: int) -> np.ndarray:
    transform = A.GlassBlur(*GLASS[severity - 1], mode="fast", p=1)
    transform.set_random_seed(seed)
    return transform(image=frame)["image"]


def old_spatter(frame: np.ndarray, severity: int, seed: int) -> np.ndarray:
    mean, std, sigma, threshold, intensity, mud = SPATTER[severity - 1]
    transform = A.Spatter((mean, mean), (std, std), (sigma, sigma), (threshold, threshold), (intensity, intensity),
                          "mud" if mud else "rain", p=1)
    transform.set_random_seed(seed)
    return transform(image=frame)["image"]


def old_motion_blur(frame: np.ndarray, severity: int, seed: int) -> np.ndarray:
    radius, sigma = [(10, 3), (15, 5), (15, 8), (15, 12), (20, 15)][severity - 1]
    kernel = motion_kernel(radius, sigma, float(np.random.default_rng(seed).uniform(-45, 45)))
    return cv2.filter2D(frame, -1, kernel, borderType=cv2.BORDER_REPLICATE)


def old_snow(frame: np.ndarray, severity: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = [(.1, .3, 3, .5, 10, 4, .8), (.2, .3, 2, .5, 12, 4, .7), (.55, .3, 4, .9, 12, 8, .7),
         (.55, .3, 4.5, .85, 12, 8, .65), (.55, .3, 2.5, .85, 12, 12, .55)][severity - 1]
    x = frame.astype(np.float32) / 255
    h, w = x.shape[:2]
    layer = rng.normal(c[0], c[1], (h, w)).astype(np.float32)
    ch, cw = int(math.ceil(h / c[2])), int(math.ceil(w / c[2]))
    top, left = (h - ch) // 2, (w - cw) // 2
    layer = cv2.resize(layer[top:top + ch, left:left + cw], (w, h), interpolation=cv2.INTER_CUBIC)
    layer[layer < c[3]] = 0
    layer = np.clip(layer, 0, 1)
    kernel = motion_kernel(int(c[4]), c[5], float(rng.uniform(-135, -45)))
    layer = cv2.filter2D(layer, -1, kernel, borderType=cv2.BORDER_REPLICATE)
    layer = np.round(layer * 255) / 255
    grey = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)[..., None]
    x = c[6] * x + (1 - c[6]) * np.maximum(x, grey * 1.5 + 0.5)
    return np.clip((x + (layer + layer[::-1, ::-1])[..., None]) * 255 + 0.5, 0, 255).astype(np.uint8)


def old_speckle_noise(frame: np.ndarray, severity: int, seed: int) -> np.ndarray:
    c = [.15, .2, .35, .45, .6][severity - 1]
    x = frame.astype(np.float32) / 255
    noisy = x + x * (np.random.default_rng(seed).standard_normal(x.shape, dtype=np.float32) * np.float32(c))
    return np.clip(noisy * 255 + 0.5, 0, 255).astype(np.uint8)


OLD = {"shot_noise": old_shot_noise, "speckle_noise": old_speckle_noise, "glass_blur": old_glass_blur,
       "spatter": old_spatter, "motion_blur": old_motion_blur, "snow": old_snow}


@pytest.mark.parametrize("name", sorted(OLD))
def test_rewritten_corruption_has_the_old_effect_size_at_every_severity(name, frames):
    for severity in range(1, 6):
        seeds = MORE_SEEDS.get(name, SEEDS)
        old = effect_size(lambda f, s, sev=severity: OLD[name](f, sev, s), frames, seeds)
        now = effect_size(new(name, severity), frames, seeds)
        assert now == pytest.approx(old, rel=TOLERANCE), f"{name}:{severity}: |out - clean| {now:.2f}, was {old:.2f}"


class _Draws:
    """Stands in for the frame's generator: `integers` returns the displacements albumentations drew."""

    def __init__(self, draws: np.ndarray):
        self.draws = draws

    def integers(self, low, high, size, dtype):
        assert tuple(size) == self.draws.shape and low == 0 and high > self.draws.max()
        return self.draws.astype(dtype)


@pytest.mark.parametrize("severity", [1, 3, 5])
def test_glass_blur_is_albumentations_glass_blur_for_the_same_displacements(frames, severity):
    frame = frames[1]
    sigma, max_delta, iterations = GLASS[severity - 1]
    visited, _ = _glass_grid(*frame.shape[:2], max_delta)
    # albumentations draws (dy, dx) in [-d, d) per visited pixel and iteration; the port, the index of the pair
    dxy = np.random.default_rng(4).integers(-max_delta, max_delta, size=(visited.size, iterations, 2))
    pairs = ((dxy[..., 0] + max_delta) * 2 * max_delta + dxy[..., 1] + max_delta).T
    expected = albumentations_glass_blur(frame, sigma, max_delta, iterations, dxy, "fast")
    got = get_perturbation("glass_blur").apply(frame, severity, FrameContext(_Draws(pairs)))
    assert np.array_equal(got, expected)


def test_shot_noise_has_the_mean_and_variance_of_imagenet_cs_clipped_poisson_law():
    for severity, c in ((1, 60), (3, 12), (5, 3)):
        for level in (40, 128, 230):
            grey = np.full((160, 320, 3), level, np.uint8)
            counts = new("shot_noise", severity)(grey, 3).astype(np.float64) / 255 * c
            lam = level / 255 * c  # ImageNet-C: poisson(x * c) / c, clipped to 1, i.e. counts above c become c
            pmf = [math.exp(k * math.log(lam) - lam - math.lgamma(k + 1)) for k in range(200)]
            mean = sum(min(k, c) * p for k, p in enumerate(pmf))
            var = sum((min(k, c) - mean) ** 2 * p for k, p in enumerate(pmf))
            assert counts.mean() == pytest.approx(mean, rel=0.02, abs=0.02), (severity, level)
            assert counts.var() == pytest.approx(var, rel=0.05), (severity, level)


@pytest.mark.parametrize("severity", [1, 3, 4, 5])
def test_spatter_is_albumentations_spatter_for_the_same_liquid(frames, severity):
    frame = frames[0]
    layer = spatter_layer(frame.shape[:2], severity, np.random.default_rng(9))
    threshold, intensity, mud = SPATTER[severity - 1][3:]
    if mud:
        mask = albumentations_pixel.get_mud_params(layer, np.array([20, 42, 63]) / 255, threshold,
                                                   SPATTER[severity - 1][2], intensity, np.random.default_rng(0))
        expected = albumentations_pixel.spatter_mud(frame, mask["non_mud"], mask["mud"])
    else:
        drops = albumentations_pixel.get_rain_params(layer, np.array([238, 238, 175]) / 255, intensity)["drops"]
        expected = albumentations_pixel.spatter_rain(frame, drops)
    got = spatter_from_layer(frame, layer, severity, np.random.default_rng(0))
    difference = np.abs(got.astype(int) - expected)
    assert not np.array_equal(got, frame)
    assert difference.max() <= 1 and difference.mean() < 0.01  # float32 against float64 rounding, nothing more


@pytest.mark.parametrize("severity", range(1, 6))
def test_motion_blur_is_the_old_filter2d_blur_for_the_same_angle(frames, severity):
    for frame in frames:
        difference = np.abs(new("motion_blur", severity)(frame, 5).astype(int) - old_motion_blur(frame, severity, 5))
        assert difference.max() <= 1 and difference.mean() < 0.01  # float rounding, nothing more


@pytest.mark.parametrize("angle", [-135.0, -90.0, -50.0, 0.0, 33.0])
def test_streak_sums_the_kernels_taps_as_filter2d_does_at_every_border(angle):
    layer = np.random.default_rng(1).random((160, 320), dtype=np.float32)
    kernel = motion_kernel(12, 8, angle)
    expected = cv2.filter2D(layer, -1, kernel, borderType=cv2.BORDER_REPLICATE)
    assert np.allclose(streak(layer, kernel), expected, atol=1e-5)


def test_speckle_noise_scales_each_level_by_one_plus_c_times_a_standard_normal():
    grey = np.full((160, 320, 3), 100, np.uint8)
    out = new("speckle_noise", 1)(grey, 3).astype(np.float64)  # c = 0.15: 100 * (1 + c z) never clips
    assert out.mean() == pytest.approx(100, abs=0.2) and out.std() == pytest.approx(15, rel=0.02)
    out = new("speckle_noise", 5)(grey, 3)  # c = 0.6: 0 where 100 * (1 + c z) < 0.5, i.e. z < -0.995 / c
    assert (out == 0).mean() == pytest.approx(0.5 * math.erfc(0.995 / 0.6 / math.sqrt(2)), abs=0.003)


@pytest.mark.parametrize("severity", range(1, 6))
def test_defocus_blur_is_albumentations_defocus_with_the_kernels_zero_border_cut(frames, severity):
    for frame in frames:
        expected = albumentations_defocus(frame, *DEFOCUS[severity - 1])
        difference = np.abs(new("defocus_blur", severity)(frame, 0).astype(int) - expected)
        assert difference.max() <= 1 and difference.mean() < 0.01  # filter2D's DFT of another size rounds apart
