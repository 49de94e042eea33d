"""The one preprocessing definition: shapes, colour order, normalisation, bad frames."""
from __future__ import annotations

import base64

import cv2
import numpy as np
import pytest
import torch

from steering.preprocess import (
    FrameError,
    PreprocessConfig,
    decode_base64_jpeg,
    decode_jpeg,
    encode_jpeg,
    preprocess_frame,
)


def _solid(rgb: tuple[int, int, int]) -> np.ndarray:
    return np.full((160, 320, 3), rgb, dtype=np.uint8)


def test_output_is_chw_float_of_the_configured_size():
    out = preprocess_frame(_solid((10, 20, 30)), PreprocessConfig(height=66, width=200))
    assert out.shape == (3, 66, 200) and out.dtype == torch.float32


def test_normalisation_matches_hand_computation():
    pre = PreprocessConfig()  # ImageNet mean/std on [0, 1] values
    out = preprocess_frame(_solid((255, 0, 128)), pre)
    expected = [(1.0 - 0.485) / 0.229, (0.0 - 0.456) / 0.224, (128 / 255 - 0.406) / 0.225]
    assert torch.allclose(out[:, 0, 0], torch.tensor(expected), atol=1e-6)


def test_crop_removes_sky_and_hood_rows():
    frame = _solid((0, 0, 0))
    frame[:60] = 255  # sky
    frame[-25:] = 255  # hood
    out = preprocess_frame(frame, PreprocessConfig(mean=(0, 0, 0), std=(1, 1, 1)))
    assert out.max().item() == 0.0, "cropped rows leaked into the model input"


def test_yuv_colour_space_for_pilotnet():
    pre = PreprocessConfig(colorspace="yuv", mean=(0, 0, 0), std=(1, 1, 1))
    out = preprocess_frame(_solid((255, 0, 0)), pre)  # pure red
    y = 0.299 * 255  # BT.601 luma of red
    assert out[0, 0, 0].item() == pytest.approx(round(y) / 255, abs=1 / 255)


def test_decoded_jpeg_is_rgb_not_bgr():
    frame = _solid((250, 5, 5))  # red
    decoded = decode_jpeg(encode_jpeg(frame, quality=100))
    assert decoded[80, 160, 0] > 240 and decoded[80, 160, 2] < 15


def test_base64_and_bytes_decode_identically():
    data = encode_jpeg(np.random.default_rng(0).integers(0, 255, (160, 320, 3), dtype=np.uint8))
    assert np.array_equal(decode_base64_jpeg(base64.b64encode(data).decode()), decode_jpeg(data))


@pytest.mark.parametrize("payload", [b"", b"not a jpeg", None])
def test_undecodable_frames_raise_frame_error(payload):
    data = payload if payload is not None else encode_jpeg(_solid((1, 2, 3)))[:100]
    with pytest.raises(FrameError):
        decode_jpeg(data)


def test_wrong_frame_size_is_refused():
    with pytest.raises(FrameError, match="160x320"):
        preprocess_frame(np.zeros((120, 320, 3), np.uint8), PreprocessConfig())


def test_config_rejects_crops_that_leave_nothing():
    with pytest.raises(ValueError, match="crop"):
        PreprocessConfig(crop_top=100, crop_bottom=60)


def test_config_round_trips_through_a_dict():
    pre = PreprocessConfig(colorspace="yuv", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    as_lists = {k: list(v) if isinstance(v, tuple) else v for k, v in pre.to_dict().items()}
    assert PreprocessConfig.from_dict(as_lists) == pre


def test_opencv_resize_is_area_interpolation():
    frame = np.zeros((160, 320, 3), np.uint8)
    frame[:, ::2] = 255  # one-pixel stripes: area averaging gives mid grey, nearest gives 0 or 255
    pre = PreprocessConfig(height=75, width=160, mean=(0, 0, 0), std=(1, 1, 1))
    out = preprocess_frame(frame, pre)
    expected = cv2.resize(frame[60:135], (160, 75), interpolation=cv2.INTER_AREA)[0, 0, 0] / 255
    assert out[0, 0, 0].item() == pytest.approx(expected, abs=1e-6)
    assert 0.4 < out[0, 0, 0].item() < 0.6
