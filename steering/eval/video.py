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
    """RGB frames appended to an MP4 at `path` (created with its folder), opened at the first frame's size."""

    def __init__(self, path: str | Path, fps: float = RECORD_HZ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fps = fps
        self._writer: cv2.VideoWriter | None = None
        self.frames = 0

    def write(self, frame_rgb: np.ndarray) -> None:
        if self._writer is None:
            height, width = frame_rgb.shape[:2]
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (width, height))
            if not self._writer.isOpened():
                raise OSError(f"{self.path}: OpenCV cannot write an mp4v video here; check the folder is writable")
        self._writer.write(cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR))
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            log.info("wrote %d frames to %s", self.frames, self.path)


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
