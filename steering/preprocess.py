"""The one preprocessing definition: decoded frame -> model tensor.

Training, `drive.py` and the headless simulator all call `preprocess_frame` with the
`PreprocessConfig` stored in the checkpoint, so the model sees identical pixels everywhere.

Frames are always uint8 HWC **RGB**, decoded here once, so no caller has to remember the channel
order (OpenCV's is BGR: a classic source of train/drive mismatch).

JPEGs are decoded by libjpeg-turbo through simplejpeg, which reports the damage libjpeg recovers
from ("Corrupt JPEG data: ...") where OpenCV's imdecode hides it; its pixels are identical to
OpenCV's. The drive path decodes with `strict=True`: a frame the decoder had to patch up is refused
(`CorruptJPEG`) instead of steering on smeared pixels. Files (training, tools) keep OpenCV's rules:
anything it decodes (PNG too) is read as before.
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import simplejpeg
import torch

from steering.udacity import FRAME_HEIGHT, FRAME_WIDTH

# One frame is 320x160: OpenCV's thread pool gains nothing on it, costs a wait for a busy core, and a
# pool that exists when DataLoader forks its workers can hang them (its locks are copied, its
# threads are not). Keeping OpenCV single-threaded from the start means the pool is never built.
cv2.setNumThreads(1)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)



class FrameError(ValueError):
    """A frame could not be decoded or has the wrong shape."""


class CorruptJPEG(FrameError):
    """A JPEG the decoder could only read by recovering from damage (bit flips, truncation)."""


@dataclass(frozen=True)
class PreprocessConfig:
    """Crop, resize, colour space and normalisation of a 160x320 RGB frame."""

    crop_top: int = 60  # sky and trees: no steering information
    crop_bottom: int = 25  # the car's hood
    height: int = 66  # 66x200: PilotNet's input size; measured fastest at equal driving quality
    width: int = 200
    colorspace: str = "rgb"  # "rgb" for ImageNet backbones, "yuv" as in NVIDIA's PilotNet paper
    mean: tuple[float, float, float] = IMAGENET_MEAN  # per channel, on values scaled to [0, 1]
    std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self) -> None:
        if self.colorspace not in ("rgb", "yuv"):
            raise ValueError(f"colorspace must be 'rgb' or 'yuv', got {self.colorspace!r}")
        if self.crop_top < 0 or self.crop_bottom < 0 or self.crop_top + self.crop_bottom >= FRAME_HEIGHT:
            raise ValueError(f"crop rows {self.crop_top}+{self.crop_bottom} leave no image of {FRAME_HEIGHT} rows")
        # Tuples survive a round trip through a checkpoint as lists; store them as tuples again.
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the tensor the model receives."""
        return (3, self.height, self.width)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> PreprocessConfig:
        return dataclass_from_dict(cls, values)


