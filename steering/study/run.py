"""Run the study: train every entry, analyse its validation predictions, drive it through the suite.

Each entry's folder `out/entries/<name>/` holds the training run (`run/`), the suite's drives
(`suite/`) and `result.json`, written last: a rerun skips every entry with a result.json and
resumes an interrupted training from its `last.pt`. The test-time-augmentation and ensemble
variants (`out/variants/<label>/`) reuse the trained checkpoints and are resumed the same way.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from steering.checkpoint import load_checkpoint
from steering.eval import EvalConfig, metrics
from steering.eval.suite import SuiteConfig, run_suite
from steering.inference import InferenceConfig, load_model
from steering.inference.gate import log_frames
from steering.sim.expert import ExpertConfig
from steering.sim.recorder import RecordConfig, record_fresh
from steering.sim.world import WorldConfig
from steering.study.config import StudyConfig
from steering.study.plan import StudyEntry
from steering.study.report import write_report
from steering.training import TrainConfig, train
from steering.udacity import LOG_NAME

log = logging.getLogger(__name__)
RECORD_START = dt.datetime(2024, 1, 1, 12, 0, 0)  # frame names of the recording, as the demo's
LATENCY_FRAMES = 30  # real frames timed through the default runtime per entry (after warm-up)


def train_config(entry: StudyEntry, config: StudyConfig, log_path: Path, out: Path) -> Any:
    pretrained = entry.pretrained == "imagenet"
    last = out / "last.pt"
    return TrainConfig(
        logs=[str(log_path)], model=entry.model, pretrained=entry.pretrained, strategy=entry.strategy,
        epochs=config.epochs, batch_size=config.batch_size, lr=config.lr,
        backbone_lr=config.pretrained_backbone_lr if pretrained else config.lr,
        head_epochs=1, unfreeze_stages=2, unfreeze_every=1, patience=0,
        cameras="all", augment="auto" if entry.strategy == "frozen" else "full",
        limit=config.limit, seed=config.seed, workers=config.workers, out=str(out),
        resume=str(last) if last.is_file() else "", progress=config.progress)


def suite_config(config: StudyConfig, out: Path) -> Any:
    """Every track at 20 mph, lock step and real time (the real-time rows show what latency costs)."""
    base = EvalConfig(seed=config.seed, progress=config.progress)
    if config.quick:
        return SuiteConfig.quick(out_dir=out, base=base)
    # no robustness rows: the stored study results were scored on the clean rows alone
    return SuiteConfig(laps=(1.0, 1.0, 1.0), speeds_mph=(20,), pacings=("fixed", "realtime"), targets=(),
                       robustness=(), out_dir=out, base=base)


def suite_summary(suite: Any) -> dict[str, Any]:
    """Score, autonomy per row and the real-time rows' wire round trip of a one-model SuiteResult."""
    reports = next(iter(suite.reports.values()))
    rows = {row.name: {"role": row.role, "track": row.track, "pacing": row.pacing, "autonomy_pct": rep.autonomy_pct,
                       "interventions": rep.interventions, "round_trip_p50_ms": rep.round_trip_p50_ms}
            for row, rep in zip(suite.rows, reports, strict=False)}
    realtime = [rep.round_trip_p50_ms for row, rep in zip(suite.rows, reports, strict=False)
                if row.pacing == "realtime" and rep.round_trip_p50_ms is not None]
    by_role: dict[str, list[float]] = {}
    for row, rep in zip(suite.rows, reports, strict=False):
        by_role.setdefault(row.role, []).append(rep.autonomy_pct)
    return {"score": next(iter(suite.scores.values())), "rows": rows,
            "autonomy_by_role": {role: float(np.mean(v)) for role, v in by_role.items()},
            "round_trip_p50_ms": float(np.median(realtime)) if realtime else None}


def inference_latency(model: str | Path | Sequence[Path], frames: list[np.ndarray],
                      tta: str = "none") -> dict[str, Any]:
    """Per-frame prepare + infer through drive.py's default runtime choice, in this process (ms)."""
    predictor = load_model(model, InferenceConfig(tta=tta))  # one path, no TTA: a plain Predictor
    predictor.configure_thread()
    for frame in frames[:3]:
        predictor.predict(frame)
    times = []
    for frame in frames[:LATENCY_FRAMES]:
        start = time.perf_counter()
        predictor.predict(frame)
        times.append((time.perf_counter() - start) * 1e3)
    return {"p50_ms": float(np.percentile(times, 50)), "p99_ms": float(np.percentile(times, 99)),
            "runtime": str(predictor.choice)}


def analyse(run_dir: Path) -> dict[str, Any]:
    """The confusion matrix, per-class scores and per-bin MAE of the best checkpoint's validation predictions."""
    saved = np.load(run_dir / "val_predictions.npz")
    predicted, target = saved["predicted"], saved["target"]
    matrix = metrics.confusion(predicted, target)
    return {"straight_band": metrics.STRAIGHT_BAND, "confusion": matrix.tolist(),
            "per_class": metrics.per_class(matrix), "mae_by_bin": metrics.mae_by_bin(predicted, target),
            "val_frames": int(target.size)}


def trained_stage(entry: StudyEntry, config: StudyConfig, log_path: Path, folder: Path) -> dict[str, Any]:
    """Train (or resume) the entry and analyse its validation predictions; kept in trained.json so that a
    rerun after a failed drive does not train again."""
    saved = folder / "trained.json"
    if saved.is_file():
        return json.loads(saved.read_text())
    started = time.perf_counter()
    trained = train(train_config(entry, config, log_path, folder / "run"))
    seconds = time.perf_counter() - started
    images = sum(h["train_images"] for h in trained.history)
    stage = {"checkpoint": str(trained.best_path), "metrics": trained.best_metrics, "baseline": trained.baseline,
             "train": {"seconds": seconds, "images": images,
                       "images_per_s": images / max(sum(h["train_seconds"] for h in trained.history), 1e-9),
                       "epochs": len(trained.history),
                       "best_epoch": min(trained.history, key=lambda h: h["val_loss"])["epoch"]},
             **analyse(folder / "run")}
    saved.write_text(json.dumps(stage, indent=2) + "\n")
    return stage


