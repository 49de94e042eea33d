"""`python -m steering.eval replay`: several models over several logs, one report.

Models are loaded as drive.py loads them (`steering.inference.ensemble.load_model`: its runtime choice, its
preprocessing); control specs (`constant:VALUE`, `delayed:K:MODEL`, `steering.inference.controls`) load there
too, as in the closed loop. The replayed car is the recording simulator's (`rigs.py`: Unity's, or the
headless simulator's when the logs come from its recorder). Logs are read by the project's
reader, optionally cut to a row range (`rows=(start, stop)`, e.g. the held-out end of a recording), split
into segments and replayed by every model in turn.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from steering.data.reading import read_logs
from steering.inference.controls import control_label, is_control
from steering.inference.ensemble import load_model
from steering.replay.loop import ReplayConfig, ReplayRun, SteeringModel, replay
from steering.replay.recorded import recorded_control
from steering.replay.reference import Segment, SegmentConfig, split_segments
from steering.replay.report import ReplayVideo, plot_trajectory, write_report
from steering.replay.rigs import Rig, choose_rig

log = logging.getLogger(__name__)


@dataclass
class ReplayOptions:
    out_dir: Path = Path("runs/replay")
    rows: tuple[int | None, int | None] = (None, None)  # python slice of the log's rows (after reading)
    loop: ReplayConfig = field(default_factory=ReplayConfig)
    segments: SegmentConfig = field(default_factory=SegmentConfig)
    video: bool = False
    simulator: str = "auto"  # the recording's simulator: "unity", "headless" or "auto" (rigs.py)


@dataclass
class ReplayResult:
    runs: dict[str, ReplayRun]
    files: dict[str, Path]


def model_label(spec: str) -> str:
    if recorded_control(spec) is not None:
        return spec.strip().replace(":", "_")
    return control_label(spec) if is_control(spec) else Path(spec.split("+")[0]).stem


def open_model(spec: str) -> SteeringModel:
    """A control spec -> that control (`recorded:W` the recording's own steering, smoothed over W s); `a.pt`
    or `a.pt+b.pt` -> drive.py's model (an ensemble for `+`)."""
    recorded = recorded_control(spec)
    if recorded is not None:
        return recorded
    if is_control(spec):
        return load_model(spec)
    return load_model([Path(part) for part in spec.split("+") if part])


def load_segments(logs: Sequence[Path], options: ReplayOptions, rig: Rig | None = None) -> list[Segment]:
    driving_log = read_logs(list(logs))
    start, stop = options.rows
    driving_log.rows = driving_log.rows.iloc[start:stop].reset_index(drop=True)
    return split_segments(driving_log, options.segments, rig.bicycle if rig is not None else None)


def replay_models(models: Sequence[str], logs: Sequence[Path], options: ReplayOptions,
                  rig: Rig | None = None) -> ReplayResult:
    """Each model over the logs' segments; `rig` (default: `options.simulator`'s) is the replayed car."""
    rig = rig or choose_rig(options.simulator, logs)
    log.info("replaying the %s simulator's car", rig.simulator)
    camera = rig.camera
    segments = load_segments(logs, options, rig)
    runs: dict[str, ReplayRun] = {}
    files: dict[str, Path] = {}
    for spec in models:
        label = model_label(spec)
        model = open_model(spec)
        video = ReplayVideo(options.out_dir / f"{label}.mp4") if options.video else None
        try:
            runs[label] = replay(model, segments, camera, options.loop, bicycle=rig.bicycle, on_frame=video)
        finally:
            if video is not None:
                video.close()
        if video is not None:
            files[f"video {label}"] = video.path
        files[f"trajectory {label}"] = plot_trajectory(options.out_dir / f"{label}_trajectory.png", runs[label],
                                                       segments, label)
        log.info("%s: %s", label, runs[label].summary())
    settings = {"models": list(models), "logs": [str(p) for p in logs], "rows": list(options.rows),
                "loop": asdict(options.loop), "segments": asdict(options.segments), "simulator": rig.simulator,
                "camera": asdict(camera), "bicycle": asdict(rig.bicycle)}
    files["report"] = write_report(options.out_dir / "report.json", runs, segments, settings)
    return ReplayResult(runs, files)
