"""What one drive of the simulator produced: the commands the car applied and the steps it took.

The wire client (`steering.sim.client`) and the evaluator's local pilot both produce a
`DriveResult`; the evaluator (`steering.eval`) scores it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from steering.sim.world import StepInfo


@dataclass(frozen=True)
class Command:
    """A control reply as the car applies it (after culture parsing and clamping)."""

    steering: float  # [-1, 1], positive = right
    throttle: float  # [-1, 1], negative = brake
    kind: str = "steer"  # "steer" or "manual"
    raw: tuple[str, str] = ("", "")  # the strings that arrived


@dataclass
class DriveResult:
    """What happened on the wire and on the track."""

    steps: list[StepInfo] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    telemetry_sent: int = 0
    opening_telemetry: int = 0  # telemetry sent before the first reply: 2 with double_open
    steers_received: int = 0
    manual_received: int = 0
    max_in_flight: int = (
        0  # most telemetry awaiting a reply at once (a server-sent steer on connect adds a chain unseen here)
    )
    pings_sent: int = 0
    pongs_received: int = 0
    parse_errors: int = 0  # replies the simulator's culture could not read (the chain ends there)
    round_trip_s: list[float] = field(default_factory=list)  # wall time from the newest telemetry to each applied reply
    wall_s: float = 0.0
    stop_reason: str = ""
