"""Small synthetic recordings in the simulator's exact layout, for tests and demos.

Writes JPEG frames named like the simulator's (`center_yyyy_MM_dd_HH_mm_ss_fff.jpg`) into
`<folder>/IMG/` and returns log lines built with `logformat.format_log_row`; the caller decides
how to write them (header, path style, decimal commas, line endings), since that is what the
reader must cope with.

Two kinds of picture: `synthetic_frame` (a road whose look does not depend on the steering, for
reader and tool checks) and `line_frame` (one bright vertical line whose horizontal position sets
the steering, so a model that learns anything at all beats the constant-mean baseline; mirroring
the frame negates the steering, consistent with the flip augmentation). `write_line_recording`
writes a whole recording of the second kind for training checks.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

from steering.preprocess import encode_jpeg
from steering.udacity import (
    CAMERAS,
    FRAME_HEIGHT,
    FRAME_WIDTH,
    IMAGE_DIR,
    LOG_COLUMNS,
    LOG_NAME,
    RECORD_PERIOD_S,
    format_log_row,
    frame_name,
)

LINE_HALF_WIDTH = 6  # px in the 320-px frame: wide enough to survive the resize to 200 px


@dataclass(frozen=True)
class SyntheticRow:
    """The numbers of one recorded row (frame names come from the row's position in time)."""

    steering: float
    throttle: float = 0.5
    brake: float = 0.0
    speed: float = 20.0


def synthetic_frame(seed: int) -> np.ndarray:
    """A 160x320 uint8 RGB frame: sky, grey road with two lane lines at a seed-dependent offset."""
    rng = np.random.default_rng(seed)
    frame = np.empty((FRAME_HEIGHT, FRAME_WIDTH, 3), dtype=np.uint8)
    frame[:60] = (135, 180, 230)
    frame[60:] = (95, 95, 95)
    offset = int(rng.integers(-40, 41))
    for x in (90 + offset, 230 + offset):
        cv2.line(frame, (FRAME_WIDTH // 2 + offset // 2, 60), (x, FRAME_HEIGHT - 1), (240, 240, 80), 4)
    noise = rng.integers(-12, 13, size=frame.shape)
    return np.clip(frame.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def line_frame(steering: float, seed: int = 0) -> np.ndarray:
    """A 160x320 uint8 RGB frame: textured grey with a vertical line at x = (steering + 1) / 2 * width."""
    rng = np.random.default_rng(seed)
    frame = np.full((FRAME_HEIGHT, FRAME_WIDTH, 3), 90, dtype=np.uint8)
    frame += rng.integers(0, 20, size=frame.shape, dtype=np.uint8)  # texture, so nothing is exactly flat
    x = int(round((steering + 1.0) / 2.0 * (FRAME_WIDTH - 1)))
    cv2.rectangle(frame, (x - LINE_HALF_WIDTH, 0), (x + LINE_HALF_WIDTH, FRAME_HEIGHT - 1), (250, 250, 250), -1)
    return frame


def line_steering(count: int, seed: int = 0) -> np.ndarray:
    """`count` steering values in [-0.8, 0.8], smooth over time like a real lap (neighbours similar)."""
    rng = np.random.default_rng(seed)
    t = np.arange(count)
    return np.clip(0.6 * np.sin(t / 7.0 + rng.uniform(0, 6)) + rng.normal(0, 0.05, count), -0.8, 0.8)


def write_recording(
    folder: str | Path,
    rows: list[SyntheticRow],
    first_time: datetime = datetime(2024, 5, 1, 12, 0, 0),
    period_s: float = RECORD_PERIOD_S,
    cameras: tuple[str, ...] = CAMERAS,
    path_style: str = "absolute",
    decimal: str = ".",
    separator: str = ",",
    seed: int = 0,
    frame: Callable[[SyntheticRow, int], np.ndarray] | None = None,
) -> list[str]:
    """Write frames for `rows` into `<folder>/IMG/` and return one log line per row (no newline).

    path_style: "absolute" (this machine's absolute path), "windows" (`C:\\Users\\...\\IMG\\x.jpg`, found
    through the IMG folder), "posix-elsewhere" (`/Users/someone/.../IMG/x.jpg`) or "relative" (`IMG/x.jpg`).
    Cameras not in `cameras` are referenced in the log but not written (missing files).
    `separator` ", " mimics logs written with a space after each comma.
    `frame(row, frame_seed)` draws each picture (uint8 160x320x3 RGB); default `synthetic_frame(frame_seed)`.
    """
    folder = Path(folder)
    img = folder / IMAGE_DIR
    img.mkdir(parents=True, exist_ok=True)
    lines = []
    for index, row in enumerate(rows):
        when = first_time + timedelta(seconds=index * period_s)
        paths = []
        for camera_index, camera in enumerate(CAMERAS):
            name = frame_name(camera, when)
            if camera in cameras:
                frame_seed = seed * 100_003 + index * 3 + camera_index
                picture = frame(row, frame_seed) if frame else synthetic_frame(frame_seed)
                (img / name).write_bytes(encode_jpeg(picture))
            paths.append(_written_path(img, name, path_style))
        line = format_log_row(*paths, row.steering, row.throttle, row.brake, row.speed, decimal=decimal)
        if separator != ",":
            if decimal == ",":
                raise ValueError("separator other than ',' with decimal=',' is not supported here")
            line = line.replace(",", separator)
        lines.append(line)
    return lines


def _written_path(img: Path, name: str, style: str) -> str:
    if style == "absolute":
        return str((img / name).resolve())
    if style == "windows":
        return f"C:\\Users\\driver\\Desktop\\sim data\\IMG\\{name}"
    if style == "posix-elsewhere":
        return f"/Users/driver/udacity/data/IMG/{name}"
    if style == "relative":
        return f"IMG/{name}"
    raise ValueError(f"unknown path_style {style!r}; use absolute, windows, posix-elsewhere or relative")


def write_log_file(path: str | Path, lines: list[str], header: bool = False, newline: str = "\n",
                   bom: bool = False, trailing_blank_lines: int = 0) -> Path:
    """Write log `lines` as a csv: optional Udacity header row, CRLF or LF, UTF-8 BOM, blank tail."""
    body = ([",".join(LOG_COLUMNS)] if header else []) + list(lines) + [""] * trailing_blank_lines
    text = newline.join(body) + newline
    path = Path(path)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def write_line_recording(folder: str | Path, count: int, seed: int = 0) -> Path:
    """Write a `count`-row recording of `line_frame`s (steering from `line_steering`) and its
    driving_log.csv (no header, absolute paths); returns the log's path."""
    rows = [SyntheticRow(steering=float(s)) for s in line_steering(count, seed)]
    lines = write_recording(folder, rows, seed=seed, frame=lambda row, frame_seed: line_frame(row.steering, frame_seed))
    return write_log_file(Path(folder) / LOG_NAME, lines)
