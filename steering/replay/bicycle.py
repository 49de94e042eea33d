"""The replayed car: a kinematic bicycle model about the rear axle, with the Unity car's lock and wheelbase.

heading' = v tan(delta) / L, position' = v (cos heading, sin heading), integrated exactly for a constant
speed and wheel angle over a step (an arc of radius L / tan(delta), a straight line for delta = 0). The
steering command is the simulator's: [-1, 1] times `MAX_STEER_DEG`, positive steers right (clockwise).
The reference path and the model's car are integrated by the same function, so a model that repeats the
recorded steering stays exactly on the reference (tests/test_replay_loop.py) whatever the tyres did in Unity.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from steering.udacity import MAX_STEER_DEG, WHEELBASE_M

Pose = tuple[float, float, float]  # x m, y m, heading rad CCW from +x


@dataclass(frozen=True)
class Bicycle:
    wheelbase_m: float = WHEELBASE_M
    max_steer_deg: float = MAX_STEER_DEG

    def wheel_angle(self, steering: float) -> float:
        """Front wheel angle in radians, CCW positive, for a command in [-1, 1] (clipped; positive = right)."""
        return -math.radians(min(1.0, max(-1.0, float(steering))) * self.max_steer_deg)

    def advance(self, pose: Pose, speed_mps: float, steering: float, dt: float) -> Pose:
        """The pose after `dt` seconds at `speed_mps` with `steering` held."""
        x, y, heading = pose
        distance = speed_mps * dt
        curvature = math.tan(self.wheel_angle(steering)) / self.wheelbase_m  # 1/m, CCW positive
        turn = distance * curvature
        if abs(turn) < 1e-9:  # straight: the arc formula divides by the curvature
            return x + distance * math.cos(heading), y + distance * math.sin(heading), heading
        new_heading = heading + turn
        x += (math.sin(new_heading) - math.sin(heading)) / curvature
        y += (math.cos(heading) - math.cos(new_heading)) / curvature
        return x, y, math.remainder(new_heading, math.tau)