def dataclass_from_dict(cls: type, values: Mapping[str, Any]) -> Any:
    """Build dataclass `cls` from `values`, naming unknown keys instead of silently dropping them."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return cls(**dict(values))


def decode_jpeg(data: bytes, strict: bool = False) -> np.ndarray:
    """JPEG (or PNG) bytes -> uint8 HWC RGB array. Raises FrameError on anything undecodable.

    strict (the simulator's frames): a 320x160 JPEG only, and one whose decoder reports damage
    raises CorruptJPEG. The size is read from the header, so a huge image is refused undecoded.
    """
    if not data:
        raise FrameError("empty image data")
    if strict:
        return _decode_strict(data)
    try:
        return simplejpeg.decode_jpeg(data, colorspace="RGB", strict=True)  # the fast path
    except ValueError:
        pass  # not a JPEG (PNG), or a damaged one: OpenCV decides, as it always did
    frame = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if frame is None:
        raise FrameError(f"undecodable image ({len(data)} bytes)")
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def _decode_strict(data: bytes) -> np.ndarray:
    if not data.startswith(b"\xff\xd8"):
        raise FrameError(f"not a JPEG ({len(data)} bytes starting {data[:4].hex()})")
    try:
        height, width, _, _ = simplejpeg.decode_jpeg_header(data)
    except ValueError as exc:
        raise FrameError(f"undecodable JPEG ({len(data)} bytes): {exc}") from None
    if (height, width) != (FRAME_HEIGHT, FRAME_WIDTH):
        raise FrameError(f"expected {FRAME_HEIGHT}x{FRAME_WIDTH} frame, got {height}x{width}")
    try:
        return simplejpeg.decode_jpeg(data, colorspace="RGB", strict=True)
    except ValueError as exc:
        error = str(exc)
    try:  # only on the error path: can the decoder read it when it may recover?
        simplejpeg.decode_jpeg(data, colorspace="RGB", strict=False)
    except ValueError:
        raise FrameError(f"undecodable JPEG ({len(data)} bytes): {error}") from None
    raise CorruptJPEG(f"corrupt JPEG ({len(data)} bytes): {error}")


def decode_base64_jpeg(text: str, strict: bool = False) -> np.ndarray:
    """The simulator's base64 `image` field -> uint8 HWC RGB array (`strict` as in decode_jpeg)."""
    try:
        data = base64.b64decode(text, validate=False)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise FrameError(f"bad base64 image: {exc}") from exc
    return decode_jpeg(data, strict)


def read_frame(path: str | Path) -> np.ndarray:
    """A frame file -> uint8 HWC RGB, decoded exactly like a frame received over the socket."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise FrameError(f"{path}: {exc.strerror or exc}") from exc
    try:
        return decode_jpeg(data)
    except FrameError as exc:
        raise FrameError(f"{path}: {exc}") from exc


def encode_jpeg(frame_rgb: np.ndarray, quality: int = 90) -> bytes:
    """uint8 HWC RGB -> JPEG bytes (as the simulator sends and records them)."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise FrameError("JPEG encoding failed")
    return buf.tobytes()


def check_frame(frame: np.ndarray) -> None:
    """Raise FrameError unless `frame` is a uint8 HWC 3-channel image of the simulator's size."""
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise FrameError(f"expected uint8 HxWx3 frame, got {frame.dtype} {frame.shape}")
    if frame.shape[:2] != (FRAME_HEIGHT, FRAME_WIDTH):
        raise FrameError(f"expected {FRAME_HEIGHT}x{FRAME_WIDTH} frame, got {frame.shape[0]}x{frame.shape[1]}")


def crop_resize(frame: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """uint8 HWC RGB (160x320) -> uint8 HWC in the model's colour space and size (still uint8)."""
    check_frame(frame)
    cropped = frame[config.crop_top : FRAME_HEIGHT - config.crop_bottom]
    # INTER_AREA: the right filter for shrinking; it averages instead of aliasing lane markings.
    resized = cv2.resize(cropped, (config.width, config.height), interpolation=cv2.INTER_AREA)
    if config.colorspace == "yuv":
        resized = cv2.cvtColor(resized, cv2.COLOR_RGB2YUV)
    return resized


def normalize(image: np.ndarray, config: PreprocessConfig) -> torch.Tensor:
    """uint8 (H, W, 3) -> float32 (3, H, W), scaled to [0, 1] then mean/std normalised.

    numpy on purpose: for one small frame torch splits the work over its intra-op threads, and on a
    busy 2-core machine waiting for the second thread cost ~40 ms per frame (docs/benchmarks.md);
    numpy does it in ~0.3 ms on one core.
    """
    mean = np.asarray(config.mean, dtype=np.float32)
    std = np.asarray(config.std, dtype=np.float32)
    x = image.astype(np.float32) * (1.0 / (255.0 * std)) - mean / std  # (H, W, 3)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))  # (3, H, W)


def preprocess_frame(frame: np.ndarray, config: PreprocessConfig) -> torch.Tensor:
    """uint8 HWC RGB 160x320 frame -> float32 (3, H, W) tensor, exactly as the model was trained."""
    return normalize(crop_resize(frame, config), config)
