"""`recorded:W`: a control that steers with the recording's own steering, averaged over W seconds.

What the replay makes of a driver who knows the road as well as the human did but steers smoothly: with
W = 0 it repeats the recorded steering and stays exactly on the reference (no intervention, by
construction); with W > 0 it turns as much as the human did over each W-second window, but without the
taps a keyboard or mouse driver makes. It ignores the frames, so it never corrects a drift: its
interventions bound from below what the instrument charges any smooth steering on that recording.
"""
from __future__ import annotations

import re

import numpy as np

from steering.data.smoothing import smooth_over_time
from steering.replay.reference import Segment

RECORDED = re.compile(r"^recorded:(\d*\.?\d+)$")


class RecordedSteering:
    """Steers with the current segment's recorded steering, smoothed; one value per replayed row."""

    def __init__(self, window_s: float = 0.0) -> None:
        self.window_s = window_s
        self._values = np.zeros(0)
        self._next = 0

    def start_segment(self, segment: Segment) -> None:
        self._values = smooth_over_time(segment.steering, segment.times, None, self.window_s)
        self._next = 0

    def predict(self, frame: np.ndarray) -> float:
        value = float(self._values[min(self._next, len(self._values) - 1)]) if len(self._values) else 0.0
        self._next += 1
        return value


def recorded_control(spec: str) -> RecordedSteering | None:
    """`recorded:W` -> its control; anything else -> None."""
    match = RECORDED.match(spec.strip())
    return RecordedSteering(float(match.group(1))) if match else None
