"""The ImageNet-C corruptions rewritten for speed, each the same operation as the code it replaced.

`shot_noise` and `speckle_noise` (imagecorruptions' Poisson and multiplicative normal noise), `glass_blur`,
`spatter` and `defocus_blur` (albumentations' GlassBlur in its "fast" mode, Spatter and Defocus, with
ImageNet-C's parameters) were the slowest corruptions per camera frame (2-25 ms); here each is vectorised
numpy/OpenCV in float32 with its random numbers drawn in bulk from the frame's generator (noise as
tabulated quantiles of its law picked by uniform integers, cheaper than numpy's Poisson and normal
samplers). tests/test_perturb_equivalence.py keeps the replaced code and checks the effect is the same;
`imagenet_c.py` registers these under their names.
"""
from __future__ import annotations

import functools
import math
import statistics

import cv2
import numpy as np

from steering.perturb.registry import FrameContext, blend


def _at(table, severity):
    return table[severity - 1]


SHOT_LEVELS = 1 << 12  # quantiles of the Poisson law tabulated per input level: its probabilities to 1/4096


@functools.lru_cache(maxsize=8)
def poisson_table(c: float) -> np.ndarray:
    """uint8 (256 * SHOT_LEVELS,): entry v * SHOT_LEVELS + j is ImageNet-C's shot noise `poisson(v/255 * c) / c`
    (as 0..255) at the quantile (j + 0.5) / SHOT_LEVELS of the Poisson law: a uniform draw indexes it."""
    kmax = int(c + 12 * math.sqrt(c) + 12)  # the law's mass beyond is below 1e-15 for every level
    k = np.arange(kmax + 1)
    lam = ((np.arange(256, dtype=np.float32) * np.float32(1 / 255)) * np.float32(c)).astype(np.float64)[:, None]
    log_k_factorial = np.array([math.lgamma(i + 1) for i in k])
    log_lam = np.log(np.maximum(lam, 1e-300))  # level 0 (lambda = 0) has all its mass at k = 0
    pmf = np.where(lam > 0, np.exp(k * log_lam - lam - log_k_factorial), (k == 0).astype(np.float64))
    cdf = np.cumsum(pmf, axis=1)
    quantiles = (np.arange(SHOT_LEVELS) + 0.5) / SHOT_LEVELS
    ks = np.stack([np.searchsorted(row, quantiles, side="right") for row in cdf]).clip(max=kmax)
    return np.clip(ks / c * 255 + 0.5, 0, 255).astype(np.uint8).ravel()


def shot_noise(frame: np.ndarray, severity: int, context: FrameContext) -> np.ndarray:
    # a Poisson draw per sample costs ~10 ms a frame; the inverse of its law, tabulated, ~0.7 ms
    table = poisson_table(float(_at([60, 25, 12, 5, 3], severity)))
    index = frame.astype(np.uint32) << (SHOT_LEVELS.bit_length() - 1)
    index |= context.rng.integers(0, SHOT_LEVELS, frame.shape, dtype=np.uint16)
    return table.take(index)


NORMAL_LEVELS = 1 << 16  # standard normal quantiles tabulated: a uniform uint16 draw picks one


@functools.lru_cache(maxsize=1)
def normal_quantiles() -> np.ndarray:
    """float64 (NORMAL_LEVELS,): the standard normal's quantiles at (j + 0.5) / NORMAL_LEVELS (|z| <= 4.4)."""
    normal = statistics.NormalDist()
    return np.array([normal.inv_cdf((j + 0.5) / NORMAL_LEVELS) for j in range(NORMAL_LEVELS)], np.float64)


def standard_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """float32 standard normal samples (to 1/65536 in probability), 2-3x cheaper than numpy's sampler."""
    return _normal32().take(rng.integers(0, NORMAL_LEVELS, shape, dtype=np.uint16))


@functools.lru_cache(maxsize=1)
def _normal32() -> np.ndarray:
    return normal_quantiles().astype(np.float32)


@functools.lru_cache(maxsize=8)
def speckle_factors(c: float) -> np.ndarray:
    """float32 (NORMAL_LEVELS,): 1 + c * z at the normal quantiles z."""
    return (1 + c * normal_quantiles()).astype(np.float32)


