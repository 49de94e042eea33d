"""Open-loop scoring on recordings: how does a model steer on every centre frame of a human's log?

    from steering.eval.offline import OfflineConfig, run_offline
    result = run_offline(["runs/a/best.pt", ("a.pt", "b.pt")], ["data/driving_log.csv"], OfflineConfig(out_dir="off"))
    result.results[0]["metrics"]["curve"]["agreement_pct"]

Each model is loaded the way drive.py loads it (`steering.inference.ensemble.load_model`: the accuracy-
gated runtime choice, exported .onnx/.xml/.ts files, `A.pt+B.pt` ensembles, `--tta flip`). Frames are
read with the log reader (`steering.data.read_logs`: every format it takes; rows whose centre frame
is missing are skipped there and counted; frames that do not decode are skipped here and counted),
prepared with the model's own preprocessing and run in batches. `batch_forward` computes exactly
what the model's per-frame `infer` does, a batch at a time (the mean over members and views);
a runtime built for batch 1 (static ONNX/OpenVINO shapes) is run frame by frame inside the batch.

The metrics are `steering.eval.offline_metrics`, the plots `steering.eval.offline_plots`. Files in
`out_dir`: offline.md (the tables), offline.json (everything), and per model and log
`<model>__<log>.png` (steering over time), `<model>__<log>_scatter.png` and `<model>__<log>.csv`
(one row per scored frame).
"""
from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from steering.data import read_logs
from steering.data.smoothing import row_times, smooth_over_time
from steering.eval.compare import folder_name
from steering.eval.evaluate import ModelEntry, entry_name, entry_paths
from steering.eval.offline_metrics import MetricsConfig, score
from steering.eval.offline_plots import plot_scatter, plot_steering_over_time
from steering.eval.offline_report import markdown
from steering.eval.report import machine_description
from steering.inference.ensemble import load_model
from steering.inference.predictor import InferenceConfig
from steering.preprocess import FrameError, read_frame
from steering.udacity import LOG_NAME

log = logging.getLogger(__name__)

PREDICTION_COLUMNS = ("line", "session", "time_s", "speed_mph", "steering", "steering_smoothed", "predicted",
                      "predicted_smoothed")


@dataclass(frozen=True)
class OfflineConfig:
    """How models are run on recordings and scored."""

    out_dir: Path = Path("runs/offline")
    smooth_s: float = 1.0  # the smoothing window of the human label (and of the plotted prediction), seconds
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    batch_size: int = 64
    readers: int = 2  # threads that read and prepare frames (JPEG decoding releases the GIL)
    plots: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.readers < 1:
            raise ValueError(f"batch_size and readers must be >= 1, got {self.batch_size} and {self.readers}")


@dataclass
class LogPredictions:
    """One model's steering on every scored centre frame of one recording, beside the human's."""

    rows: pd.DataFrame  # the reader's rows that were scored (line, session, speed, steering, ...)
    times: np.ndarray  # (N,) seconds since the log's first frame
    label: np.ndarray  # (N,) the human's steering as recorded
    smoothed: np.ndarray  # (N,) the human's steering averaged over smooth_s
    predicted: np.ndarray  # (N,) the model's steering
    rows_total: int  # data rows in the log
    missing_frames: int  # rows the reader skipped: centre frame missing
    unreadable_frames: int  # rows skipped here: the frame did not decode


@dataclass
class OfflineResult:
    results: list[dict[str, Any]]  # one per model and log: names, counts, metrics, files
    table: str  # offline.md's text
    files: dict[str, Path]


# ---------------------------------------------------------------- inference


