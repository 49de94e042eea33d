"""An MP4 of an evaluation drive: the center camera with the steering command overlaid.

`DriveVideo` is a step observer of the evaluator: `on_step(world, info, command)` renders the center
camera where the car now is, draws a steering gauge (a bar from the middle, right = positive), the
numbers and any take-over, and appends the frame; `close()` closes the file. Written with OpenCV's
`VideoWriter` ("mp4v", no ffmpeg needed) at the simulator's 15 frames per second, so the video plays
in simulated real time. Frames are scaled 2x (640x320) so the text stays readable.
"""
from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from steering.sim.session import Command
from steering.sim.world import StepInfo, World
from steering.udacity import RECORD_HZ

log = logging.getLogger(__name__)

SCALE = 2  # 320x160 -> 640x320


class Mp4Writer:
    """uint8 RGB frames, all one size, appended to an MP4 at `path` (created with its folder) through
    OpenCV's "mp4v" writer; the size is `size_wh` or the first frame's. Also a context manager."""

    def __init__(self, path: str | Path, fps: float = RECORD_HZ, size_wh: tuple[int, int] | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fps = float(fps)
        self.size_wh = size_wh
        self._writer: cv2.VideoWriter | None = None
        self.frames = 0
        if size_wh is not None:
            self._open(size_wh)

    def _open(self, size_wh: tuple[int, int]) -> None:
        self.size_wh = size_wh
        self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, size_wh)
        if not self._writer.isOpened():
            raise OSError(f"{self.path}: OpenCV cannot open an mp4v video writer here (fps {self.fps:g}, size "
                          f"{size_wh[0]}x{size_wh[1]}); check the folder is writable")

    def write(self, frame_rgb: np.ndarray) -> None:
        size = (frame_rgb.shape[1], frame_rgb.shape[0])
        if self._writer is None:
            self._open(size)
        elif size != self.size_wh:
            raise ValueError(f"frame {self.frames} is {size[0]}x{size[1]}, video is "
                             f"{self.size_wh[0]}x{self.size_wh[1]}")
        self._writer.write(cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR))
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            log.info("wrote %d frames to %s", self.frames, self.path)

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class DriveVideo(Mp4Writer):
    """Writes one frame per applied command to `path` (created with its folder)."""

    def on_step(self, world: World, info: StepInfo, command: Command) -> None:
        self.write(overlay(world.render("center"), command.steering, info, world.off_road))


def overlay(frame_rgb: np.ndarray, steering: float, info: StepInfo, off_road: bool) -> np.ndarray:
    """uint8 RGB frame scaled by SCALE with a steering gauge and the drive's numbers drawn on it."""
    image = cv2.resize(frame_rgb, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_LINEAR)
    height, width = image.shape[:2]
    centre, bar_y, half = width // 2, height - 24, width // 2 - 40
    cv2.rectangle(image, (centre - half, bar_y - 8), (centre + half, bar_y + 8), (40, 40, 40), -1)
    end = int(round(centre + max(-1.0, min(1.0, steering)) * half))
    colour = (80, 220, 80) if abs(steering) < 0.5 else (240, 180, 40)
    cv2.rectangle(image, (min(centre, end), bar_y - 6), (max(centre, end), bar_y + 6), colour, -1)
    cv2.line(image, (centre, bar_y - 12), (centre, bar_y + 12), (255, 255, 255), 1)
    text = f"steer {steering:+.3f} ({steering * 25:+.1f} deg)  {info.speed_mph:4.1f} mph  CTE {info.cte_m:+.2f} m"
    band = image[:58]
    band[:] = (band * 0.4).astype(np.uint8)  # darken the sky behind the text so it reads on any track
    cv2.putText(image, text, (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
    cv2.putText(image, f"t {info.time_s:6.1f} s  lap {info.laps_completed}", (10, 48), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                (255, 255, 255), 1, cv2.LINE_AA)
    if off_road:
        cv2.putText(
            image,
            "OFF ROAD - intervention",
            (width - 260, 48),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.6,
            (255, 40, 40),
            2,
            cv2.LINE_AA,
        )
    return image