def run_entry(entry: StudyEntry, config: StudyConfig, log_path: Path, frames: list[np.ndarray]) -> dict[str, Any]:
    """Train, analyse, time and drive one entry; returns (and writes) its result."""
    folder = config.out_dir / "entries" / entry.name
    done = folder / "result.json"
    if done.is_file():
        log.info("study: %s already done (%s); skipping", entry.name, done)
        return json.loads(done.read_text())
    result: dict[str, Any] = {**asdict(entry), "name": entry.name}
    why_not = entry.availability()
    if why_not:
        log.info("study: skipping %s: %s", entry.name, why_not)
        return {**result, "status": "skipped", "reason": why_not}
    started = time.perf_counter()
    result.update(status="done", **trained_stage(entry, config, log_path, folder))
    result["latency"] = inference_latency(result["checkpoint"], frames)
    suite = run_suite([Path(result["checkpoint"])], suite_config(config, folder / "suite"), labels=[entry.name])
    result["suite"] = suite_summary(suite)
    result["seconds"] = time.perf_counter() - started
    folder.mkdir(parents=True, exist_ok=True)
    done.write_text(json.dumps(result, indent=2) + "\n")
    log.info("study: %s done in %.0f s, suite score %.1f", entry.name, result["seconds"], result["suite"]["score"])
    return result


def run_variant(label: str, kind: str, members: list[dict[str, Any]], config: StudyConfig,
                frames: list[np.ndarray]) -> dict[str, Any]:
    """`kind` "tta": the member with flip TTA; "ensemble": the mean of the members' checkpoints."""
    folder = config.out_dir / "variants" / label.replace("+", "_").replace(" ", "_")
    done = folder / "result.json"
    if done.is_file():
        return json.loads(done.read_text())
    paths = [Path(m["checkpoint"]) for m in members]
    tta = "flip" if kind == "tta" else "none"
    suite_cfg = suite_config(config, folder / "suite")
    suite_cfg = replace(suite_cfg, base=replace(suite_cfg.base, tta=tta))
    model: Any = paths[0] if kind == "tta" else tuple(paths)
    started = time.perf_counter()
    result = {"name": label, "kind": kind, "members": [m["name"] for m in members], "status": "done",
              "latency": inference_latency(model, frames, tta)}
    result["suite"] = suite_summary(run_suite([model], suite_cfg, labels=[label]))
    result["seconds"] = time.perf_counter() - started
    folder.mkdir(parents=True, exist_ok=True)
    done.write_text(json.dumps(result, indent=2) + "\n")
    return result


def variants_of(done: list[dict[str, Any]]) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """TTA on the best entry; the ensemble of the pair with the best mean score whose checkpoints share
    preprocessing (an ensemble prepares each frame once)."""
    from itertools import combinations


    ranked = sorted(done, key=lambda r: r["suite"]["score"], reverse=True)
    if not ranked:
        return []
    chosen = [(f"{ranked[0]['name']} +tta", "tta", ranked[0:1])]
    preprocess = {r["name"]: load_checkpoint(r["checkpoint"]).preprocess for r in ranked}
    pairs = [(a, b) for a, b in combinations(ranked, 2) if preprocess[a["name"]] == preprocess[b["name"]]]
    if pairs:
        first, partner = max(pairs, key=lambda p: p[0]["suite"]["score"] + p[1]["suite"]["score"])
        chosen.append((f"{first['name']}+{partner['name']}", "ensemble", [first, partner]))
    return chosen


@dataclass
class StudyResult:
    entries: list[dict[str, Any]]
    variants: list[dict[str, Any]]
    files: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0


def run_study(config: StudyConfig) -> StudyResult:
    """Every entry of the plan, then the variants; writes study.md, study.json and the PNGs into out_dir."""
    if config.quick and not config.limit:
        config = replace(config, limit=192, epochs=1)
    started = time.perf_counter()
    config.out_dir.mkdir(parents=True, exist_ok=True)
    log_path = config.log or record_demo_data(config)
    frames, _ = log_frames([log_path], LATENCY_FRAMES + 3)
    entries = [run_entry(entry, config, log_path, frames) for entry in config.plan()]
    done = [r for r in entries if r["status"] == "done"]
    variants = [run_variant(label, kind, members, config, frames)
                for label, kind, members in variants_of(done)] if config.variants else []
    # What the whole study cost, also when this invocation only read finished entries back.
    seconds = sum(r.get("seconds", 0.0) for r in entries + variants) or time.perf_counter() - started
    files = write_report(entries, variants, config, log_path, seconds)
    return StudyResult(entries, variants, files, seconds)


def record_demo_data(config: StudyConfig) -> Path:
    """The demo's recording (expert laps of lake with recoveries; quick: a third of a lap), made once."""
    existing = config.out_dir / "data" / LOG_NAME
    if existing.is_file():
        return existing
    laps = 0.3 if config.quick else config.record_laps
    return record_fresh(existing.parent, WorldConfig(track=config.record_track, seed=config.seed),
                        ExpertConfig(recoveries=True, seed=config.seed),
                        RecordConfig(laps=laps, start_time=RECORD_START, randomize_style=config.randomize_style,
                                     progress=config.progress)).log_path