def _member_forward(member: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    """(B, 3, H, W) -> (B,) for one Predictor; frame by frame when its runtime takes batch 1 only."""
    forward = member.runtime.forward
    probe = torch.zeros(2, *member.preprocess.input_shape)
    try:
        batched = tuple(forward(probe).reshape(-1).shape) == (2,)
    except Exception as exc:  # noqa: BLE001 - each runtime raises its own type for a shape it was not built for
        log.debug("%s runs batch 1 only (%s); scoring frame by frame", member.checkpoint, exc)
        batched = False
    if batched:
        return lambda x: forward(x).reshape(-1).float().cpu()
    return lambda x: torch.cat([forward(x[i:i + 1]).reshape(-1).float().cpu() for i in range(len(x))])


def batch_forward(model: Any) -> Callable[[torch.Tensor], np.ndarray]:
    """(B, 3, H, W) prepared frames -> (B,) float64 steering, as `model.infer` gives frame by frame.

    `model` is what `load_model` returns: a Predictor, or an Ensemble (mean over its members and,
    with tta="flip", minus their steering on the mirrored frames)."""
    members = list(getattr(model, "members", [model]))
    flip = getattr(model, "tta", "none") == "flip"
    forwards = [_member_forward(m) for m in members]
    passes = len(forwards) * (2 if flip else 1)

    def forward(x: torch.Tensor) -> np.ndarray:
        with torch.inference_mode():
            mirrored = torch.flip(x, dims=[-1]) if flip else None  # the width axis of (B, 3, H, W)
            total = torch.zeros(len(x), dtype=torch.float64)
            for member_forward in forwards:
                total += member_forward(x).double()
                if mirrored is not None:
                    total -= member_forward(mirrored).double()  # a mirrored road steers the other way
            return (total / passes).numpy()

    return forward


def predict_frames(model: Any, paths: Sequence[str], batch_size: int = 64, readers: int = 2,
                   progress: bool = False, label: str = "") -> tuple[np.ndarray, np.ndarray]:
    """(steering per path, NaN where the frame did not decode; mask of frames that decoded)."""
    forward = batch_forward(model)
    predicted = np.full(len(paths), np.nan)
    readable = np.zeros(len(paths), dtype=bool)

    def prepare(path: str) -> torch.Tensor | None:
        try:
            return model.prepare(read_frame(path))
        except FrameError as exc:
            log.warning("skipped an unreadable frame: %s", exc)
            return None

    starts = range(0, len(paths), batch_size)
    with ThreadPoolExecutor(max_workers=readers) as pool:
        for start in tqdm(starts, desc=label or "frames", unit="batch", disable=not progress):
            prepared = list(pool.map(prepare, paths[start:start + batch_size]))
            ok = [i for i, x in enumerate(prepared) if x is not None]
            if not ok:
                continue
            batch = torch.stack([prepared[i] for i in ok])  # (B, 3, H, W)
            index = start + np.asarray(ok)
            predicted[index] = forward(batch)
            readable[index] = True
    return predicted, readable


def predict_log(model: Any, log_path: str | Path, config: OfflineConfig | None = None,
                label: str = "") -> LogPredictions:
    """Run `model` on every centre frame of one driving log and line it up with the human's steering."""
    config = config or OfflineConfig()
    driving_log = read_logs(log_path)
    rows = driving_log.rows
    predicted, readable = predict_frames(model, rows["center"].tolist(), config.batch_size, config.readers,
                                         config.progress, label)
    if not readable.any():
        raise ValueError(f"{log_path}: none of the {len(rows)} centre frames decoded")
    # Smooth over the rows that have a frame on disk, before dropping undecodable ones: the label is real either way.
    times = row_times(rows)
    smoothed = smooth_over_time(rows["steering"].to_numpy(np.float64), times, rows["session"].to_numpy(),
                                config.smooth_s)
    return LogPredictions(
        rows=rows[readable].reset_index(drop=True), times=times[readable],
        label=rows["steering"].to_numpy(np.float64)[readable], smoothed=smoothed[readable],
        predicted=predicted[readable], rows_total=driving_log.report.rows_total,
        missing_frames=driving_log.report.missing_image_rows, unreadable_frames=int((~readable).sum()))


# ---------------------------------------------------------------- names and files


def log_name(path: str | Path) -> str:
    """`lake-two-laps-mouse` for `.../lake-two-laps-mouse/driving_log.csv`; the file's stem otherwise."""
    path = Path(path)
    return path.parent.name if path.name == LOG_NAME and path.parent.name else path.stem


def model_label(entry: ModelEntry, tta: str = "none") -> str:
    """`best` for runs/a/best.pt is ambiguous; use the run folder for checkpoints called best/last."""
    def name(p: Path) -> str:
        return f"{p.parent.name}/{p.stem}" if p.stem in ("best", "last") and p.parent.name else p.stem
    text = entry_name(entry, name)
    return text + (f" tta {tta}" if tta != "none" else "")


def _unique(names: Sequence[str]) -> list[str]:
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name}-{seen[name]}")
    return unique


