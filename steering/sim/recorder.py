"""Record training laps exactly like the simulator's Record mode: `driving_log.csv` + `IMG/`.

Each sample (every `dt` = 1/15 s of simulated time) writes three JPEG frames
`IMG/{center,left,right}_yyyy_MM_dd_HH_mm_ss_fff.jpg` and one log row
`center,left,right,steering,throttle,brake,speed` (no header, absolute paths, steering = the
driver's command normalised to [-1, 1], speed in mph) through `format_log_row`. Frame names carry
the *simulated* time from `start_time`, so a recording is the same on a fast or a slow machine.
Like the simulator, an existing `driving_log.csv` in the folder is appended to.

Drift phases of the expert are not recorded by default (a person pauses recording while steering
towards the edge, then records the way back); the frame names then show the gap in time, which
the log reader treats as a session boundary. `sim_trace.csv` beside the log lists every sample
(recorded or not) with its pose, CTE and phase, for tests and plots; the simulator itself writes
no such file and the log reader ignores it.

With `randomize_style`, every lap gets a new random look of the same track (`randomize.py`: colours,
light, shadows), drawn from the seed (`style_seed`, default the world's seed) and the lap number.
"""
from __future__ import annotations

import csv
import datetime as dt
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from steering.preprocess import encode_jpeg
from steering.sim.expert import Expert, ExpertConfig
from steering.sim.randomize import random_track
from steering.sim.world import World, WorldConfig
from steering.udacity import CAMERAS, IMAGE_DIR, LOG_NAME, format_log_row, frame_name

log = logging.getLogger(__name__)

TRACE_COLUMNS = ("sample", "time_s", "x", "y", "heading", "speed_mph", "cte_m", "progress_m", "laps",
                 "steering", "throttle", "brake", "phase", "recorded", "center")


@dataclass(frozen=True)
class RecordConfig:
    """What to record and how to write it."""

    laps: float = 1.0
    record_drift: bool = False  # True also records the expert steering towards the edge (bad labels)
    decimal: str = "."  # "," writes numbers like the simulator on a comma-decimal machine ("-0,1160349")
    jpeg_quality: int = 75  # Unity's Texture2D.EncodeToJPG default
    start_time: dt.datetime | None = None  # first frame's name; None = now
    max_samples: int | None = None  # stop early (tests); None = until `laps` are driven
    progress: bool = True  # tqdm bar over the distance driven
    randomize_style: bool = False  # domain randomisation: a random look (colours, light, shadows) per lap
    style_seed: int | None = None  # seeds the looks; None = the world's seed
    looks: tuple[str, ...] = ("classic",)  # families of random looks (randomize.LOOKS), taken in turn, one per lap


@dataclass
class RecordingSummary:
    log_path: Path
    rows: int = 0  # rows written to driving_log.csv
    samples: int = 0  # simulated samples (rows + unrecorded drift samples)
    laps: int = 0
    distance_m: float = 0.0
    max_abs_cte_m: float = 0.0
    phases: dict[str, int] = field(default_factory=dict)  # recorded rows per expert phase
    steering: list[float] = field(default_factory=list)  # the recorded rows' steering, in order
    track_keys: list[str] = field(default_factory=list)  # content hash of the look driven, per lap


