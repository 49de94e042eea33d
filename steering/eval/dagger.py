"""DAgger (Ross, Gordon & Bagnell, AISTATS 2011) with the simulator's expert as the teacher.

    from steering.eval.dagger import DaggerConfig, run_dagger
    result = run_dagger("runs/pilotnet/best.pt", ["data/driving_log.csv"], DaggerConfig(rounds=2))
    [r.score for r in result.rounds]          # suite score of the start model, then after each round

Behavioural cloning only ever sees the states the expert drove through; once the model's small errors
take the car somewhere else it has no labels for, errors compound. DAgger lets the model drive, asks
the expert what it would have done in every state the model visits, adds those rows to the data and
retrains. One round here:

1. `collect`: the current model steers the car (`steering.inference.load_model`, in-process, the
   runtime the evaluator picks unless `backend` says otherwise, on the decoded JPEG of the rendered
   centre frame, as over the wire) on the training track; every state is recorded like Record mode
   (three frames in `IMG/`, one `driving_log.csv` row) but labelled with the expert's steering at
   that pose (`steering.sim.expert`, centre-line pursuit, no injected drifts).
   Throttle comes from the expert's speed control. With `beta` > 0 the expert's steering is applied on
   that share of the steps (the paper's mixture policy). When the car leaves the road or stalls (the
   evaluator's `InterventionDetector`), it is put back on the centre line, as the evaluator does, the
   frame clock jumps so the log reader starts a new session, and labelling goes on.
2. `retrain`: `steering.training.fit` with the checkpoint's own TrainConfig on the aggregated log,
   warm-started from the checkpoint's weights.
3. Score the new checkpoint with the evaluation suite (`steering.eval.suite`).

The aggregated data is `<out>/data/driving_log.csv`: the recording's rows first (resolved absolute
paths, `steering.data.write_log`), then each round's rows with their frames in `<out>/data/IMG/`, so
`python train.py <out>/data/driving_log.csv` trains on it. Held-out tracks (the suite's held-out and
challenge tracks) are never driven for data: asking for them raises `HeldOutTrackError`.
`<out>/round<k>/trace.csv` lists every labelled state with its pose, for tests and plots.
"""
from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
import logging
import math
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from steering.checkpoint import load_checkpoint
from steering.data import read_logs, write_log
from steering.data.reading import DEFAULT_SESSION_GAP_S
from steering.eval.scoring import InterventionConfig, InterventionDetector
from steering.eval.suite import SuiteConfig, run_suite
from steering.inference import InferenceConfig, load_model
from steering.preprocess import decode_jpeg, encode_jpeg
from steering.sim.expert import Expert, ExpertConfig
from steering.sim.world import World, WorldConfig
from steering.training import TrainConfig, fit
from steering.training.data_setup import bundle_from_logs
from steering.udacity import CAMERAS, IMAGE_DIR, LOG_NAME, format_log_row, frame_name

log = logging.getLogger(__name__)

TRACE_COLUMNS = ("sample", "time_s", "x", "y", "heading", "speed_mps", "progress_m", "cte_m", "expert_steering",
                 "model_steering", "applied_steering", "intervention", "center")
SESSION_BREAK_S = 2 * DEFAULT_SESSION_GAP_S  # frame-clock jump after a hand-back: the reader starts a new session


class HeldOutTrackError(ValueError):
    """DAgger was asked to collect data on a track kept for evaluation."""