def speckle_noise(frame: np.ndarray, severity: int, context: FrameContext) -> np.ndarray:
    # ImageNet-C: x + x * normal(0, c), i.e. x * (1 + c z); numpy's normal draw was most of the ~2 ms it took
    factors = speckle_factors(float(_at([.15, .2, .35, .45, .6], severity)))
    noise = factors.take(context.rng.integers(0, NORMAL_LEVELS, frame.shape, dtype=np.uint16))
    return cv2.multiply(frame, noise, dtype=cv2.CV_8U)  # rounded and saturated to 0..255, as before


DEFOCUS = ((3, .1), (4, .5), (6, .5), (8, .5), (10, .5))  # (disc radius px, its anti-aliasing blur sigma)


@functools.lru_cache(maxsize=8)
def defocus_kernel(radius: int, alias_blur: float) -> np.ndarray:
    """albumentations' Defocus kernel (a disc on a grid of at least 17 x 17, normalised, blurred), cut to the
    square its non-zero taps fill: for radius 3-6 the zeros around are 70-20 % of filter2D's work."""
    length = np.arange(-max(8, radius), max(8, radius) + 1)
    x, y = np.meshgrid(length, length)
    disc = np.array((x**2 + y**2) <= radius**2, dtype=np.float32)
    disc /= np.sum(disc)
    kernel = cv2.GaussianBlur(disc, (3, 3) if radius <= 8 else (5, 5), sigmaX=alias_blur)
    centre = kernel.shape[0] // 2
    ys, xs = np.nonzero(kernel)
    reach = int(max(np.abs(ys - centre).max(), np.abs(xs - centre).max()))
    return np.ascontiguousarray(kernel[centre - reach:centre + reach + 1, centre - reach:centre + reach + 1])


def defocus_blur(frame: np.ndarray, severity: int, context: FrameContext) -> np.ndarray:
    return cv2.filter2D(frame, -1, defocus_kernel(*_at(DEFOCUS, severity)))  # borders reflected, as albumentations


GLASS = ((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2))  # (sigma, max_delta, iterations)


@functools.lru_cache(maxsize=16)
def _glass_grid(height: int, width: int, max_delta: int) -> tuple[np.ndarray, np.ndarray]:
    """The flat indices ImageNet-C's glass blur visits, in its (vectorised) order, and its (2 d)^2 displacements
    (dy, dx in [-d, d)) as flat offsets."""
    rows, cols = np.arange(height - max_delta, max_delta, -1), np.arange(width - max_delta, max_delta, -1)
    visited = np.tile(rows, cols.size) * width + np.repeat(cols, rows.size)
    offsets = [dy * width + dx for dy in range(-max_delta, max_delta) for dx in range(-max_delta, max_delta)]
    return visited.astype(np.intp), np.array(offsets, np.intp)


def glass_blur(frame: np.ndarray, severity: int, context: FrameContext) -> np.ndarray:
    """ImageNet-C's glass blur as albumentations' GlassBlur(mode="fast") does it: blur, swap every visited pixel
    with one displaced by (dy, dx) uniform in [-d, d)^2, `iterations` times, blur again. The swaps are done on
    the pixels packed as uint32 (one gather, one scatter each), the visited grid written as a strided view:
    the same frame as albumentations' for the same displacements, 5-10x faster."""
    sigma, max_delta, iterations = _at(GLASS, severity)
    h, w = frame.shape[:2]
    x = cv2.cvtColor(cv2.GaussianBlur(frame, (0, 0), sigma), cv2.COLOR_RGB2RGBA)
    pixels = x.view(np.uint32).reshape(-1)
    grid = pixels.reshape(h, w)[h - max_delta:max_delta:-1, w - max_delta:max_delta:-1].T  # `visited`, as a view
    visited, offsets = _glass_grid(h, w, max_delta)
    draws = context.rng.integers(0, len(offsets), (iterations, visited.size), dtype=np.uint8)
    for i in range(iterations):
        other = visited + offsets[draws[i]]
        theirs, mine = pixels.take(other), grid.ravel()
        grid[...] = theirs.reshape(grid.shape)
        pixels[other] = mine  # where two swaps hit one pixel the later wins, as in albumentations
    return cv2.GaussianBlur(cv2.cvtColor(x, cv2.COLOR_RGBA2RGB), (0, 0), sigma)


