"""`python -m steering.eval replay`: several models over several logs, one report.

Models are loaded as drive.py loads them (`steering.inference.ensemble.load_model`: its runtime choice, its
preprocessing); `constant:VALUE` is a control that always steers VALUE. Logs are read by the project's
reader, optionally cut to a row range (`rows=(start, stop)`, e.g. the held-out end of a recording), split
into segments and replayed by every model in turn.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from steering.data.reading import read_logs
from steering.inference.ensemble import load_model
from steering.replay.camera import CameraModel, unity_camera
from steering.replay.loop import ConstantSteering, ReplayConfig, ReplayRun, SteeringModel, replay
from steering.replay.reference import Segment, SegmentConfig, split_segments
from steering.replay.report import ReplayVideo, plot_trajectory, write_report

log = logging.getLogger(__name__)
CONSTANT = re.compile(r"^constant:([-+]?\d*\.?\d+)$")


@dataclass
class ReplayOptions:
    out_dir: Path = Path("runs/replay")
    rows: tuple[int | None, int | None] = (None, None)  # python slice of the log's rows (after reading)
    loop: ReplayConfig = field(default_factory=ReplayConfig)
    segments: SegmentConfig = field(default_factory=SegmentConfig)
    video: bool = False


@dataclass
class ReplayResult:
    runs: dict[str, ReplayRun]
    files: dict[str, Path]


def model_label(spec: str) -> str:
    return spec.replace("constant:", "constant_") if CONSTANT.match(spec) else Path(spec.split("+")[0]).stem


def open_model(spec: str) -> SteeringModel:
    """`constant:0` -> a constant control; `a.pt` or `a.pt+b.pt` -> drive.py's model (an ensemble for `+`)."""
    match = CONSTANT.match(spec)
    if match:
        return ConstantSteering(float(match.group(1)))
    return load_model([Path(part) for part in spec.split("+") if part])


def load_segments(logs: Sequence[Path], options: ReplayOptions) -> list[Segment]:
    driving_log = read_logs(list(logs))
    start, stop = options.rows
    driving_log.rows = driving_log.rows.iloc[start:stop].reset_index(drop=True)
    return split_segments(driving_log, options.segments)


def replay_models(models: Sequence[str], logs: Sequence[Path], options: ReplayOptions,
                  camera: CameraModel | None = None) -> ReplayResult:
    camera = camera or unity_camera()
    segments = load_segments(logs, options)
    runs: dict[str, ReplayRun] = {}
    files: dict[str, Path] = {}
    for spec in models:
        label = model_label(spec)
        model = open_model(spec)
        video = ReplayVideo(options.out_dir / f"{label}.mp4") if options.video else None
        try:
            runs[label] = replay(model, segments, camera, options.loop, on_frame=video)
        finally:
            if video is not None:
                video.close()
        if video is not None:
            files[f"video {label}"] = video.path
        files[f"trajectory {label}"] = plot_trajectory(options.out_dir / f"{label}_trajectory.png", runs[label],
                                                       segments, label)
        log.info("%s: %s", label, runs[label].summary())
    settings = {"models": list(models), "logs": [str(p) for p in logs], "rows": list(options.rows),
                "loop": asdict(options.loop), "segments": asdict(options.segments), "camera": asdict(camera)}
    files["report"] = write_report(options.out_dir / "report.json", runs, segments, settings)
    return ReplayResult(runs, files)
