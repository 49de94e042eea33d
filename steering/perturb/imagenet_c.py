"""The ImageNet-C corruptions (Hendrycks & Dietterich 2019), by the names of the `imagecorruptions` package.

The 15 corruptions of the benchmark (noise: gaussian, shot, impulse; blur: defocus, glass, motion, zoom;
weather: snow, frost, fog, brightness; digital: contrast, elastic, pixelate, JPEG) and its 4 validation
ones (speckle_noise, gaussian_blur, spatter, saturate), each at severities 1-5 with that package's own
parameter table, so `--perturb NAME:SEV` takes every name `imagecorruptions.get_corruption_names("all")`
returns.

Why not that package itself: imagecorruptions 1.1.2 (the latest, 2020) does not import with setuptools
>= 81 (`pkg_resources` is gone), three of its functions fail on NumPy 2 / scikit-image >= 0.19 (fog:
`np.float_`; glass_blur and gaussian_blur: `multichannel=`), impulse_noise cannot be seeded (scikit-image
draws from its own generator), and it requires `opencv-python` (which clashes with our headless
OpenCV). So each corruption is either the albumentations transform that implements the same operation
(given ImageNet-C's parameters) or a numpy/OpenCV port of the package's function; `source` says which,
and docs/robustness.md measures their speed. The ones rewritten for speed live in `imagenet_c_fast.py`.
Two differ on purpose: frost blends a procedural ice texture (the package's six frost photos are not
shipped anywhere we can install from) and elastic_transform is albumentations' elastic field without
ImageNet-C's extra affine jitter (which imagecorruptions 1.1.2 also dropped).
"""
from __future__ import annotations

import functools
import math

import albumentations as A
import cv2
import numpy as np

from steering.perturb.imagenet_c_fast import defocus_blur, glass_blur, shot_noise, spatter, speckle_noise
from steering.perturb.registry import FrameContext, Perturbation, register


def _float(frame: np.ndarray) -> np.ndarray:
    return frame.astype(np.float32) * (1 / 255)


def _uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(x * 255 + 0.5, 0, 255).astype(np.uint8)


# -- albumentations: the same operation, ImageNet-C's parameters ------------------------------------
def _albumentations(build):
    """An apply function running `build(severity)` (cached per severity), reseeded from the frame's rng."""
    transforms = functools.lru_cache(maxsize=None)(build)

    def apply(frame: np.ndarray, severity: int, context: FrameContext) -> np.ndarray:
        transform = transforms(severity)
        transform.set_random_seed(int(context.rng.integers(2**31)))
        return transform(image=frame)["image"]

    return apply


def _at(table, severity):
    return table[severity - 1]


ALBUMENTATIONS = {
    "gaussian_noise": lambda s: A.GaussNoise(std_range=(c := _at([.08, .12, .18, .26, .38], s), c), p=1),
    "impulse_noise": lambda s: A.SaltAndPepper(amount=(c := _at([.03, .06, .09, .17, .27], s), c),
                                               salt_vs_pepper=(0.5, 0.5), p=1),
    "zoom_blur": lambda s: A.ZoomBlur(max_factor=(m := _at([1.11, 1.16, 1.21, 1.26, 1.31], s), m),
                                      step_factor=(f := _at([.01, .01, .02, .02, .03], s), f), p=1),
    # imagecorruptions: a gaussian-smoothed uniform field, sigma 1 % of the height, amplitude alpha * 0.5 % of it
    "elastic_transform": lambda s: A.ElasticTransform(alpha=_at([12.5, 16.25, 21.25, 25, 30], s) * 0.8, sigma=1.6,
                                                      noise_distribution="uniform", border_mode=cv2.BORDER_REFLECT_101,
                                                      p=1),
    "pixelate": lambda s: A.Downscale(scale_range=(c := _at([.6, .5, .4, .3, .25], s), c),
                                      interpolation_pair={"downscale": cv2.INTER_AREA, "upscale": cv2.INTER_NEAREST},
                                      p=1),
    "jpeg_compression": lambda s: A.ImageCompression(quality_range=(q := _at([25, 18, 15, 10, 7], s), q), p=1),
    "gaussian_blur": lambda s: A.GaussianBlur(sigma_limit=(c := _at([1, 2, 3, 4, 6], s), c), blur_limit=0, p=1),
}
_SOURCE = {"gaussian_noise": "GaussNoise", "impulse_noise": "SaltAndPepper",
           "zoom_blur": "ZoomBlur", "elastic_transform": "ElasticTransform",
           "pixelate": "Downscale", "jpeg_compression": "ImageCompression", "gaussian_blur": "GaussianBlur"}


