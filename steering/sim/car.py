"""The car: a kinematic bicycle model with the Unity car's limits.

Inputs are the simulator's: `steering` in [-1, 1] (x `MAX_STEER_DEG` at the front wheels, **positive = right**,
as in the Udacity simulator) and `throttle` in [-1, 1] where a negative throttle brakes (the simulator's
`steer` message works this way). Speeds are m/s inside, mph on the wire and in logs (`speed_mph`).

The model is the centre-of-gravity kinematic bicycle (Rajamani, "Vehicle Dynamics and Control", 2.2):
slip angle beta = atan(l_r / L * tan(delta)), x' = v cos(psi + beta), y' = v sin(psi + beta),
psi' = v / l_r * sin(beta). It ignores tyre slip, which is fine at the simulator's speeds.
Where the car is relative to the track is `world.py`'s job.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from steering.udacity import MAX_STEER_DEG, TOP_SPEED_MPH

MPH = 0.44704  # metres per second in one mile per hour


@dataclass(frozen=True)
class CarConfig:
    """Physical limits; defaults follow the Unity car (25 degree steering lock, 30 mph top speed)."""

    wheelbase_m: float = 2.6
    cg_to_rear_m: float = 1.3
    max_steer_deg: float = MAX_STEER_DEG  # normalised steering [-1, 1] times this is the wheel angle
    top_speed_mph: float = TOP_SPEED_MPH
    max_accel_mps2: float = 4.0  # at full throttle from standstill
    max_brake_mps2: float = 8.0  # at full brake
    drag_per_m: float = 0.004  # quadratic air drag, (m/s^2) per (m/s)^2
    rolling_mps2: float = 0.15  # rolling resistance: the car coasts to a stop with no throttle
    steer_rate_per_s: float = (
        6.0  # normalised steering units per second the wheels can turn (6 = lock to lock in 1/3 s)
    )

    @property
    def top_speed_mps(self) -> float:
        return self.top_speed_mph * MPH


@dataclass
class CarState:
    """Pose and motion. x, y in metres (world frame), heading radians CCW from +x, speed m/s >= 0."""

    x: float = 0.0
    y: float = 0.0
    heading: float = 0.0
    speed: float = 0.0
    steering: float = 0.0  # actual wheel position, normalised [-1, 1], positive = right
    throttle: float = 0.0  # last throttle input in [0, 1]
    brake: float = 0.0  # last brake input in [0, 1]

    @property
    def speed_mph(self) -> float:
        return self.speed / MPH



class Car:
    """Integrates the bicycle model. `step` is deterministic: same inputs, same trajectory."""

    def __init__(self, config: CarConfig | None = None, state: CarState | None = None) -> None:
        self.config = config or CarConfig()
        self.state = state or CarState()

    def place(self, x: float, y: float, heading: float, speed: float = 0.0) -> None:
        """Teleport the car (resets controls), e.g. to the start line or after an intervention."""
        self.state = CarState(x=x, y=y, heading=heading, speed=max(0.0, speed))

    def step(self, steering: float, throttle: float, dt: float) -> CarState:
        """Advance `dt` seconds with `steering` in [-1, 1] and `throttle` in [-1, 1] (negative = brake)."""
        cfg, st = self.config, self.state
        steering = min(1.0, max(-1.0, float(steering)))
        throttle = min(1.0, max(-1.0, float(throttle)))
        max_change = cfg.steer_rate_per_s * dt
        st.steering += min(max_change, max(-max_change, steering - st.steering))
        st.throttle, st.brake = max(0.0, throttle), max(0.0, -throttle)

        accel = st.throttle * cfg.max_accel_mps2 - cfg.drag_per_m * st.speed**2
        decel = st.brake * cfg.max_brake_mps2 + (cfg.rolling_mps2 if st.speed > 0 else 0.0)
        speed = st.speed + (accel - decel) * dt
        speed = min(cfg.top_speed_mps, max(0.0, speed))
        mean_speed = 0.5 * (st.speed + speed)

        # Positive steering turns right, i.e. clockwise: the wheel angle is negated in the CCW frame.
        delta = -math.radians(st.steering * cfg.max_steer_deg)
        beta = math.atan(cfg.cg_to_rear_m / cfg.wheelbase_m * math.tan(delta))
        heading_mid = st.heading + 0.5 * mean_speed / cfg.cg_to_rear_m * math.sin(beta) * dt  # midpoint rule
        st.x += mean_speed * math.cos(heading_mid + beta) * dt
        st.y += mean_speed * math.sin(heading_mid + beta) * dt
        st.heading = math.remainder(st.heading + mean_speed / cfg.cg_to_rear_m * math.sin(beta) * dt, math.tau)
        st.speed = speed
        return st
