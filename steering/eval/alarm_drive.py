"""The drives behind `python -m steering.eval misbehaviour`: each leg once through the real drive server.

A leg is one track, nominal (clean frames) or failing (held out, and under the command's `--perturb`
conditions when it has any). `drive_legs` drives every leg once, in lock step unless the config says
otherwise, and keeps each answered frame's JPEG for the monitors to score afterwards (the watching drive:
no monitor in the server, so nothing acts on an alarm). With `alarm` and `on_alarm` it serves that fitted
monitor inside the server instead, and the controller acts on its alarms (drive.py `--alarm ... --on-alarm
slow|stop`): the closed loop that says whether acting on the alarms saves interventions.

What the frames and failures are scored into (windows, TP/FN/FP/TN) is `steering.eval.misbehaviour`.
"""
from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from steering.eval.config import EvalConfig
from steering.eval.evaluate import evaluate
from steering.eval.report import EvalReport
from steering.monitors import AlarmMonitor
from steering.perturb import PerturbPlan

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Leg:
    """One track to drive: nominal legs are clean, failing legs carry the command's perturbations."""

    track: str
    nominal: bool
    perturb: PerturbPlan = field(default_factory=PerturbPlan)

    @property
    def label(self) -> str:
        """`mountain`, or `mountain under snow:5` (a track may be both a nominal and a perturbed leg)."""
        return self.track if not self.perturb else f"{self.track} under {self.perturb}"

    @property
    def slug(self) -> str:
        """The label as a file-name part: `mountain`, `mountain_snow_5`."""
        return re.sub(r"[^\w]+", "_", self.track if not self.perturb else f"{self.track}_{self.perturb}").strip("_")


@dataclass
class DrivenLeg:
    """What one drive of a leg left: step times, failure times, the answered frames, the live alarms."""

    leg: Leg
    times: np.ndarray  # (steps,) simulated seconds
    failures: list[float]  # intervention times
    images: list[str]  # base64 JPEGs, one per step (what the simulator sent, perturbations included)
    alarms: np.ndarray  # (steps,) bool: the server's monitor raised its alarm on the frame (all False without one)
    report: EvalReport


class _Frames:
    """A sink that keeps every answered frame's JPEG (base64) and the server monitor's alarm flag."""

    def __init__(self) -> None:
        self.images: list[str] = []
        self.alarms: list[bool] = []

    def put(self, frame: Any) -> None:
        self.images.append(frame.image_base64)
        self.alarms.append(bool(frame.alarm))

    def close(self) -> None:
        pass


def control_config(speed_mph: float | None, on_alarm: str = "none", alarm_slow: float | None = None) -> Any:
    """drive.py's ControlConfig for these drives (None: drive.py's defaults); raises ValueError for a bad
    `on_alarm` or `alarm_slow`, so a command can check them before hours of driving."""
    # the drive package only here: eventlet stays out of everything that only imports the evaluator
    from steering.drive import ControlConfig

    return ControlConfig(on_alarm=on_alarm, **({"target_speed": speed_mph} if speed_mph is not None else {}),
                         **({"alarm_slow": alarm_slow} if alarm_slow is not None else {}))


def drive_legs(checkpoint: Path, legs: Sequence[Leg], base: EvalConfig, alarm: AlarmMonitor | None = None,
               control: Any = None) -> list[DrivenLeg]:
    """Drive each leg once through one in-process drive server (`alarm`: served, acted on as `control`, a
    `control_config`, says; default: drive.py's at `base`'s speed, nothing acts).

    `base` gives laps, speed, pacing, time limit and seed; each leg sets the track and the perturbations."""
    # the drive server only here: eventlet stays out of everything that only imports the evaluator
    from steering.drive import DriveConfig, TransportConfig, running_server

    control = control or control_config(base.speed_mph)
    on_alarm = control.on_alarm
    frames = _Frames()
    driven = []
    with running_server([checkpoint], DriveConfig(transport=TransportConfig(port=0), control=control, stats_every=0),
                        sinks=[frames], alarm=alarm) as server:
        for leg in legs:
            frames.images, frames.alarms = [], []
            config = EvalConfig(track=leg.track, laps=base.laps, port=server.port, speed_mph=control.target_speed,
                                pacing=base.pacing, max_sim_s=base.max_sim_s, seed=base.seed, progress=base.progress,
                                label=checkpoint.name, perturb=leg.perturb)
            result = evaluate(None, config)
            times = np.array([step.time_s for step in result.drive.steps])
            images, alarms = frames.images, np.array(frames.alarms, dtype=bool)
            if len(images) != len(times):  # lock step: one answered frame per applied step
                log.warning("%s: %d frames for %d steps; pairing the first of each", leg.label, len(images),
                            len(times))
                n = min(len(images), len(times))
                times, images, alarms = times[:n], images[:n], alarms[:n]
            driven.append(DrivenLeg(leg, times, [iv.time_s for iv in result.interventions], images, alarms,
                                    result.report))
            log.info("%s: %d steps, %d interventions%s", leg.label, len(times), len(result.interventions),
                     f", alarm on {alarms.mean():.1%} of frames ({on_alarm})" if alarm is not None else "")
    return driven


def acting_row(driven: DrivenLeg, monitor: str, on_alarm: str) -> dict[str, Any]:
    """One row of the acting comparison: a failing leg driven with a monitor acting (or `none`: only watching)."""
    r = driven.report
    return {"monitor": monitor, "on_alarm": on_alarm, "leg": driven.leg.label, "track": driven.leg.track,
            "perturb": str(driven.leg.perturb), "interventions": r.interventions, "autonomy_pct": r.autonomy_pct,
            "mean_speed_mph": r.mean_speed_mph, "elapsed_s": r.elapsed_s, "laps_completed": r.laps_completed,
            # the watching drive has no monitor in the server: nothing to count
            "frames_alarmed": float(driven.alarms.mean()) if driven.alarms.size and on_alarm != "none" else math.nan}