# -- numpy/OpenCV ports of imagecorruptions' functions -----------------------------------------------
def contrast(frame: np.ndarray, severity: int, context: FrameContext) -> np.ndarray:
    c = _at([.4, .3, .2, .1, .05], severity)
    means = np.asarray(cv2.mean(frame)[:3], np.float32)  # per channel, 0..255
    # (x - mean) * c + mean is affine per channel: one lookup table (256, 1, 3) does it
    table = np.clip(np.arange(256, dtype=np.float32)[:, None] * c + means * (1 - c) + 0.5, 0, 255)
    return cv2.LUT(frame, table.astype(np.uint8).reshape(256, 1, 3))


def _hsv_channel(frame: np.ndarray, channel: int, scale: float, shift: float) -> np.ndarray:
    hsv = cv2.cvtColor(_float(frame), cv2.COLOR_RGB2HSV)  # float: H in degrees, S and V in [0, 1]
    hsv[..., channel] = np.clip(hsv[..., channel] * scale + shift, 0, 1)
    return _uint8(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB))


def brightness(frame: np.ndarray, severity: int, context: FrameContext) -> np.ndarray:
    return _hsv_channel(frame, 2, 1.0, _at([.1, .2, .3, .4, .5], severity))


def saturate(frame: np.ndarray, severity: int, context: FrameContext) -> np.ndarray:
    return _hsv_channel(frame, 1, *_at([(.3, 0), (.1, 0), (2, 0), (5, .1), (20, .2)], severity))


def motion_kernel(radius: int, sigma: float, angle_deg: float) -> np.ndarray:
    """imagecorruptions' motion blur as one 2-D kernel: gaussian weights exp(-k^2 / 2 sigma^2) at k = 0..2r
    pixels behind each pixel along `angle_deg`, taps that round to one pixel summed (`streak` applies it)."""
    width = 2 * radius + 1
    weights = np.exp(-np.arange(width) ** 2 / (2 * sigma**2))
    weights /= weights.sum()
    kernel = np.zeros((2 * width + 1, 2 * width + 1), np.float32)
    dx, dy = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    for k, w in enumerate(weights):  # the package samples x[i - k*dy, j - k*dx], rounded to whole pixels
        kernel[width + int(round(k * dy)), width + int(round(k * dx))] += w
    return kernel


def streak(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """`cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REPLICATE)` for a sparse `motion_kernel`: its
    21-41 taps summed as shifted views of the padded image (as the package does), 2-4x faster than filter2D's
    DFT of the whole 63-83 px square. uint8 in: rounded uint8 out; float32 in: float32 out."""
    ys, xs = np.nonzero(kernel)
    centre = kernel.shape[0] // 2
    pad = int(max(np.abs(ys - centre).max(), np.abs(xs - centre).max()))
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE).astype(np.float32, copy=False)
    h, w = image.shape[:2]
    total = None
    for y, x in zip(ys - centre + pad, xs - centre + pad, strict=True):
        view, weight = padded[y:y + h, x:x + w], float(kernel[y + centre - pad, x + centre - pad])
        total = view * np.float32(weight) if total is None else cv2.scaleAdd(view, weight, total, dst=total)
    return cv2.convertScaleAbs(total) if image.dtype == np.uint8 else total  # weights > 0: abs changes nothing


def motion_blur(frame: np.ndarray, severity: int, context: FrameContext) -> np.ndarray:
    radius, sigma = _at([(10, 3), (15, 5), (15, 8), (15, 12), (20, 15)], severity)
    return streak(frame, motion_kernel(radius, sigma, float(context.rng.uniform(-45, 45))))


