"""Scoring a drive as NVIDIA's PilotNet paper does (arXiv 1604.07316, section 7.2).

An intervention whenever the car leaves the road (|CTE| > half the road width) or stops making
progress for a few seconds, each costing 6 s; autonomy = (1 - interventions * 6 s / elapsed s) * 100.
Small pure functions and one part (`InterventionDetector`), so they can be checked against
hand-computed cases.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from steering.sim.world import StepInfo

PENALTY_S = 6.0  # PilotNet paper: "each intervention ... 6 seconds" of human driving


@dataclass(frozen=True)
class InterventionConfig:
    """When a safety driver would take over, and how the car is handed back."""

    off_road_margin_m: float = (
        0.0  # intervene once |CTE| > half road width + margin (0: the car's centre leaves the road)
    )
    stall_s: float = 4.0  # "stops making progress for a few seconds": no new ground for this long ...
    min_progress_m: float = 1.0  # ... where new ground means beating the best distance along the track by this much
    penalty_s: float = PENALTY_S
    reset_speed_mph: float = 0.0  # the car is handed back standing on the centre line


@dataclass(frozen=True)
class Intervention:
    """One take-over: where and why."""

    step: int  # index into the drive's steps
    time_s: float  # simulated time
    x: float
    y: float
    cte_m: float
    progress_m: float
    reason: str  # "off_road" or "no_progress"


def autonomy_percent(interventions: int, elapsed_s: float, penalty_s: float = PENALTY_S) -> float:
    """PilotNet's autonomy: (1 - interventions * penalty_s / elapsed_s) * 100, floored at 0.

    The floor keeps a hopeless drive (more penalty than driving time) at 0 % instead of a negative
    number the paper never defines. Raises ValueError for a drive without time."""
    if elapsed_s <= 0:
        raise ValueError(f"autonomy needs a positive elapsed time, got {elapsed_s} s (did the drive take any step?)")
    if interventions < 0:
        raise ValueError(f"interventions must be >= 0, got {interventions}")
    return max(0.0, (1.0 - interventions * penalty_s / elapsed_s) * 100.0)


def steering_smoothness(steering: Sequence[float]) -> float:
    """Mean |steering[i+1] - steering[i]| (normalised units per step); 0 for fewer than two commands."""
    values = np.asarray(steering, dtype=np.float64)
    return float(np.abs(np.diff(values)).mean()) if len(values) > 1 else 0.0


class InterventionDetector:
    """A part: `run(step, info)` returns an `Intervention` when a safety driver would take over.

    Leaving the road triggers once per excursion (on the step the car crosses the edge), so a
    recorded trajectory that stays off the road for a while counts one intervention, as does a live
    drive where the evaluator resets the car at once. No progress: the best distance along the track
    has not grown by `min_progress_m` for `stall_s` (stopped, circling or driving backwards). After
    any intervention (or `handed_back`) the stall clock starts again. `half_width_at(progress_m)`, when
    given, is the road's half width where the car is (tracks with narrow sections); else `half_width_m`."""

    def __init__(self, half_width_m: float, config: InterventionConfig | None = None,
                 half_width_at: Callable[[float], float] | None = None) -> None:
        self.half_width_m = half_width_m
        self.half_width_at = half_width_at
        self.config = config or InterventionConfig()
        self.reset()

    def reset(self) -> None:
        self._was_off = False
        self._best_m: float | None = None
        self._best_time_s = 0.0

    def handed_back(self, time_s: float, distance_along_m: float) -> None:
        """The car was put back on the road at `time_s`: it is on the road and gets a fresh stall clock."""
        self._was_off = False
        self._best_m, self._best_time_s = distance_along_m, time_s

    def run(self, step: int, info: StepInfo) -> Intervention | None:
        cfg = self.config
        if self._best_m is None:
            self._best_m, self._best_time_s = info.distance_along_m, info.time_s
        half = self.half_width_m if self.half_width_at is None else self.half_width_at(info.progress_m)
        off = abs(info.cte_m) > half + cfg.off_road_margin_m
        reason = ""
        if off and not self._was_off:
            reason = "off_road"
        self._was_off = off
        if info.distance_along_m >= self._best_m + cfg.min_progress_m:
            self._best_m, self._best_time_s = info.distance_along_m, info.time_s
        elif not reason and info.time_s - self._best_time_s >= cfg.stall_s - 1e-9:
            reason = "no_progress"
        if not reason:
            return None
        self._best_m, self._best_time_s = max(self._best_m, info.distance_along_m), info.time_s
        return Intervention(step, info.time_s, info.x, info.y, info.cte_m, info.progress_m, reason)


def detect_interventions(steps: Iterable[StepInfo], half_width_m: float,
                         config: InterventionConfig | None = None) -> list[Intervention]:
    """Interventions a safety driver would make along a recorded trajectory (nothing is reset)."""
    detector = InterventionDetector(half_width_m, config)
    return [iv for i, info in enumerate(steps) if (iv := detector.run(i, info)) is not None]



def mean_speed_mph(steps: Sequence[StepInfo]) -> float:
    return float(np.mean([s.speed_mph for s in steps])) if steps else 0.0


def abs_cte_stats(steps: Sequence[StepInfo]) -> tuple[float, float]:
    """(mean, max) |CTE| in metres over the steps; (nan, nan) without steps."""
    if not steps:
        return math.nan, math.nan
    values = np.abs([s.cte_m for s in steps])
    return float(values.mean()), float(values.max())
