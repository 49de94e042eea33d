"""Steering from several views or checkpoints: test-time flip augmentation and checkpoint ensembles.

    model = load_model(["a.pt", "b.pt"], InferenceConfig(tta="flip"))   # an Ensemble
    model = load_model("a.pt", InferenceConfig())                       # a plain Predictor: no overhead
    steering = model.predict(frame_rgb)

`Ensemble` wraps one or more `Predictor`s and is a `SteeringModel` like each of them (prepare,
infer, configure_thread, describe, plus what drive.py, the monitor and the evaluator read:
`choice`, `preprocess`, `predict`, `checkpoint`, `model_name`).

- Ensemble: the steering is the mean of the members' steering. Every member must preprocess frames
  the same way (`Predictor.preprocess`), so a frame is prepared once and each member infers on the
  same tensor; construction fails naming the two files and the fields that differ otherwise.
- `tta="flip"`: each member also steers on the mirrored frame, negated, and the two are averaged:
  (f(x) - f(mirror x)) / 2. The preprocessing crops rows only (top and bottom) and resizes, so
  mirroring the prepared (3, H, W) tensor along its width is mirroring the camera frame
  (tests/test_drive_ensemble.py checks it on real frames); no second preprocessing is needed.

Runtimes take batch 1 (static ONNX/OpenVINO shapes), so the cost is one forward pass per member per
view, run one after the other in the inference thread.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from steering.inference.controls import ConstantSteering, DelayedSteering, build_control, parse_control
from steering.inference.exported import model_suffixes
from steering.inference.predictor import TTA_MODES, InferenceConfig, Predictor
from steering.preprocess import PreprocessConfig

ModelPaths = str | Path | Sequence[str | Path]


def looks_like_model(path: str | Path) -> bool:
    """An existing file, or a name ending in a model suffix (a missing checkpoint must still fail as one)."""
    path = Path(path)
    return path.is_file() or path.suffix.lower() in model_suffixes()


def preprocess_differences(a: PreprocessConfig, b: PreprocessConfig) -> list[str]:
    """`field a vs b` for every PreprocessConfig field that differs."""
    return [f"{f.name} {getattr(a, f.name)!r} vs {getattr(b, f.name)!r}" for f in dataclasses.fields(a)
            if getattr(a, f.name) != getattr(b, f.name)]


def check_same_preprocess(members: Sequence[Predictor]) -> None:
    """Raise ValueError naming the first member whose preprocessing differs from the first one's."""
    first = members[0]
    for other in members[1:]:
        differences = preprocess_differences(first.preprocess, other.preprocess)
        if differences:
            raise ValueError(f"cannot ensemble {first.checkpoint} and {other.checkpoint}: they preprocess frames "
                             f"differently ({', '.join(differences)}); an ensemble prepares each frame once, "
                             f"so every member needs the same preprocessing")


def mirror_width(x: torch.Tensor) -> torch.Tensor:
    """(3, H, W) -> the same mirrored left-right, contiguous.

    numpy, not `x.flip(-1)`: torch splits even this small copy over its intra-op threads, and on a
    busy 2-core machine waiting for the second thread added ~11 ms per frame (one bench.ensemble run);
    the same reason `steering.preprocess.normalize` uses numpy."""
    return torch.from_numpy(np.ascontiguousarray(x.numpy()[..., ::-1]))


class Ensemble:
    """The mean steering of `members` (Predictors), each on the frame and, with tta="flip", its mirror."""

    def __init__(self, members: Sequence[Predictor], tta: str = "none") -> None:
        if not members:
            raise ValueError("an ensemble needs at least one model")
        if tta not in TTA_MODES:
            raise ValueError(f"tta must be one of {', '.join(TTA_MODES)}; got {tta!r}")
        check_same_preprocess(members)
        self.members = list(members)
        self.tta = tta
        self.preprocess = self.members[0].preprocess
        # The monitor's saliency overlay explains one checkpoint: the first member.
        self.checkpoint = self.members[0].checkpoint
        self.checkpoints = [m.checkpoint for m in self.members]
        self.model_name = "+".join(m.model_name for m in self.members)
        self.views = 2 if tta == "flip" else 1

    @property
    def passes(self) -> int:
        """Forward passes per frame."""
        return len(self.members) * self.views

    @property
    def choice(self) -> str:
        """Each member's runtime line (what drive.py prints as `runtime:`)."""
        if len(self.members) == 1:
            return self.members[0].choice
        return " | ".join(f"{m.model_name}: {m.choice}" for m in self.members)

    def describe(self) -> str:
        what = "" if self.tta == "none" else f"tta {self.tta}, "
        head = f"ensemble of {len(self.members)}, " if len(self.members) > 1 else ""
        return (f"{head}{what}{self.passes} forward passes per frame: "
                + "; ".join(m.describe() for m in self.members))

    def configure_thread(self) -> None:
        for member in self.members:
            member.configure_thread()

    def prepare(self, frame: np.ndarray) -> torch.Tensor:
        """Once per frame, for every member (their preprocessing is the same). Raises FrameError."""
        return self.members[0].prepare(frame)

    def infer(self, x: torch.Tensor) -> float:
        """(3, H, W) -> mean steering over members (and views); NaN if any member gives NaN."""
        mirrored = mirror_width(x) if self.tta == "flip" else None
        total = 0.0
        for member in self.members:
            total += member.infer(x)
            if mirrored is not None:
                total -= member.infer(mirrored)  # a mirrored road steers the other way
        return total / self.passes

    def predict(self, frame: np.ndarray) -> float:
        return self.infer(self.prepare(frame))


def model_paths(paths: ModelPaths) -> list[Path]:
    """One path or a sequence of them -> a list of Paths."""
    if isinstance(paths, (str, Path)):
        return [Path(paths)]
    return [Path(p) for p in paths]


def load_model(paths: ModelPaths, config: InferenceConfig | None = None
               ) -> Predictor | Ensemble | ConstantSteering | DelayedSteering:
    """A Predictor for one checkpoint without TTA (no wrapper, no overhead), else an Ensemble; a single
    control spec (`constant:0`, `delayed:6:a.pt`, `steering.inference.controls`) gives that control.

    Raises CheckpointError for a checkpoint that does not load, ValueError for members whose
    preprocessing differs."""
    config = config or InferenceConfig()
    if isinstance(paths, (str, Path)) or len(paths) == 1:
        spec = parse_control(str(paths if isinstance(paths, (str, Path)) else paths[0]))
        if spec is not None:  # the wrapped model of a delayed control loads as any model does
            return build_control(spec, lambda inner: load_model(inner.split("+"), config))
    paths = model_paths(paths)
    if not paths:
        raise ValueError("give at least one checkpoint")
    if len(paths) == 1 and config.tta == "none":
        return Predictor(paths[0], config)
    return Ensemble([Predictor(p, config) for p in paths], config.tta)