def plasma_fractal(size: int, decay: float, rng: np.random.Generator) -> np.ndarray:
    """imagecorruptions' diamond-square plasma (float (size, size) in [0, 1]), drawn from `rng`."""
    maparray = np.zeros((size, size), np.float64)
    step, wibble = size, 100.0

    def wibbled(array):
        return array / 4 + wibble * rng.uniform(-wibble, wibble, array.shape)

    while step >= 2:
        half = step // 2
        corners = maparray[0:size:step, 0:size:step]
        square = corners + np.roll(corners, -1, 0)
        square += np.roll(square, -1, 1)
        maparray[half:size:step, half:size:step] = wibbled(square)
        ms = maparray.shape[0]
        drgrid = maparray[half:ms:step, half:ms:step]
        ulgrid = maparray[0:ms:step, 0:ms:step]
        ldrsum = drgrid + np.roll(drgrid, 1, 0)
        lulsum = ulgrid + np.roll(ulgrid, -1, 1)
        maparray[0:ms:step, half:ms:step] = wibbled(ldrsum + lulsum)
        tdrsum = drgrid + np.roll(drgrid, 1, 1)
        tulsum = ulgrid + np.roll(ulgrid, -1, 0)
        maparray[half:ms:step, 0:ms:step] = wibbled(tdrsum + tulsum)
        step //= 2
        wibble /= decay
    maparray -= maparray.min()
    return maparray / maparray.max()


FOG_MAPS = 16  # plasma maps drawn per drive and severity; each frame takes one, flipped at random


@functools.lru_cache(maxsize=32)
def _plasma_bank(seed: int, severity: int, size: int) -> tuple[np.ndarray, ...]:
    """A 512x512 plasma costs ~30 ms: draw a bank once, pick per frame (the fog's look, not its speed, is the point)."""
    decay = _at([2, 2, 1.7, 1.5, 1.4], severity)
    rng = np.random.default_rng([seed, severity, 20261206])
    return tuple(plasma_fractal(size, decay, rng).astype(np.float32) for _ in range(FOG_MAPS))


def fog(frame: np.ndarray, severity: int, context: FrameContext) -> np.ndarray:
    c = _at([1.5, 2., 2.5, 2.5, 3.], severity)
    x = _float(frame)
    h, w = x.shape[:2]
    size = 1 << (max(h, w) - 1).bit_length()  # the next power of two, as the package
    bank = _plasma_bank(context.seed, severity, size)
    plasma = bank[int(context.rng.integers(len(bank)))]
    plasma = plasma[::-1] if context.rng.random() < 0.5 else plasma
    max_val = float(frame.max()) / 255
    x += c * plasma[:h, :w, None]
    return _uint8(x * (max_val / (max_val + c)))


@functools.lru_cache(maxsize=4)
def frost_texture(seed: int, height: int = 480, width: int = 640) -> np.ndarray:
    """uint8 RGB ice on glass: thousands of short bright needles branching off seed crystals, blurred and
    bluish (stands in for the package's frost photos, 1.1x the frame like theirs, cropped at random)."""
    rng = np.random.default_rng([seed, 20261206])
    ice = np.zeros((height, width), np.float32)
    for _ in range(260):
        x, y, angle = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(0, 2 * math.pi)
        for _ in range(int(rng.integers(6, 30))):
            length = rng.uniform(4, 28)
            x2, y2 = x + length * math.cos(angle), y + length * math.sin(angle)
            cv2.line(ice, (int(x), int(y)), (int(x2), int(y2)), float(rng.uniform(0.4, 1)), 1, cv2.LINE_AA)
            x, y, angle = x2, y2, angle + rng.normal(0, 0.9)
    ice = cv2.GaussianBlur(ice, (0, 0), 0.8) + cv2.GaussianBlur(ice, (0, 0), 6) * 1.5
    ice += rng.normal(0.25, 0.08, ice.shape).astype(np.float32)
    ice = np.clip(ice / np.percentile(ice, 99.5), 0, 1)
    return _uint8(ice[..., None] * np.array([0.86, 0.94, 1.0], np.float32))


