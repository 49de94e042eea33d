"""`EvalConfig`: one closed-loop evaluation's settings (track, distance, server, outputs, scoring)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from steering.eval.scoring import InterventionConfig


@dataclass(frozen=True)
class EvalConfig:
    """One evaluation: which track, how far, which server, what to write."""

    track: str = "lake"
    laps: float = 1.0
    port: int | None = None  # a drive server already running there (python drive.py); None = start one in-process
    host: str = "127.0.0.1"
    speed_mph: float | None = None  # in-process server's target speed; None = DriveConfig's default
    out_dir: Path | None = None  # report.json, trajectory.png, trajectory.csv (and drive.mp4); None = nothing written
    video: bool = False  # MP4 of the center camera with the steering overlaid (needs out_dir)
    interventions: InterventionConfig = field(default_factory=InterventionConfig)
    wallclock: bool = False  # run the world in real time (server latency matters) instead of lock step
    max_sim_s: float | None = None  # give up after this much simulated time; None = laps at 1.5 m/s + 60 s
    seed: int = 0  # the world's textures
    progress: bool = True  # tqdm bar over the distance driven
    label: str = ""  # name in tables; default: the checkpoint's file name
    monitor: bool = False  # serve drive.py's browser monitor for the in-process server (steering.drive.monitor)
    monitor_port: int = 8887  # its port on 127.0.0.1; 0 picks a free one

    def time_limit_s(self, track_length_m: float) -> float:
        # A car that keeps being handed back but crawls still finishes; a hopeless one is stopped.
        return self.max_sim_s if self.max_sim_s is not None else self.laps * track_length_m / 1.5 + 60.0
