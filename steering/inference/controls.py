"""Control models: steering functions with a known behaviour, spelt like a model file on any command line.

    constant:0            never steers (the car goes straight)
    constant:-0.05        always steers 0.05 left
    delayed:6:run/best.pt the model in run/best.pt, each answer applied 6 frames late

One definition for every instrument: `steering.inference.ensemble.load_model` turns a spec into one of these
models, so the closed loop (`python -m steering.eval evaluate`, through the drive server) and the replay
(`python -m steering.eval replay`) run the very same control. Both ask the model once per camera frame (the
headless simulator's and its recorder's frames are 1/15 s apart), so a delay in frames is the same delay in
time in both; a delay in seconds would need each instrument's clock.

The models answer what drive.py's pipeline asks (`prepare`, `infer`, `configure_thread`, `describe`,
`preprocess`) and what the replay asks (`predict`). Loading the wrapped model is left to the caller (the
loader passes it in), so this module imports no loader.
"""
from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

CONSTANT = re.compile(r"^constant:([-+]?\d*\.?\d+)$")
DELAYED = re.compile(r"^delayed:(\d+):(.+)$")


@dataclass(frozen=True)
class ControlSpec:
    """A parsed spec: `kind` "constant" (steering `value`) or "delayed" (`frames` late, wrapping `inner`)."""

    kind: str
    value: float = 0.0
    frames: int = 0
    inner: str = ""


def parse_control(spec: str) -> ControlSpec | None:
    """The control a spec names, or None for anything else (a model file). Raises ValueError for a constant
    outside [-1, 1], the wire's steering range."""
    text = str(spec).strip()
    match = CONSTANT.match(text)
    if match:
        value = float(match.group(1))
        if not -1.0 <= value <= 1.0:
            raise ValueError(f"{text}: steering must be within [-1, 1]")
        return ControlSpec("constant", value=value)
    match = DELAYED.match(text)
    if match:
        return ControlSpec("delayed", frames=int(match.group(1)), inner=match.group(2))
    return None


def is_control(spec: str) -> bool:
    """True for `constant:V` and `delayed:K:MODEL` (whatever MODEL is: the loader checks it)."""
    return parse_control(spec) is not None


def control_label(spec: str) -> str:
    """A file-name-safe label: `constant_0`, `delayed6_best`."""
    parsed = parse_control(spec)
    if parsed is None:
        raise ValueError(f"{spec!r} is not a control spec")
    if parsed.kind == "constant":
        return f"constant_{parsed.value:g}"
    if is_control(parsed.inner):
        return f"delayed{parsed.frames}_{control_label(parsed.inner)}"
    stem = parsed.inner.split("+")[0].replace("\\", "/").rstrip("/").split("/")[-1].rsplit(".", 1)[0]
    return f"delayed{parsed.frames}_{stem}"


class ConstantSteering:
    """Always answers `value`; prepares nothing (the frame passes through)."""

    preprocess = None  # no preprocessing: a failure monitor has nothing to reuse
    checkpoint = None

    def __init__(self, value: float = 0.0) -> None:
        self.value = float(value)
        self.model_name = f"constant:{self.value:g}"
        self.choice = "control (no model)"

    def prepare(self, frame: np.ndarray) -> np.ndarray:
        return frame

    def infer(self, x: Any) -> float:
        return self.value

    def predict(self, frame: np.ndarray) -> float:
        return self.value

    def configure_thread(self) -> None:
        pass

    def describe(self) -> str:
        return f"control: constant steering {self.value:g}"


class DelayedSteering:
    """`model`'s answer to the frame `frames` frames ago (0 = the model itself); the first answers are 0.

    Each call to `infer`/`predict` is one frame: the model sees the current frame, the car gets what the model
    said `frames` frames earlier, as if the command took that long to reach the wheels."""

    def __init__(self, model: Any, frames: int) -> None:
        if frames < 0:
            raise ValueError(f"a delay is 0 or more frames, got {frames}")
        self.model, self.frames = model, int(frames)
        self.preprocess = getattr(model, "preprocess", None)
        self.checkpoint = getattr(model, "checkpoint", None)
        self.model_name = f"delayed:{self.frames}:{getattr(model, 'model_name', 'model')}"
        self.choice = getattr(model, "choice", "")
        self._queue: deque[float] = deque([0.0] * self.frames)

    def reset(self) -> None:
        """Forget the answers still in flight (a new drive starts with a straight wheel)."""
        self._queue = deque([0.0] * self.frames)

    def _delay(self, steering: float) -> float:
        self._queue.append(float(steering))
        return self._queue.popleft()

    def prepare(self, frame: np.ndarray) -> Any:
        return self.model.prepare(frame)

    def infer(self, x: Any) -> float:
        return self._delay(self.model.infer(x))

    def predict(self, frame: np.ndarray) -> float:
        return self._delay(self.model.predict(frame))

    def configure_thread(self) -> None:
        self.model.configure_thread()

    def describe(self) -> str:
        return f"control: {self.frames} frames late: {self.model.describe()}"


def build_control(spec: ControlSpec, load: Callable[[str], Any]) -> ConstantSteering | DelayedSteering:
    """The model of a parsed spec; `load(inner)` loads the wrapped model of a delayed one."""
    if spec.kind == "constant":
        return ConstantSteering(spec.value)
    return DelayedSteering(load(spec.inner), spec.frames)
