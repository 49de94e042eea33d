"""Which simulator recorded a log, and so which car the replay simulates: its camera rig and its wheelbase.

- `unity`: the Udacity simulator's car (`steering.udacity`: cameras from `CarWaypointBased.prefab`, 2.87 m
  wheelbase); the default for any log not known to be headless.
- `headless`: the headless simulator's car (`steering.sim`: the renderer's cameras, 1.6 m high and 7.5 deg
  pitch, and its 2.6 m wheelbase, `steering.sim.car.CarConfig`). Warping its frames with Unity's rig would
  move the horizon and the ground by the other mounting, so a headless recording needs this one.
- `auto`: headless when every log has the headless recorder's `sim_trace.csv` beside it (the recorder writes
  it with every recording, the Unity simulator never does), unity when none has; a mix is an error, since
  one replay simulates one car.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from steering.replay.bicycle import Bicycle
from steering.replay.camera import CameraModel, unity_camera
from steering.replay.fidelity import renderer_camera
from steering.sim.car import CarConfig

TRACE_NAME = "sim_trace.csv"  # what `steering.sim.recorder.record` writes beside every log it records

SIMULATORS = ("auto", "unity", "headless")


@dataclass(frozen=True)
class Rig:
    """The replayed car: what its centre camera sees from (`camera`) and how it turns (`bicycle`)."""

    simulator: str
    camera: CameraModel
    bicycle: Bicycle


def unity_rig() -> Rig:
    return Rig("unity", unity_camera(), Bicycle())


def headless_rig(car: CarConfig | None = None) -> Rig:
    car = car or CarConfig()
    return Rig("headless", renderer_camera(car=car), Bicycle(wheelbase_m=car.wheelbase_m,
                                                             max_steer_deg=car.max_steer_deg))


def is_headless_recording(log: Path) -> bool:
    """True when the headless recorder's trace lies beside this driving_log.csv."""
    return (Path(log).parent / TRACE_NAME).is_file()


def detect_simulator(logs: Sequence[Path]) -> str:
    """"headless" or "unity" for these logs; ValueError for a mix."""
    headless = [is_headless_recording(p) for p in logs]
    if all(headless) and headless:
        return "headless"
    if not any(headless):
        return "unity"
    mixed = ", ".join(f"{p} ({'headless' if h else 'unity'})" for p, h in zip(logs, headless, strict=True))
    raise ValueError(f"these logs come from different simulators: {mixed}; replay them separately or name one "
                     "with --simulator")


def choose_rig(simulator: str, logs: Sequence[Path]) -> Rig:
    """The rig `simulator` names ("auto": detected from `logs`)."""
    if simulator not in SIMULATORS:
        raise ValueError(f"simulator must be one of {', '.join(SIMULATORS)}; got {simulator!r}")
    if simulator == "auto":
        simulator = detect_simulator(logs)
    return headless_rig() if simulator == "headless" else unity_rig()
