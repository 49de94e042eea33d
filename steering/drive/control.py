"""Steering and throttle for the drive server: model output + reported speed -> command.

Parts in donkeycar's sense: `run(...)` returns the command, `reset()` forgets everything learned
from the previous connection (integrator, smoothing state, last good steering), `safe_command()`
answers a bad frame and `shutdown()` leaves the car straight with no throttle. Units: steering in
[-1, 1] (the simulator multiplies by `steering.udacity.MAX_STEER_DEG`, positive steers right),
throttle in [-1, 1] (negative brakes), speed in mph.

The model and the protocol live elsewhere (`steering.inference.predictor`, `steering.drive.udacity.protocol`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from steering.cli import option

ON_ALARM = ("none", "slow", "stop")
STOPPED_MPH = 0.5  # --on-alarm stop brakes until the car reports less than this


@dataclass(frozen=True)
class ControlConfig:
    """Gains and limits of the speed and steering controllers."""

    # mph; the car tops out at 30. 9 (the classic default) is safe but slow
    target_speed: float = option(12.0, flag="speed", help="target speed in mph for the PI throttle controller "
                                                          "(the car's top speed is 30)")
    # upper throttle limit; PI output beyond it is clipped (with anti-windup)
    max_throttle: float = option(0.6, help="upper throttle limit in (0, 1]")
    max_brake: float = 1.0  # lower limit is -max_brake (negative throttle brakes)
    kp: float = 0.1  # the classic Udacity drive.py gains, tuned for the simulator's car
    ki: float = 0.002
    turn_slowdown: float = option(0.0, help="slow down in sharp turns: target speed x (1 - k*|steering|), "
                                            "k in [0, 1); 0 = off")
    smooth: float = option(0.0, help="steering smoothing in [0, 1): weight of the previous command; 0 = off")
    on_alarm: str = option("none", choices=ON_ALARM,
                           help="while the failure monitor's alarm (--alarm) is raised: slow = target speed x "
                                "--alarm-slow, stop = brake to a standstill, none = only report it")
    alarm_slow: float = option(0.5, help="--on-alarm slow: the share of the target speed kept, in [0, 1)")

    def __post_init__(self) -> None:
        if not 0.0 <= self.smooth < 1.0:
            raise ValueError(f"smooth must be in [0, 1), got {self.smooth}")
        if not 0.0 <= self.turn_slowdown < 1.0:
            raise ValueError(f"turn_slowdown must be in [0, 1), got {self.turn_slowdown}")
        if not 0.0 < self.max_throttle <= 1.0:
            raise ValueError(f"max_throttle must be in (0, 1], got {self.max_throttle}")
        if not 0.0 <= self.max_brake <= 1.0:
            raise ValueError(f"max_brake must be in [0, 1], got {self.max_brake}")
        if self.on_alarm not in ON_ALARM:
            raise ValueError(f"on_alarm must be one of {', '.join(ON_ALARM)}, got {self.on_alarm!r}")
        if not 0.0 <= self.alarm_slow < 1.0:
            raise ValueError(f"alarm_slow must be in [0, 1), got {self.alarm_slow}")
        if self.target_speed < 0:
            raise ValueError(f"target_speed must be >= 0 mph, got {self.target_speed}")


class SpeedController:
    """PI controller on speed (one update per telemetry frame, like the classic drive.py)."""

    def __init__(self, kp: float, ki: float, max_throttle: float, max_brake: float) -> None:
        self.kp, self.ki = kp, ki
        self.max_throttle, self.max_brake = max_throttle, max_brake
        self.integral = 0.0

    def reset(self) -> None:
        self.integral = 0.0

    def run(self, speed: float, target_speed: float) -> float:
        """Throttle in [-max_brake, max_throttle] that drives `speed` towards `target_speed`."""
        error = target_speed - speed
        integral = self.integral + error
        throttle = self.kp * error + self.ki * integral
        clipped = min(max(throttle, -self.max_brake), self.max_throttle)
        # Anti-windup: integrate only while the output is not saturated in the error's direction,
        # otherwise a long climb at full throttle would overshoot for seconds afterwards.
        if clipped == throttle or (throttle > clipped) != (error > 0):
            self.integral = integral
        return clipped


class SteeringFilter:
    """Clip to [-1, 1] and optionally smooth exponentially: s = a * s_prev + (1 - a) * s_model."""

    def __init__(self, smooth: float = 0.0) -> None:
        self.smooth = smooth
        self.previous: float | None = None

    def reset(self) -> None:
        self.previous = None

    def run(self, steering: float) -> float:
        steering = min(max(steering, -1.0), 1.0)
        if self.previous is not None and self.smooth > 0.0:
            steering = self.smooth * self.previous + (1.0 - self.smooth) * steering
        self.previous = steering
        return steering


class Controller:
    """Model steering + reported speed -> (steering, throttle), with a safe fallback.

    One Controller per simulator connection; the server calls `reset()` when a connection opens so
    a reconnecting simulator never inherits an integrator wound up by the previous run.
    """

    def __init__(self, config: ControlConfig | None = None) -> None:
        self.config = config or ControlConfig()
        c = self.config
        self.speed = SpeedController(c.kp, c.ki, c.max_throttle, c.max_brake)
        self.steering = SteeringFilter(c.smooth)
        self.last_steering = 0.0  # last command built from a good frame; the safe command keeps it

    def reset(self) -> None:
        self.speed.reset()
        self.steering.reset()
        self.last_steering = 0.0

    def target_speed(self, steering: float, alarm: bool = False) -> float:
        target = self.config.target_speed * (1.0 - self.config.turn_slowdown * abs(steering))
        return target * self.config.alarm_slow if alarm and self.config.on_alarm == "slow" else target

    def run(self, model_steering: float, speed: float, alarm: bool = False) -> tuple[float, float]:
        """(steering in [-1, 1], throttle in [-max_brake, max_throttle]). Non-finite input -> safe.

        `alarm`: a failure monitor's alarm is raised for this frame; `on_alarm` says what it changes
        (steering never: the model still steers while the car slows or stops).
        """
        if not (math.isfinite(model_steering) and math.isfinite(speed)):
            return self.safe_command()
        steering = self.steering.run(model_steering)
        self.last_steering = steering
        if alarm and self.config.on_alarm == "stop":
            # Full brake, not a PI towards 0 mph: the point is to stop before the predicted failure.
            return steering, (-self.config.max_brake if speed > STOPPED_MPH else 0.0)
        throttle = self.speed.run(speed, self.target_speed(steering, alarm))
        return steering, throttle

    def safe_command(self) -> tuple[float, float]:
        """The answer to a bad frame: keep the last good steering (a sudden centring can leave the
        road in a curve) and cut the throttle; the car coasts and the next good frame takes over."""
        return self.last_steering, 0.0

    def shutdown(self) -> tuple[float, float]:
        """The command sent when the server stops: wheels straight, no throttle."""
        self.reset()
        return 0.0, 0.0