def record(out_dir: str | Path, world_config: WorldConfig | None = None, expert_config: ExpertConfig | None = None,
           config: RecordConfig | None = None) -> RecordingSummary:
    """Drive the expert for `config.laps` laps and write the recording into `out_dir`."""
    config = config or RecordConfig()
    world = World(world_config or WorldConfig())
    expert = Expert(expert_config or ExpertConfig())
    out = Path(out_dir).resolve()
    images = out / IMAGE_DIR
    images.mkdir(parents=True, exist_ok=True)
    log_path = out / LOG_NAME
    if log_path.exists() and log_path.stat().st_size:
        log.info("appending to existing %s, as the simulator does", log_path)
    start = config.start_time or dt.datetime.now()
    target_m = config.laps * world.track.length_m
    summary = RecordingSummary(log_path=log_path)
    base_track, style_seed = world.track, world.config.seed if config.style_seed is None else config.style_seed

    def restyle(lap: int) -> None:
        if config.randomize_style:
            world.restyle(random_track(base_track, style_seed, lap, config.looks))
        summary.track_keys.append(world.track.key)

    restyle(0)
    bar = tqdm(total=round(target_m), unit="m", desc=f"recording {world.track.name}", disable=not config.progress)
    with open(log_path, "a", newline="") as log_file, open(out / "sim_trace.csv", "w", newline="") as trace_file:
        trace = csv.writer(trace_file)
        trace.writerow(TRACE_COLUMNS)
        try:
            while world.distance_along_m < target_m:
                if config.max_samples is not None and summary.samples >= config.max_samples:
                    break
                if summary.samples > 20 * target_m / max(world.config.dt, 1e-9):  # far beyond any sane lap time
                    raise RuntimeError(
                        f"recording on {world.track.name!r} is not making progress "
                        f"({world.distance_along_m:.0f} of {target_m:.0f} m after {summary.samples} samples)"
                    )
                command = expert.run(world)
                recorded = command.phase != "drift" or config.record_drift
                state = world.car.state
                center = ""
                if recorded:
                    when = start + dt.timedelta(seconds=round(world.time_s, 3))
                    paths = {}
                    for camera, frame in world.render_all().items():
                        path = images / frame_name(camera, when)
                        path.write_bytes(encode_jpeg(frame, config.jpeg_quality))
                        paths[camera] = str(path)
                    center = paths["center"]
                    row = format_log_row(*(paths[c] for c in CAMERAS), steering=command.steering,
                                         throttle=max(0.0, command.throttle), brake=command.brake,
                                         speed=round(state.speed_mph, 5), decimal=config.decimal)
                    log_file.write(row + "\n")
                    summary.rows += 1
                    summary.steering.append(command.steering)
                    summary.phases[command.phase] = summary.phases.get(command.phase, 0) + 1
                trace.writerow([summary.samples, f"{world.time_s:.4f}", f"{state.x:.4f}", f"{state.y:.4f}",
                                f"{state.heading:.5f}", f"{state.speed_mph:.4f}", f"{world.cte_m:.4f}",
                                f"{world.progress_m:.3f}", world.laps_completed, f"{command.steering:.6f}",
                                f"{max(0.0, command.throttle):.6f}", f"{command.brake:.6f}", command.phase,
                                int(recorded), Path(center).name if center else ""])
                summary.max_abs_cte_m = max(summary.max_abs_cte_m, abs(world.cte_m))
                before = world.distance_along_m
                world.step(command.steering, command.throttle)
                summary.samples += 1
                if world.laps_completed >= len(summary.track_keys) and world.distance_along_m < target_m:
                    restyle(world.laps_completed)
                bar.update(max(0, round(world.distance_along_m) - round(before)))
        finally:
            bar.close()
    summary.laps = world.laps_completed
    summary.distance_m = world.distance_along_m
    log.info("recorded %d rows (%d samples, %d laps of %s) into %s", summary.rows, summary.samples,
             summary.laps, world.track.name, log_path)
    return summary


def record_fresh(out_dir: str | Path, world_config: WorldConfig, expert_config: ExpertConfig,
                 config: RecordConfig) -> RecordingSummary:
    """`record` into an emptied `out_dir`: the recorder appends, like the simulator, so a rerun of a
    pipeline that records (the demo, the study) must not double its data."""
    if Path(out_dir).exists():
        shutil.rmtree(out_dir)
    return record(out_dir, world_config, expert_config, config)


def steering_profile(steering: np.ndarray) -> dict[str, float]:
    """Fractions that describe a recording's steering: straight, curves each way, strong corrections."""
    steering = np.asarray(steering, dtype=float)
    return {
        "straight": float(np.mean(np.abs(steering) < 0.02)),
        "left": float(np.mean(steering < -0.05)),
        "right": float(np.mean(steering > 0.05)),
        "strong": float(np.mean(np.abs(steering) > 0.25)),
    }
