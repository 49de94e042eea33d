"""`EvalConfig`: one closed-loop evaluation's settings (track, distance, server, outputs, scoring)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from steering.eval.scoring import InterventionConfig
from steering.perturb import PerturbPlan
from steering.sim.client import PACINGS, ClientConfig


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
    # "fixed": lock step, one 1/15 s step per reply, the same on any machine; "realtime": the world moves by
    # the server's measured round trip in whole simulator frames (steering.sim.client); "wallclock": the
    # world runs in real time
    pacing: str = "fixed"
    frame_s: float = ClientConfig.frame_s  # realtime pacing: the simulator's frame time (Unity at 60 frames/s)
    max_sim_s: float | None = None  # give up after this much simulated time; None = laps at 1.5 m/s + 60 s
    seed: int = 0  # the world's textures
    progress: bool = True  # tqdm bar over the distance driven
    label: str = ""  # name in tables; default: the checkpoint's file name
    monitor: bool = False  # serve drive.py's browser monitor for the in-process server (steering.drive.monitor)
    monitor_port: int = 8887  # its port on 127.0.0.1; 0 picks a free one
    # in-process server's test-time augmentation: "none" or "flip" (steering.inference.ensemble;
    # InferenceConfig checks it)
    tta: str = "none"
    perturb: PerturbPlan = field(default_factory=PerturbPlan)  # camera corruptions and weather (steering.perturb)
    camera: str = "default"  # the renderer's camera rig (steering.sim.render.CameraConfig.named): default or unity

    def __post_init__(self) -> None:
        if self.pacing not in PACINGS:
            raise ValueError(f"pacing must be one of {', '.join(PACINGS)}, got {self.pacing!r}")

    def time_limit_s(self, track_length_m: float) -> float:
        # A car that keeps being handed back but crawls still finishes; a hopeless one is stopped.
        return self.max_sim_s if self.max_sim_s is not None else self.laps * track_length_m / 1.5 + 60.0