@dataclass(frozen=True)
class DaggerConfig:
    """How many rounds, how much driving per round, how to retrain and how to score."""

    track: str = "lake"  # the training track; the suite's held-out and challenge tracks are refused
    rounds: int = 1
    laps: float = 1.0  # model driving per round
    max_samples: int | None = None  # stop a round's drive after this many labelled states (tests)
    beta: float = 0.0  # share of steps where the expert's steering is applied (Ross et al.'s mixture); 0 = model only
    speed_mph: float = ExpertConfig.cruise_speed_mph  # the expert's speed control drives the throttle
    seed: int = 0  # the world's textures and the mixture's draws
    jpeg_quality: int = 75  # as the recorder
    epochs: int | None = None  # retraining epochs per round; None = the checkpoint's TrainConfig
    backend: str = "auto"  # the model's runtime while it drives (steering.inference): auto = as the evaluator
    interventions: InterventionConfig = field(default_factory=InterventionConfig)
    out_dir: Path = Path("runs/dagger")
    suite: SuiteConfig | None = field(default_factory=SuiteConfig)  # None = no scoring
    progress: bool = True

    def __post_init__(self) -> None:
        if self.rounds < 0:
            raise ValueError(f"rounds must be >= 0, got {self.rounds}")
        if not 0.0 <= self.beta <= 1.0:
            raise ValueError(f"beta must be in [0, 1], got {self.beta}")
        held_out = held_out_tracks(self.suite)
        if _track_name(self.track) in held_out:
            raise HeldOutTrackError(
                f"DAgger collects data on the training track only; {self.track!r} is held out for evaluation "
                f"({', '.join(sorted(held_out))} are never used for training data)")


def held_out_tracks(suite: SuiteConfig | None = None) -> set[str]:
    """The tracks kept for evaluation: the default suite's and `suite`'s held-out and challenge tracks."""
    configs = [SuiteConfig()] + ([suite] if suite is not None else [])
    return {_track_name(t) for c in configs for t in (c.held_out_track, c.challenge_track)}


def _track_name(track: str) -> str:
    return Path(track).stem if track.endswith(".json") else track


@dataclass
class CollectSummary:
    """One round's drive: rows written, take-overs, distance, and where the trace is."""

    rows: int = 0
    interventions: int = 0
    distance_m: float = 0.0
    mean_abs_cte_m: float = 0.0
    max_abs_cte_m: float = 0.0
    disagreement: float = 0.0  # mean |expert - model steering| over the visited states
    trace_path: Path | None = None


@dataclass
class RoundResult:
    round: int  # 0 = the start model (scored only)
    checkpoint: Path
    collect: CollectSummary | None = None
    score: float | None = None  # suite score (mean autonomy %)
    autonomy: dict[str, float] = field(default_factory=dict)  # suite row name -> autonomy %
    cut_short: list[str] = field(default_factory=list)  # suite rows that ended before their laps (e.g. a dropped
    # connection on a loaded machine): their autonomy covers only part of the drive


@dataclass
class DaggerResult:
    data_log: Path
    rounds: list[RoundResult]


def start_aggregate(recordings: Sequence[str | Path], data_dir: str | Path) -> Path:
    """A fresh `data_dir/driving_log.csv` holding the recordings' rows (resolved paths); returns its path."""
    data_dir = Path(data_dir)
    if data_dir.exists():
        shutil.rmtree(data_dir)  # a rerun must not aggregate twice
    (data_dir / IMAGE_DIR).mkdir(parents=True)
    rows = read_logs([str(p) for p in recordings]).rows
    return write_log(rows, data_dir / LOG_NAME)


def _next_start(log_path: Path) -> dt.datetime:
    """A frame time a minute after the log's last named frame (a new session), or now."""
    stamps = read_logs([str(log_path)]).rows["timestamp"].dropna()
    if stamps.empty:
        return dt.datetime.now()
    return dt.datetime(1970, 1, 1) + dt.timedelta(seconds=float(stamps.max()) + 60.0)


