"""Failure prediction: monitors that score each driven frame, and the alarm they raise above a threshold.

    monitor = fit_monitor("autoencoder", frames)           # learn from nominal frames, threshold by a gamma fit
    monitor.save("ae.pt"); monitor = AlarmMonitor.load("ae.pt")
    score = monitor.score(frame, ScoreContext(x, steering, preprocess))   # higher = less like nominal
    monitor.alarm(score)                                    # score > threshold

Each kind of monitor is one module in `steering.monitors.kinds` that calls `register(MonitorSpec(...))`
at import: its name, one line of help (drive.py's `--alarm` help is built from these), `fit` (nominal
frames and checkpoints -> a state of plain values and tensors) and `build` (state -> a `Scorer`). The
threshold is fitted here, the same way for every kind (`steering.monitors.threshold`: a gamma fit to the
nominal scores at a chosen false-alarm rate, as SelfOracle does), and stored with the state in one file
that `torch.load(weights_only=True)` reads. Scoring windows and precision/recall of alarms before a
failure are `steering.monitors.misbehaviour`; drive.py's use of an alarm is `steering.drive.pipeline`.
"""
from __future__ import annotations

import difflib
import importlib
import logging
import math
import pkgutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from steering.checkpoint import load_model
from steering.monitors.threshold import GammaFit, gamma_threshold
from steering.preprocess import PreprocessConfig, preprocess_frame

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


@dataclass(frozen=True)
class ScoreContext:
    """What the drive step already has for a frame: the model's input and its prediction."""

    x: torch.Tensor  # (3, H, W) float32, the driven model's preprocessed frame
    steering: float  # the driven model's prediction for it (NaN where there is no model, e.g. fitting an autoencoder)
    preprocess: PreprocessConfig  # how `x` was prepared: a monitor with the same input reuses it


class Scorer(Protocol):
    def score(self, frame: np.ndarray, ctx: ScoreContext) -> float:
        """uint8 RGB 160x320x3 frame -> a score; higher means further from the nominal frames."""


@dataclass(frozen=True)
class FitContext:
    """What fitting a monitor may use: nominal frames and the checkpoints it watches."""

    frames: Sequence[np.ndarray]  # uint8 RGB, nominal (training) frames
    checkpoints: Sequence[Path] = ()  # the driven model(s); model-based monitors need at least one
    options: dict[str, Any] = field(default_factory=dict)  # kind-specific (passes, epochs, ...)


@dataclass(frozen=True)
class MonitorSpec:
    name: str
    help: str  # one line for drive.py's `--alarm` help
    fit: Callable[[FitContext], dict[str, Any]]  # -> state: plain values and tensors only (weights_only loads it)
    build: Callable[[dict[str, Any]], Scorer]
    learns_from_frames: bool = False  # the threshold then comes from frames it was not fitted on


MONITORS: dict[str, MonitorSpec] = {}


def register(spec: MonitorSpec) -> MonitorSpec:
    MONITORS[spec.name] = spec
    return spec


def get_spec(name: str) -> MonitorSpec:
    if name not in MONITORS:
        close = difflib.get_close_matches(name, list(MONITORS), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown monitor {name!r}{hint} (known: {', '.join(MONITORS)})")
    return MONITORS[name]


def monitor_names() -> tuple[str, ...]:
    return tuple(MONITORS)


def monitor_help() -> str:
    return "; ".join(f"{s.name}: {s.help}" for s in MONITORS.values())


class AlarmMonitor:
    """A fitted monitor: its scorer, the threshold and how it was fitted; one file on disk."""

    def __init__(self, kind: str, state: dict[str, Any], threshold: float = math.inf,
                 gamma: GammaFit | None = None, nominal_scores: Sequence[float] = (), source: str = "") -> None:
        self.kind = kind
        self.state = state
        self.threshold = float(threshold)
        self.gamma = gamma
        self.nominal_scores = np.asarray(nominal_scores, dtype=np.float64)
        self.source = source
        self.scorer = get_spec(kind).build(state)

    def score(self, frame: np.ndarray, ctx: ScoreContext) -> float:
        return float(self.scorer.score(frame, ctx))

    @staticmethod
    def configure_thread(threads: int = 1) -> None:
        """Torch's CPU threads for the calling thread's scores (per thread, like the model's runtime)."""
        torch.set_num_threads(threads)

    def alarm(self, score: float) -> bool:
        """Above the threshold, or not a number (a monitor that cannot tell must not stay silent)."""
        return not score <= self.threshold

    def describe(self) -> str:
        if self.gamma is None:
            return f"{self.kind} (no threshold: scores only)"
        return (f"{self.kind}, threshold {self.threshold:.4g} (gamma fit, {self.gamma.false_alarm_rate:.0%} "
                f"false alarms on {len(self.nominal_scores)} nominal frames of {self.source})")

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"format": FORMAT_VERSION, "kind": self.kind, "state": self.state, "threshold": self.threshold,
                    "gamma": None if self.gamma is None else self.gamma.to_dict(),
                    "nominal_scores": torch.from_numpy(self.nominal_scores), "source": self.source}, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> AlarmMonitor:
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"monitor file {path} not found; write one with `python -m steering.monitors fit LOG "
                             f"--kind NAME --out {path.name}`")
        try:
            stored = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - pickle and zip errors alike: say which file
            raise ValueError(f"{path}: not a monitor file ({exc})") from None
        if not isinstance(stored, dict) or stored.get("format") != FORMAT_VERSION:
            raise ValueError(f"{path}: not a monitor file of format {FORMAT_VERSION}")
        gamma = GammaFit.from_dict(stored["gamma"]) if stored.get("gamma") else None
        return cls(stored["kind"], stored["state"], stored["threshold"], gamma,
                   stored["nominal_scores"].numpy(), stored.get("source", ""))