def write_predictions(p: LogPredictions, path: Path, smooth_s: float) -> Path:
    predicted_smoothed = smooth_over_time(p.predicted, p.times, p.rows["session"].to_numpy(), smooth_s)
    table = pd.DataFrame({"line": p.rows["line"], "session": p.rows["session"], "time_s": p.times,
                          "speed_mph": p.rows["speed"], "steering": p.label, "steering_smoothed": p.smoothed,
                          "predicted": p.predicted, "predicted_smoothed": predicted_smoothed})
    table[list(PREDICTION_COLUMNS)].to_csv(path, index=False, float_format="%.6g")
    return path


def json_ready(value: Any) -> Any:
    """NaN -> None (JSON has no NaN), Paths -> str, dataclasses and tuples unpacked."""
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (np.floating, np.integer)):
        return json_ready(value.item())
    return value


# ---------------------------------------------------------------- the command


def run_offline(models: Sequence[ModelEntry], logs: Sequence[str | Path], config: OfflineConfig | None = None,
                labels: Sequence[str] | None = None) -> OfflineResult:
    """Score every model on every log; write offline.md, offline.json and the per-pair files to `config.out_dir`.

    Raises CheckpointError for a model that does not load, DrivingLogError for a log that does not read,
    FileNotFoundError for a missing model file."""
    config = config or OfflineConfig()
    if not models or not logs:
        raise ValueError("give at least one model and one driving_log.csv")
    missing = [str(p) for entry in models for p in entry_paths(entry) if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"model file not found: {', '.join(missing)}")
    model_names = list(labels) if labels else _unique([model_label(m, config.inference.tta) for m in models])
    if len(model_names) != len(models):
        raise ValueError(f"{len(model_names)} labels for {len(models)} models")
    log_names = _unique([log_name(p) for p in logs])
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    started = time.perf_counter()
    for entry, model_name in zip(models, model_names, strict=False):
        model = load_model(entry_paths(entry), config.inference)
        log.info("%s: %s", model_name, model.choice)
        for log_path, name in zip(logs, log_names, strict=False):
            tick = time.perf_counter()
            p = predict_log(model, log_path, config, label=f"{model_name} on {name}")
            seconds = time.perf_counter() - tick
            stem = f"{folder_name(model_name)}__{folder_name(name)}"
            files = {"predictions": write_predictions(p, out / f"{stem}.csv", config.smooth_s)}
            title = f"{model_name} on {name}"
            if config.plots:
                sessions = p.rows["session"].to_numpy()
                files["over_time"] = plot_steering_over_time(p.times, sessions, p.label, p.predicted,
                                                             out / f"{stem}.png", config.smooth_s, title)
                files["scatter"] = plot_scatter(p.predicted, p.smoothed, out / f"{stem}_scatter.png",
                                                config.metrics.curve_threshold, title)
            results.append({
                "model": model_name, "checkpoints": [str(x) for x in entry_paths(entry)], "runtime": model.choice,
                "log": name, "path": str(log_path), "rows": p.rows_total, "scored": len(p.predicted),
                "missing_frames": p.missing_frames, "unreadable_frames": p.unreadable_frames,
                "seconds": seconds, "frames_per_s": len(p.predicted) / seconds if seconds > 0 else math.nan,
                "metrics": score(p.predicted, p.label, p.smoothed, p.rows["speed"].to_numpy(np.float64),
                                 config.metrics),
                "files": {k: str(v) for k, v in files.items()},
            })
    machine = machine_description()
    table = markdown(results, config.smooth_s, config.metrics, machine)
    files = {"table": out / "offline.md", "json": out / "offline.json"}
    files["table"].write_text(table)
    settings = {"smooth_s": config.smooth_s, "batch_size": config.batch_size, "metrics": asdict(config.metrics),
                "inference": asdict(config.inference)}
    files["json"].write_text(json.dumps(json_ready({"machine": machine, "settings": settings,
                                                    "wall_s": time.perf_counter() - started, "results": results}),
                                        indent=2) + "\n")
    return OfflineResult(results=results, table=table, files=files)