def frost(frame: np.ndarray, severity: int, context: FrameContext) -> np.ndarray:
    c = _at([(1, .4), (.8, .6), (.7, .7), (.65, .7), (.6, .75)], severity)
    h, w = frame.shape[:2]
    texture = frost_texture(context.seed, max(480, int(h * 1.1) + 1), max(640, int(w * 1.1) + 1))
    y0, x0 = int(context.rng.integers(texture.shape[0] - h)), int(context.rng.integers(texture.shape[1] - w))
    return cv2.addWeighted(frame, c[0], texture[y0:y0 + h, x0:x0 + w], c[1], 0)  # saturates to 0..255


def snow(frame: np.ndarray, severity: int, context: FrameContext) -> np.ndarray:
    c = _at([(.1, .3, 3, .5, 10, 4, .8), (.2, .3, 2, .5, 12, 4, .7), (.55, .3, 4, .9, 12, 8, .7),
             (.55, .3, 4.5, .85, 12, 8, .65), (.55, .3, 2.5, .85, 12, 12, .55)], severity)
    x = _float(frame)
    h, w = x.shape[:2]
    # clipped_zoom keeps the centre h/zoom x w/zoom of a normal field, enlarged: only that part is drawn
    ch, cw = int(math.ceil(h / c[2])), int(math.ceil(w / c[2]))
    layer = context.rng.standard_normal((ch, cw), dtype=np.float32) * np.float32(c[1]) + np.float32(c[0])
    layer = cv2.resize(layer, (w, h), interpolation=cv2.INTER_CUBIC)
    layer[layer < c[3]] = 0
    np.minimum(layer, 1, out=layer)  # what is left is >= c[3] > 0
    kernel = motion_kernel(int(c[4]), c[5], float(context.rng.uniform(-135, -45)))
    layer = streak(layer, kernel)
    layer = np.rint(layer * 255, out=layer)
    layer += layer[::-1, ::-1]  # a copy on the right: numpy buffers overlapping operands
    grey = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY) * np.float32(1.5) + np.float32(0.5)
    x = cv2.addWeighted(x, c[6], cv2.max(x, cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB)), 1 - c[6], 0)
    x = cv2.scaleAdd(x, 255, cv2.cvtColor(layer, cv2.COLOR_GRAY2RGB))  # x * 255 + flakes, every term >= 0
    return cv2.convertScaleAbs(x)  # rounds and saturates to uint8

PORTS = {"defocus_blur": defocus_blur, "shot_noise": shot_noise, "glass_blur": glass_blur, "spatter": spatter,
         "speckle_noise": speckle_noise, "contrast": contrast, "brightness": brightness, "saturate": saturate,
         "motion_blur": motion_blur, "fog": fog, "frost": frost, "snow": snow}

_PORT_SOURCE = {"frost": "port of imagecorruptions, procedural ice",
                "shot_noise": "port of imagecorruptions, tabulated Poisson",
                "glass_blur": "port of albumentations.GlassBlur (fast)",
                "spatter": "port of albumentations.Spatter",
                "defocus_blur": "port of albumentations.Defocus"}

# imagecorruptions.get_corruption_names("all"), in its order: the 15 of the benchmark, then 4 for validation
NAMES = ("gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
         "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression",
         "speckle_noise", "gaussian_blur", "spatter", "saturate")
COMMON = NAMES[:15]

for _name in NAMES:
    _benchmark = "ImageNet-C" if _name in COMMON else "ImageNet-C validation"
    if _name in ALBUMENTATIONS:
        register(Perturbation(_name, "imagenet-c", f"{_benchmark} {_name.replace('_', ' ')}",
                              _albumentations(ALBUMENTATIONS[_name]), f"albumentations.{_SOURCE[_name]}"))
    else:
        register(Perturbation(_name, "imagenet-c", f"{_benchmark} {_name.replace('_', ' ')}", PORTS[_name],
                              _PORT_SOURCE.get(_name, "port of imagecorruptions")))