def fit_monitor(kind: str, frames: Sequence[np.ndarray], checkpoints: Sequence[Path] = (),
                false_alarm_rate: float = 0.05, options: dict[str, Any] | None = None, source: str = "",
                held_out: float = 0.2, seed: int = 0) -> AlarmMonitor:
    """Fit `kind` on nominal `frames` and its threshold on their scores.

    A monitor that learns from frames (the autoencoder) is fitted on all but a random `held_out` share;
    the threshold comes from that share, so it reflects frames the monitor has not seen.
    """
    spec = get_spec(kind)
    frames = list(frames)
    if len(frames) < 2:
        raise ValueError(f"fitting a monitor needs nominal frames; got {len(frames)}")
    fit_frames, score_frames = frames, frames
    if spec.learns_from_frames:
        order = np.random.default_rng(seed).permutation(len(frames))
        cut = max(1, int(round(len(frames) * held_out)))
        score_frames = [frames[i] for i in order[:cut]]
        fit_frames = [frames[i] for i in order[cut:]]
    state = spec.fit(FitContext(fit_frames, tuple(Path(c) for c in checkpoints), dict(options or {})))
    monitor = AlarmMonitor(kind, state, source=source)
    scores = score_frames_with(monitor, score_frames, checkpoints[0] if checkpoints else None)
    fitted = gamma_threshold(scores, false_alarm_rate)
    monitor.threshold, monitor.gamma, monitor.nominal_scores = fitted.threshold, fitted, np.asarray(scores)
    log.info("fitted %s", monitor.describe())
    return monitor


def score_frames_with(monitor: AlarmMonitor, frames: Sequence[np.ndarray],
                      checkpoint: str | Path | None = None) -> np.ndarray:
    """Scores of `frames`, each with the context the drive step would give it (the checkpoint's input
    and fp32 prediction; without a checkpoint, the monitor's own preprocessing and no prediction)."""
    if checkpoint is not None:
        model, pre = load_model(checkpoint)
    else:
        model, pre = None, getattr(monitor.scorer, "preprocess", None) or PreprocessConfig()
    scores = []
    for frame in frames:
        x = preprocess_frame(frame, pre)  # (3, H, W)
        steering = math.nan
        if model is not None:
            with torch.inference_mode():
                steering = float(model(x.unsqueeze(0))[0])
        scores.append(monitor.score(frame, ScoreContext(x, steering, pre)))
    return np.array(scores)


def measure_costs(frames: Sequence[np.ndarray], checkpoint: str | Path,
                  monitors: Sequence[AlarmMonitor]) -> dict[str, np.ndarray]:
    """Milliseconds per frame: the checkpoint's fp32 eager inference, and each monitor's score beside it."""
    model, pre = load_model(checkpoint)
    times: dict[str, list[float]] = {"model (torch fp32)": [], **{m.describe().split(",")[0]: [] for m in monitors}}
    for frame in frames:
        x = preprocess_frame(frame, pre)
        start = time.perf_counter()
        with torch.inference_mode():
            steering = float(model(x.unsqueeze(0))[0])
        times["model (torch fp32)"].append((time.perf_counter() - start) * 1000.0)
        ctx = ScoreContext(x, steering, pre)
        for monitor in monitors:
            start = time.perf_counter()
            monitor.score(frame, ctx)
            times[monitor.describe().split(",")[0]].append((time.perf_counter() - start) * 1000.0)
    return {label: np.array(ms[3:] or ms) for label, ms in times.items()}  # the first frames warm up


def _load_all() -> None:
    # here, not at the top: each kind registers itself through this module, which must be loaded first
    from steering.monitors import kinds

    for module in pkgutil.iter_modules(kinds.__path__):
        importlib.import_module(f"{kinds.__name__}.{module.name}")


_load_all()
