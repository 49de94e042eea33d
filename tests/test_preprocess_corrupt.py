"""Damaged JPEGs: the drive path refuses what the decoder had to patch up; files still read as before."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from drive_wire import real_center_frames

from steering.preprocess import CorruptJPEG, FrameError, decode_jpeg, encode_jpeg


@pytest.fixture(scope="module")
def jpeg() -> bytes:
    return real_center_frames(1)[0]


def opencv_rgb(data: bytes):
    frame = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return None if frame is None else cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def test_clean_frames_decode_to_opencvs_pixels_in_both_modes():
    for data in real_center_frames(10):
        reference = opencv_rgb(data)
        assert reference.shape == (160, 320, 3)
        assert np.array_equal(decode_jpeg(data, strict=True), reference)
        assert np.array_equal(decode_jpeg(data), reference)


def test_junk_inside_the_scan_is_corrupt_on_the_drive_path_but_still_reads_from_a_file(jpeg):
    damaged = jpeg[:-2] + bytes(range(1, 40)) + jpeg[-2:]  # junk before the end-of-image marker
    assert opencv_rgb(damaged) is not None, "OpenCV decodes it without a word: it used to be driven"
    with pytest.raises(CorruptJPEG, match="extraneous bytes before marker 0xd9"):
        decode_jpeg(damaged, strict=True)
    assert np.array_equal(decode_jpeg(damaged), opencv_rgb(damaged))


def test_truncated_jpeg_is_corrupt_on_the_drive_path_and_refused_from_a_file(jpeg):
    with pytest.raises(CorruptJPEG, match="Premature end"):
        decode_jpeg(jpeg[: len(jpeg) // 2], strict=True)
    with pytest.raises(FrameError, match="undecodable"):
        decode_jpeg(jpeg[: len(jpeg) // 2])


def test_png_is_not_a_simulator_frame_but_reads_from_a_file():
    frame = np.random.default_rng(0).integers(0, 255, (160, 320, 3), dtype=np.uint8)
    ok, png = cv2.imencode(".png", frame[:, :, ::-1])
    assert ok
    with pytest.raises(FrameError, match="not a JPEG") as info:
        decode_jpeg(png.tobytes(), strict=True)
    assert not isinstance(info.value, CorruptJPEG)
    assert np.array_equal(decode_jpeg(png.tobytes()), frame)


def test_wrong_size_is_refused_from_the_header_on_the_drive_path():
    big = encode_jpeg(np.zeros((4000, 4000, 3), np.uint8), quality=50)  # 48 MB decoded, a few kB sent
    with pytest.raises(FrameError, match="expected 160x320 frame, got 4000x4000"):
        decode_jpeg(big, strict=True)
    with pytest.raises(FrameError, match="got 8x8"):
        decode_jpeg(encode_jpeg(np.zeros((8, 8, 3), np.uint8)), strict=True)


def test_undecodable_header_is_a_frame_error_not_corrupt(jpeg):
    with pytest.raises(FrameError) as info:
        decode_jpeg(jpeg[:20] + bytes(range(256)) * 8, strict=True)
    assert not isinstance(info.value, CorruptJPEG)