# imagecorruptions' spatter table as albumentations.Spatter takes it: (mean, std, gauss_sigma, cutout_threshold,
# intensity, mud); at severities 4-5 (mud) the package's 1.5 is its mask's blur, albumentations' mud opaque (1)
SPATTER = ((.65, .3, 4, .69, .6, False), (.65, .3, 3, .68, .6, False), (.65, .3, 2, .68, .5, False),
           (.65, .3, 1, .65, 1.0, True), (.67, .4, 1, .65, 1.0, True))
RAIN_COLOUR = np.array([238, 238, 175], np.float32)  # albumentations' default colours, 0..255
MUD_COLOUR = np.array([20, 42, 63], np.float32)
_DROP_KERNEL = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], np.float32)  # albumentations' drop shaping


def spatter_layer(shape: tuple[int, int], severity: int, rng: np.random.Generator) -> np.ndarray:
    """float32 (H, W): the liquid, a blurred normal field with what falls below the cut-out set to 0."""
    mean, std, sigma, threshold = _at(SPATTER, severity)[:4]
    layer = standard_normal(rng, shape)
    layer *= np.float32(std)
    layer += np.float32(mean)
    ksize = int(2 * round(3 * sigma) + 1)
    cv2.GaussianBlur(layer, (ksize, ksize), sigma, dst=layer, borderType=cv2.BORDER_REPLICATE)
    layer[layer < threshold] = 0
    return layer


def spatter_from_layer(frame: np.ndarray, layer: np.ndarray, severity: int,
                       rng: np.random.Generator) -> np.ndarray:
    """albumentations' rain drops (edges of the liquid, distance-shaped) added, or its mud blended in."""
    threshold, intensity, mud = _at(SPATTER, severity)[3:]
    if mud:
        mask = (layer > threshold).astype(np.float32)
        if not mask.any():  # albumentations' fallback: 10 % of the pixels
            mask.flat[rng.choice(mask.size, max(1, mask.size // 10), replace=False)] = 1
        mask = cv2.GaussianBlur(mask, (0, 0), _at(SPATTER, severity)[2], borderType=cv2.BORDER_REPLICATE)
        mask *= np.float32(intensity / max(float(mask.max()), 1e-12))
        colour = np.empty_like(frame)
        colour[:] = np.rint(MUD_COLOUR).astype(np.uint8)
        return blend(frame, colour, mask)
    liquid = np.clip(layer * 255, 0, 255).astype(np.uint8)
    dist = cv2.distanceTransform(255 - cv2.Canny(liquid, 50, 150), cv2.DIST_L2, 5)
    _, dist = cv2.threshold(dist, 20, 20, cv2.THRESH_TRUNC)
    dist = cv2.GaussianBlur(dist, (3, 3), 1, borderType=cv2.BORDER_REPLICATE)
    # albumentations equalises the float 0..20 distances as uint8 rint(d * 255), then filters in 0..1 clipped
    # to 0..1: the same as filtering the equalised uint8 values with saturation (integer kernel, integer sums)
    dist = cv2.convertScaleAbs(dist, alpha=255)
    dist = cv2.filter2D(cv2.equalizeHist(dist), -1, _DROP_KERNEL)
    dist = cv2.GaussianBlur(dist.astype(np.float32), (5, 5), 1.5, borderType=cv2.BORDER_REPLICATE)
    drops = cv2.multiply(liquid, dist, dtype=cv2.CV_32F)
    top = float(drops.max())
    if top <= 0:
        return frame.copy()
    # frame + drops rounded is frame + rounded drops (the frame is whole numbers): each channel's drops become
    # uint8 in one pass and are added with saturation, instead of a float (H, W, 3) sum
    drops = cv2.merge([cv2.convertScaleAbs(drops, alpha=c * intensity * 0.9 / top) for c in RAIN_COLOUR])
    return cv2.add(frame, drops)


def spatter(frame: np.ndarray, severity: int, context: FrameContext) -> np.ndarray:
    layer = spatter_layer(frame.shape[:2], severity, context.rng)
    return spatter_from_layer(frame, layer, severity, context.rng)
