"""Which perturbations a drive applies where: `--perturb NAME:SEV[,...]` and `--perturb-schedule`.

    --perturb gaussian_noise:2,night:3            the whole drive, in this order
    --perturb-schedule distance_fog:4@200-350     from 200 m to 350 m of distance driven (lap after lap)
    --perturb-schedule rain:2@0-500,rain:5@500-   light rain for 500 m, then heavy rain to the end

Distances are metres driven along the centre line since the start (`World.distance_along_m`: a second
lap of a 1,000 m track is 1,000-2,000 m), a range is `FROM-TO` (TO excluded) or `FROM-` (to the end).
Both options add up: a frame gets every condition active at its distance, renderer effects first
(they need the clean frame's depth), then image corruptions, each in the order given.

`PerturbPlan.apply` draws each frame's randomness from `numpy.random.default_rng([seed, frame, camera,
name])`, so a drive with the same seed sees the same frames, and two cameras or two perturbations never
share noise.
"""
from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass

import numpy as np

from steering.perturb.registry import FrameContext, PerturbError, Scene, check_severity, get_perturbation

_ENTRY = re.compile(r"^(?P<name>[A-Za-z_][\w]*):(?P<sev>[^@]+?)(?:@(?P<from>[^-]*)-(?P<to>.*))?$")


@dataclass(frozen=True)
class Condition:
    """One perturbation at one severity, over distances [from_m, to_m) driven."""

    name: str
    severity: int
    from_m: float = 0.0
    to_m: float = math.inf

    def active(self, distance_m: float) -> bool:
        return self.from_m <= distance_m < self.to_m

    def __str__(self) -> str:
        if self.from_m == 0 and math.isinf(self.to_m):
            return f"{self.name}:{self.severity}"
        return f"{self.name}:{self.severity}@{self.from_m:g}-" + ("" if math.isinf(self.to_m) else f"{self.to_m:g}")


def _parse(text: str, scheduled: bool) -> tuple[Condition, ...]:
    option = "--perturb-schedule" if scheduled else "--perturb"
    conditions = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        match = _ENTRY.match(entry)
        if match is None or (scheduled and match["from"] is None):
            shape = "NAME:SEV@FROM-TO (metres driven, TO may be empty)" if scheduled else "NAME:SEV"
            raise PerturbError(f"{option}: {entry!r} is not {shape}, e.g. "
                               + ("distance_fog:4@200-350" if scheduled else "gaussian_noise:3"))
        if match["from"] is not None and not scheduled:
            raise PerturbError(f"--perturb: {entry!r} has a range; ranges go in --perturb-schedule")
        name = match["name"]
        get_perturbation(name)  # an unknown name fails here, with close matches
        try:
            severity = int(match["sev"])
        except ValueError:
            raise PerturbError(f"{option}: {entry!r}: severity must be an integer 1-5") from None
        check_severity(name, severity)
        from_m, to_m = 0.0, math.inf
        if scheduled:
            try:
                from_m = float(match["from"])
                to_m = float(match["to"]) if match["to"].strip() else math.inf
            except ValueError:
                raise PerturbError(f"{option}: {entry!r}: the range must be metres, FROM-TO or FROM-") from None
            if not 0 <= from_m < to_m:
                raise PerturbError(f"{option}: {entry!r}: the range must satisfy 0 <= FROM < TO")
        conditions.append(Condition(name, severity, from_m, to_m))
    return tuple(conditions)


@dataclass(frozen=True)
class PerturbPlan:
    """The conditions of one drive; empty = clean frames."""

    conditions: tuple[Condition, ...] = ()

    @classmethod
    def parse(cls, perturb: str = "", schedule: str = "") -> PerturbPlan:
        """From the `--perturb` and `--perturb-schedule` texts; raises PerturbError naming the bad entry."""
        return cls(_parse(perturb or "", False) + _parse(schedule or "", True))

    def __bool__(self) -> bool:
        return bool(self.conditions)

    def __str__(self) -> str:
        return ",".join(map(str, self.conditions)) or "none"

    def active(self, distance_m: float) -> list[Condition]:
        """Conditions in force at `distance_m`: renderer effects first, then image corruptions, each as given."""
        on = [c for c in self.conditions if c.active(distance_m)]
        return sorted(on, key=lambda c: not get_perturbation(c.name).needs_scene)  # stable: keeps the given order

    def needs_scene(self, distance_m: float) -> bool:
        return any(get_perturbation(c.name).needs_scene for c in self.active(distance_m))

    def apply(self, frame: np.ndarray, distance_m: float, frame_index: int, camera_index: int = 0, seed: int = 0,
              scene: Scene | None = None) -> np.ndarray:
        """`frame` (uint8 (H, W, 3) RGB) under every condition active at `distance_m`; the input is not changed."""
        for condition in self.active(distance_m):
            rng = np.random.default_rng([seed, frame_index, camera_index, zlib.crc32(condition.name.encode())])
            context = FrameContext(rng=rng, seed=seed, scene=scene)
            frame = get_perturbation(condition.name).apply(frame, condition.severity, context)
        return frame