def collect(checkpoint: str | Path, data_dir: str | Path, config: DaggerConfig, round_index: int = 1,
            trace_path: str | Path | None = None) -> CollectSummary:
    """Drive `checkpoint` on `config.track`, appending expert-labelled rows to `data_dir/driving_log.csv`."""
    data_dir = Path(data_dir).resolve()
    images = data_dir / IMAGE_DIR
    images.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / LOG_NAME
    start = _next_start(log_path) if log_path.exists() and log_path.stat().st_size else dt.datetime.now()
    trace_path = Path(trace_path) if trace_path else data_dir / f"dagger_trace_round{round_index}.csv"
    trace_path.parent.mkdir(parents=True, exist_ok=True)

    world = World(WorldConfig(track=config.track, seed=config.seed))
    # centre-line pursuit only: drifts are for recordings, here the model makes the mistakes
    expert = Expert(ExpertConfig(cruise_speed_mph=config.speed_mph, recoveries=False, seed=config.seed))
    detector = InterventionDetector(world.track.half_width_m, config.interventions,
                                    half_width_at=world.track.half_width_at)
    pilot = load_model(checkpoint, InferenceConfig(backend=config.backend, warmup=0))
    rng = np.random.default_rng([config.seed, round_index])
    target_m = config.laps * world.track.length_m
    limit_s = config.laps * world.track.length_m / 1.5 + 60.0  # the evaluator's limit for a crawling car
    summary = CollectSummary(trace_path=trace_path)
    clock_s, abs_cte, gaps = 0.0, [], []
    bar = tqdm(total=round(target_m), unit="m", desc=f"DAgger round {round_index} on {world.track.name}",
               disable=not config.progress)
    with open(log_path, "a", newline="") as log_file, open(trace_path, "w", newline="") as trace_file:
        trace = csv.writer(trace_file)
        trace.writerow(TRACE_COLUMNS)
        try:
            while world.distance_along_m < target_m and world.time_s < limit_s:
                if config.max_samples is not None and summary.rows >= config.max_samples:
                    break
                state = world.car.state
                label = expert.run(world)  # the expert's command at this pose: the row's label
                when = start + dt.timedelta(seconds=round(world.time_s + clock_s, 3))
                paths, center_jpeg = {}, b""
                for camera, frame in world.render_all().items():
                    data = encode_jpeg(frame, config.jpeg_quality)
                    path = images / frame_name(camera, when)
                    path.write_bytes(data)
                    paths[camera] = str(path)
                    center_jpeg = data if camera == "center" else center_jpeg
                predicted = pilot.predict(decode_jpeg(center_jpeg))  # what the model sees over the wire
                model_steering = float(np.clip(predicted, -1.0, 1.0)) if math.isfinite(predicted) else 0.0
                applied = label.steering if rng.random() < config.beta else model_steering
                log_file.write(format_log_row(*(paths[c] for c in CAMERAS), steering=label.steering,
                                              throttle=max(0.0, label.throttle), brake=label.brake,
                                              speed=round(state.speed_mph, 5)) + "\n")
                before = world.distance_along_m
                time_s = world.time_s
                pose = (repr(state.x), repr(state.y), repr(state.heading), repr(state.speed),
                        repr(world.progress_m), repr(world.cte_m))
                abs_cte.append(abs(world.cte_m))
                gaps.append(abs(label.steering - model_steering))
                info = world.step(applied, label.throttle)
                intervention = detector.run(summary.rows, info)
                trace.writerow([summary.rows, f"{time_s:.4f}", *pose, repr(label.steering),
                                repr(model_steering), repr(applied), intervention.reason if intervention else "",
                                Path(paths["center"]).name])
                summary.rows += 1
                if intervention is not None:
                    summary.interventions += 1
                    world.reset_to_centre(config.interventions.reset_speed_mph)
                    detector.handed_back(info.time_s, world.distance_along_m)
                    clock_s += SESSION_BREAK_S  # the frames after a hand-back are a new session
                bar.update(max(0, round(world.distance_along_m) - round(before)))
        finally:
            bar.close()
    summary.distance_m = world.distance_along_m
    if abs_cte:
        summary.mean_abs_cte_m, summary.max_abs_cte_m = float(np.mean(abs_cte)), float(np.max(abs_cte))
        summary.disagreement = float(np.mean(gaps))
    log.info("round %d: %d expert-labelled rows, %d interventions over %.0f m, mean |expert - model| %.3f",
             round_index, summary.rows, summary.interventions, summary.distance_m, summary.disagreement)
    return summary


