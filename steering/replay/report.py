"""What a replay leaves behind: report.json, a trajectory PNG per model, and the video of what it saw.

The trajectory plot draws each segment's reference path (grey) and the car's path (blue) in the
reference's own coordinates (segments side by side, each starting at the origin), with a red cross where
a safety driver took over. The video (`ReplayVideo`, an observer of `loop.replay`) shows the synthesised
centre view, scaled 2x, with the model's steering (bar) against the recorded one (tick), the offset, and
a red frame on interventions; written with OpenCV's mp4v at the record rate.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from steering.eval.video import Mp4Writer
from steering.replay.loop import ReplayRun, ReplayStep
from steering.replay.reference import Segment

log = logging.getLogger(__name__)
SCALE = 2


def write_report(path: Path, runs: dict[str, ReplayRun], segments: Sequence[Segment], settings: dict) -> Path:
    """report.json: settings, segments, and per model its summary and every intervention (with its row)."""
    data = {
        "settings": settings,
        "segments": [seg.describe() for seg in segments],
        "models": {name: {**run.summary(),
                          "interventions_detail": [iv.__dict__ for iv in run.interventions]}
                   for name, run in runs.items()},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
    return path


def plot_trajectory(path: Path, run: ReplayRun, segments: Sequence[Segment], title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(segments), figsize=(6 * len(segments), 6), squeeze=False)
    for number, (segment, ax) in enumerate(zip(segments, axes[0], strict=False)):
        steps = [s for s in run.steps if s.segment == number]
        ax.plot(segment.poses[:, 0], segment.poses[:, 1], color="0.6", lw=3, label="reference (recorded)")
        ax.plot([s.x for s in steps], [s.y for s in steps], color="tab:blue", lw=1, label="replayed car")
        spots = [iv for iv in run.interventions if iv.segment == number]
        if spots:
            ax.scatter([segment.poses[iv.row, 0] for iv in spots], [segment.poses[iv.row, 1] for iv in spots],
                       marker="x", color="red", s=60, zorder=3, label=f"interventions ({len(spots)})")
        ax.set_aspect("equal")
        ax.set_xlabel("x (m)")
        ax.set_ylabel("y (m)")
        ax.set_title(f"segment {number}: {segment.times[-1]:.0f} s")
        ax.legend(loc="best", fontsize=8)
    fig.suptitle(f"{title}: autonomy {run.autonomy:.1f} %, {len(run.interventions)} interventions")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


class ReplayVideo(Mp4Writer):
    """Observer for `loop.replay`: appends each synthesised frame with the steering overlaid."""

    def __call__(self, frame: np.ndarray, step: ReplayStep, intervened: bool) -> None:
        image = cv2.resize(frame, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_LINEAR)
        height, width = image.shape[:2]
        centre, bar_y, half = width // 2, height - 20, width // 2 - 30
        cv2.line(image, (centre, bar_y), (centre + int(step.steering * half), bar_y), (255, 200, 0), 8)
        tick = centre + int(step.recorded_steering * half)
        cv2.line(image, (tick, bar_y - 10), (tick, bar_y + 10), (255, 255, 255), 2)
        text = f"steer {step.steering:+.2f} rec {step.recorded_steering:+.2f} offset {step.offset_m:+.2f} m"
        cv2.putText(image, text, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        if intervened:
            cv2.rectangle(image, (0, 0), (width - 1, height - 1), (255, 0, 0), 6)
        self.write(image)
