"""The perturbations a camera frame can be put through, behind one registry you can print.

Each kind is one module of this package that calls `register(...)` at import: `imagenet_c.py` (the
ImageNet-C corruptions, image space), `distance_fog.py`, `night.py`, `rain.py` and `sun_glare.py`
(drawn with the renderer's depth, so only the simulator can apply them). Adding a perturbation is one
new file here and its test.

A `Perturbation` turns one uint8 (H, W, 3) RGB frame into another at a severity 1-5 (5 = worst). All
randomness comes from `FrameContext.rng`, a generator the caller seeds per frame and camera, so a frame
is the same for the same seed; `FrameContext.seed` is the drive's seed, for what stays fixed over a
drive (where the sun is). Parsing `NAME:SEV` lists and schedules lives in `plan.py`.
"""
from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

SEVERITIES = (1, 2, 3, 4, 5)


class PerturbError(ValueError):
    """A perturbation name, severity or schedule that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Scene:
    """What the renderer knows about one frame beyond its pixels (`steering.sim.render.Renderer.scene`)."""

    depth_m: np.ndarray  # float32 (H, W): distance from the camera along the ground; 0 = own car, inf = sky
    horizon_row: int  # first image row that looks down at the ground
    focal_px: float  # pinhole focal length in pixels
    pitch_deg: float  # camera pitched this far down
    heading: float  # car heading, radians, counter-clockwise from the world's x axis


@dataclass(frozen=True)
class FrameContext:
    """Per-frame inputs of a perturbation besides the frame."""

    rng: np.random.Generator  # this frame's randomness (seeded by the caller)
    seed: int = 0  # the drive's seed: fixed choices over a whole drive
    scene: Scene | None = None  # None outside the simulator: renderer effects refuse to run


@dataclass(frozen=True)
class Perturbation:
    """One named perturbation: `apply(frame, severity, context) -> frame` (uint8 RGB in, uint8 RGB out)."""

    name: str
    kind: str  # "imagenet-c" (image space) or "render" (needs the renderer's Scene)
    help: str
    apply_fn: Callable[[np.ndarray, int, FrameContext], np.ndarray]
    source: str = ""  # which implementation: e.g. "albumentations.GlassBlur", "numpy"

    @property
    def needs_scene(self) -> bool:
        return self.kind == "render"

    def apply(self, frame: np.ndarray, severity: int, context: FrameContext) -> np.ndarray:
        check_severity(self.name, severity)
        if self.needs_scene and context.scene is None:
            raise PerturbError(f"{self.name} is drawn by the simulator's renderer (it needs depth); "
                               "it cannot be applied to a frame on its own")
        return self.apply_fn(frame, severity, context)


_REGISTRY: dict[str, Perturbation] = {}
_LOADED: list[bool] = []  # non-empty once every module of the package was imported


def register(perturbation: Perturbation) -> Perturbation:
    if perturbation.name in _REGISTRY:
        raise ValueError(f"perturbation {perturbation.name!r} registered twice")
    _REGISTRY[perturbation.name] = perturbation
    return perturbation


def _load_all() -> None:
    """Import every module of this package once: each registers its perturbations."""
    if _LOADED:
        return
    _LOADED.append(True)
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if module.name not in ("registry", "plan", "splits"):
            importlib.import_module(f"{__package__}.{module.name}")


def list_perturbations(kind: str | None = None) -> list[str]:
    """Every registered name (sorted), or those of one `kind` ("imagenet-c", "render")."""
    _load_all()
    return sorted(n for n, p in _REGISTRY.items() if kind is None or p.kind == kind)


def get_perturbation(name: str) -> Perturbation:
    """The perturbation called `name`; an unknown name raises PerturbError naming the close matches."""
    _load_all()
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise PerturbError(f"unknown perturbation {name!r}{hint} (`--perturb list` shows all {len(_REGISTRY)})")
    return _REGISTRY[name]


def blend(frame: np.ndarray, other: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """uint8 `frame * (1 - alpha) + other * alpha` with `alpha` float32 (H, W) in [0, 1]: one OpenCV pass
    (cv2.blendLinear normalises by the weights' sum, here always 1), several times faster than numpy's."""
    return cv2.blendLinear(frame, other, 1 - alpha, alpha)


def check_severity(name: str, severity: int) -> None:
    if severity not in SEVERITIES:
        raise PerturbError(f"{name}: severity must be one of 1-5, got {severity!r}")


def describe() -> str:
    """The table `--perturb list` prints: name, kind, implementation, one line of help."""
    _load_all()
    lines = []
    for name in list_perturbations():
        p = _REGISTRY[name]
        lines.append(f"{name:18s} {p.kind:10s} {p.help}" + (f" [{p.source}]" if p.source else ""))
    return "\n".join(lines)
