"""The expert driver that records training laps: pure pursuit on the centre line, smooth speed control,
and injected recovery manoeuvres.

A person recording training data drives the centre line and, now and then, lets the car drift towards
an edge and steers it back; only the steering back is useful to learn (the drift itself teaches
leaving the road). The expert does the same in three phases:

- ``follow``: pure pursuit (Coulter, CMU-RI-TR-92-01) on the centre line. Lookahead grows with speed.
- ``drift``: a gentle pursuit of a line offset towards a random edge, until |CTE| reaches
  `drift_fraction` of half the road width. The recorder leaves these frames out by default.
- ``recover``: a sharper pursuit (short lookahead) back to the centre line, until the car is
  near the centre and parallel to it; then ``follow`` again for a random interval.

Speed: the target speed is the cruise speed, lowered so that lateral acceleration on the sharpest
curve in the next couple of seconds stays under `max_lateral_accel`; throttle is a smoothed
proportional controller on it (negative throttle brakes, as on the wire).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from steering.sim.car import MPH
from steering.sim.world import World

PHASES = ("follow", "drift", "recover")


@dataclass(frozen=True)
class ExpertConfig:
    """Driving style; the defaults keep every built-in track's |CTE| well inside the road."""

    cruise_speed_mph: float = 20.0
    max_lateral_accel_mps2: float = 2.5
    lookahead_m: float = 5.0  # at standstill
    lookahead_s: float = 0.5  # extra lookahead per m/s of speed
    speed_gain: float = 0.4  # throttle per m/s of speed error
    throttle_smoothing: float = 0.3  # fraction of the new throttle taken each step (1 = no smoothing)
    recoveries: bool = True
    follow_interval_s: tuple[float, float] = (4.0, 9.0)  # time on the centre line between manoeuvres
    drift_fraction: float = 0.6  # drift until |CTE| reaches this fraction of half the road width
    drift_lookahead_factor: float = 1.6  # longer lookahead while drifting = a slow, human-like drift
    recover_lookahead_factor: float = 0.6  # shorter lookahead while recovering = a decisive correction
    recover_done_m: float = 0.3  # back to `follow` once |CTE| is below this ...
    recover_done_deg: float = 3.0  # ... and the heading error below this
    seed: int = 0  # picks drift sides and intervals


@dataclass(frozen=True)
class ExpertCommand:
    steering: float  # [-1, 1], positive = right
    throttle: float  # [-1, 1], negative = brake
    phase: str  # one of PHASES

    @property
    def brake(self) -> float:
        return max(0.0, -self.throttle)


class Expert:
    """A part: `run(world)` returns the command for the current state; `shutdown()` returns a safe one."""

    def __init__(self, config: ExpertConfig | None = None) -> None:
        self.config = config or ExpertConfig()
        self.reset()

    def reset(self) -> None:
        self._rng = np.random.default_rng(self.config.seed)
        self.phase = "follow"
        self._side = 1.0
        self._throttle = 0.0
        self._next_drift_s = self._draw_interval()
        self._time_s = 0.0

    def _draw_interval(self) -> float:
        low, high = self.config.follow_interval_s
        return float(self._rng.uniform(low, high))

    def run(self, world: World) -> ExpertCommand:
        cfg = self.config
        self._time_s = world.time_s
        self._update_phase(world)
        speed = world.car.state.speed
        lookahead = cfg.lookahead_m + cfg.lookahead_s * speed
        offset = 0.0
        if self.phase == "drift":
            lookahead *= cfg.drift_lookahead_factor
            offset = self._side * world.track.half_width_m  # aim at the edge; the phase ends well before it
        elif self.phase == "recover":
            lookahead *= cfg.recover_lookahead_factor
        steering = self._pursue(world, lookahead, offset)
        throttle = self._speed_control(world)
        return ExpertCommand(steering=steering, throttle=throttle, phase=self.phase)

    def shutdown(self) -> ExpertCommand:
        """Straight wheels and full brake: what leaves the car safe."""
        return ExpertCommand(steering=0.0, throttle=-1.0, phase="follow")

    def _update_phase(self, world: World) -> None:
        cfg = self.config
        if not cfg.recoveries:
            self.phase = "follow"
            return
        cte = world.cte_m
        if self.phase == "follow" and self._time_s >= self._next_drift_s and world.car.state.speed > 3.0:
            self.phase = "drift"
            self._side = 1.0 if self._rng.random() < 0.5 else -1.0
        elif self.phase == "drift" and self._side * cte >= cfg.drift_fraction * world.track.half_width_m:
            self.phase = "recover"
        elif (self.phase == "recover" and abs(cte) < cfg.recover_done_m
              and abs(math.degrees(world.heading_error)) < cfg.recover_done_deg):
            self.phase = "follow"
            self._next_drift_s = self._time_s + self._draw_interval()

    def _pursue(self, world: World, lookahead: float, offset: float) -> float:
        """Pure pursuit from the rear axle towards the point `lookahead` ahead, `offset` right of centre."""
        car, st = world.car.config, world.car.state
        tx, ty, _ = world.track.pose_at(world.progress_m + lookahead, offset)
        rear_x = st.x - car.cg_to_rear_m * math.cos(st.heading)
        rear_y = st.y - car.cg_to_rear_m * math.sin(st.heading)
        dx, dy = tx - rear_x, ty - rear_y
        ahead = dx * math.cos(st.heading) + dy * math.sin(st.heading)
        left = -dx * math.sin(st.heading) + dy * math.cos(st.heading)
        curvature = 2.0 * left / max(ahead**2 + left**2, 1e-6)  # positive = turn left
        wheel_left_deg = math.degrees(math.atan(car.wheelbase_m * curvature))
        return float(np.clip(-wheel_left_deg / car.max_steer_deg, -1.0, 1.0))

    def _speed_control(self, world: World) -> float:
        cfg = self.config
        speed = world.car.state.speed
        horizon_m = 10.0 + 2.0 * speed
        curvature = max(world.track.max_curvature_ahead(world.progress_m, horizon_m), 1e-6)
        target = min(cfg.cruise_speed_mph * MPH, math.sqrt(cfg.max_lateral_accel_mps2 / curvature))
        if self.phase == "recover":
            target *= 0.85
        wanted = float(np.clip(cfg.speed_gain * (target - speed), -1.0, 1.0))
        self._throttle += cfg.throttle_smoothing * (wanted - self._throttle)
        return round(self._throttle, 6)
