"""A recorded log as reference paths: segments of forward driving with times, speeds, steering and poses.

The log holds no positions, so the path is integrated from what it does hold: each row's speed (mph) and
steering, over the time to the next row from the frame names' timestamps (`steering.udacity.frame_timestamp`;
the record period times the row counter where names hold no time). Real logs are cut into segments where
the reference cannot be followed:
- a jump in timestamps longer than `gap_s` or backwards (recording stopped and restarted, spliced clips);
- the car stopped (speed below `stop_mph`): nothing to steer, and no time a model could fail in;
- reversing: the log's speed has no sign, so a row counts as reversing when its throttle is negative while
  the brake is 0 (Unity's car turns a negative input into braking while it rolls forwards, into reverse once
  stopped); those rows are left out like stops;
- rows without a centre frame are dropped by the log reader; the path integrates over the hole with the
  last row's speed and steering, and a hole longer than `gap_s` splits.
Segments shorter than `min_frames` are dropped (too short to score). Each segment starts at pose (0, 0, 0).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from steering.data.reading import DrivingLog
from steering.replay.bicycle import Bicycle, Pose
from steering.sim.car import MPH
from steering.udacity import CAMERAS, RECORD_PERIOD_S

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SegmentConfig:
    gap_s: float = 0.5  # the recorder writes every ~0.07-0.14 s; a longer pause is a cut
    stop_mph: float = 0.5
    min_frames: int = 10


@dataclass
class Segment:
    """Consecutive rows of one log; arrays (N,) indexed by row of the segment."""

    rows: pd.DataFrame  # the log's rows (center, left, right, steering, speed, source, line, ...)
    times: np.ndarray  # seconds from the segment's first row
    speed_mps: np.ndarray
    steering: np.ndarray
    poses: np.ndarray  # (N, 3) x, y, heading of the rear axle, integrated

    def __len__(self) -> int:
        return len(self.times)

    def pose(self, index: int) -> Pose:
        x, y, heading = self.poses[index]
        return float(x), float(y), float(heading)

    def frame_path(self, index: int, camera: str) -> str:
        """Path of `camera`'s frame at row `index` ("" when that frame is missing)."""
        if camera not in CAMERAS:
            raise ValueError(f"unknown camera {camera!r}")
        return str(self.rows.iloc[index][camera])

    def describe(self) -> str:
        first, last = self.rows.iloc[0], self.rows.iloc[-1]
        return f"{first['source']}:{first['line']}-{last['line']} ({len(self)} frames, {self.times[-1]:.1f} s)"


def row_times(rows: pd.DataFrame) -> np.ndarray:
    """Seconds of each row: the frame names' timestamps, or the record period times the row counter."""
    stamps = rows["timestamp"].to_numpy(np.float64)
    if np.isfinite(stamps).all():
        return stamps
    return rows["frame"].to_numpy(np.float64) * RECORD_PERIOD_S


def _runs(keep: np.ndarray, cut_before: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) runs of kept rows, also cut where cut_before[i] (between rows i-1 and i)."""
    runs, start = [], None
    for i, ok in enumerate(keep):
        if start is not None and (not ok or cut_before[i]):
            runs.append((start, i))
            start = None
        if ok and start is None:
            start = i
    if start is not None:
        runs.append((start, len(keep)))
    return runs


def split_segments(driving_log: DrivingLog, config: SegmentConfig | None = None,
                   bicycle: Bicycle | None = None) -> list[Segment]:
    """The log's forward-driving segments, each with its integrated reference path."""
    config = config or SegmentConfig()
    bicycle = bicycle or Bicycle()
    rows = driving_log.rows.reset_index(drop=True)
    times = row_times(rows)
    gaps = np.diff(times, prepend=times[0])
    session = rows["session"].to_numpy()
    cut = (gaps > config.gap_s) | (gaps < 0) | (np.diff(session, prepend=session[0]) != 0)
    speed = rows["speed"].to_numpy(np.float64)
    reversing = (rows["throttle"].to_numpy(np.float64) < 0) & (rows["brake"].to_numpy(np.float64) == 0)
    keep = (speed >= config.stop_mph) & ~reversing
    segments = []
    for start, stop in _runs(keep, cut):
        if stop - start < config.min_frames:
            continue
        part = rows.iloc[start:stop].reset_index(drop=True)
        t = times[start:stop] - times[start]
        v = speed[start:stop] * MPH
        s = rows["steering"].to_numpy(np.float64)[start:stop]
        poses = np.zeros((stop - start, 3))
        for i in range(1, len(t)):
            poses[i] = bicycle.advance(tuple(poses[i - 1]), v[i - 1], s[i - 1], t[i] - t[i - 1])
        segments.append(Segment(part, t, v, s, poses))
    dropped = len(rows) - sum(len(seg) for seg in segments)
    log.info("%d segment(s), %d of %d rows left out (stops, reversing, cuts, short pieces)",
             len(segments), dropped, len(rows))
    if not segments:
        raise ValueError(f"no segment of >= {config.min_frames} moving frames without a gap > {config.gap_s} s "
                         "in the log; is the car standing still, or are the frame names without timestamps?")
    return segments


def path_length_m(segment: Segment) -> float:
    steps = np.diff(segment.poses[:, :2], axis=0)
    return float(np.hypot(steps[:, 0], steps[:, 1]).sum()) if len(steps) else 0.0