def train_config_for(checkpoint: str | Path, logs: Sequence[str | Path], out_dir: str | Path,
                     epochs: int | None = None, progress: bool = True) -> TrainConfig:
    """The checkpoint's own TrainConfig aimed at `logs` and `out_dir` (a checkpoint without one, e.g. a freshly
    initialised model: train.py's defaults for its model from scratch)."""
    ckpt = load_checkpoint(checkpoint)
    given = ckpt.train_config or {"model": ckpt.model_config.name, "pretrained": "none"}
    config = TrainConfig.from_given(given) if ckpt.train_config is None else TrainConfig.from_dict(given)
    # limit would cut the aggregated log back to the recording; resume/tensorboard/cache belong to the first run
    changes = {"logs": [str(p) for p in logs], "out": str(out_dir), "resume": "", "limit": 0, "tensorboard": "",
               "cache_dir": "", "progress": progress}
    if epochs is not None:
        changes["epochs"] = epochs
    return dataclasses.replace(config, **changes)


def retrain(checkpoint: str | Path, logs: Sequence[str | Path], out_dir: str | Path, epochs: int | None = None,
            progress: bool = True) -> Path:
    """Train on `logs` starting from `checkpoint`'s weights; returns the new best checkpoint."""
    config = train_config_for(checkpoint, logs, out_dir, epochs, progress)
    ckpt = load_checkpoint(checkpoint)
    model = ckpt.build_model().train()
    result = fit(config, bundle_from_logs(config, ckpt.preprocess), model=model)
    return result.best_path


def _score(checkpoint: Path, round_index: int, config: DaggerConfig, out: Path) -> RoundResult:
    result = RoundResult(round=round_index, checkpoint=checkpoint)
    if config.suite is None:
        return result
    label = f"round{round_index}"
    suite = run_suite([checkpoint], dataclasses.replace(config.suite, out_dir=out / "suite"), labels=[label])
    result.score = suite.scores[label]
    result.autonomy = {row.name: rep.autonomy_pct for row, rep in zip(suite.rows, suite.reports[label], strict=False)}
    result.cut_short = [row.name for row, rep in zip(suite.rows, suite.reports[label], strict=False)
                        if rep.stop_reason not in ("laps", "on_step")]  # on_step: the evaluator's time limit
    if result.cut_short:
        log.warning("round %d: suite rows cut short (%s): their scores cover part of the drive only", round_index,
                    ", ".join(result.cut_short))
    log.info("round %d: suite score %.1f", round_index, result.score)
    return result


def run_dagger(checkpoint: str | Path, recordings: Sequence[str | Path],
               config: DaggerConfig | None = None) -> DaggerResult:
    """`config.rounds` rounds of drive, label, aggregate, retrain and score; writes `<out>/dagger.json`."""
    config = config or DaggerConfig()
    out = Path(config.out_dir)
    data_log = start_aggregate(recordings, out / "data")
    current = Path(checkpoint)
    rounds = [_score(current, 0, config, out / "round0")]
    for k in range(1, config.rounds + 1):
        folder = out / f"round{k}"
        collected = collect(current, data_log.parent, config, k, trace_path=folder / "trace.csv")
        current = retrain(current, [data_log], folder / "train", config.epochs, config.progress)
        result = _score(current, k, config, folder)
        result.collect = collected
        rounds.append(result)
    summary = {"checkpoint": str(checkpoint), "data_log": str(data_log), "track": config.track,
               "rounds": [{"round": r.round, "checkpoint": str(r.checkpoint), "score": r.score, "autonomy": r.autonomy,
                           "cut_short": r.cut_short,
                           "collect": None if r.collect is None else {
                               **dataclasses.asdict(r.collect), "trace_path": str(r.collect.trace_path)}}
                          for r in rounds]}
    (out / "dagger.json").write_text(json.dumps(summary, indent=2) + "\n")
    return DaggerResult(data_log=data_log, rounds=rounds)
