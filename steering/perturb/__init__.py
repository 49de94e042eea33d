"""Perturbations of the simulator's camera stream: ImageNet-C corruptions and weather drawn by the renderer.

    from steering.perturb import PerturbPlan, list_perturbations
    plan = PerturbPlan.parse("gaussian_noise:3", "distance_fog:4@200-350")
    frame = plan.apply(frame, distance_m=250.0, frame_index=17)   # image corruptions need no scene

The registry (`registry.py`) holds one entry per name, one module per kind; `plan.py` parses
`--perturb` and `--perturb-schedule`; `splits.py` names the perturbations training may use
(`TRAINING`, `--augment robust`) and those kept for testing (`HELD_OUT`). The simulator
(`steering.sim.world.World`) applies a plan to every camera frame before it is JPEG-encoded, so the
wire, the recorder and the monitor see the same frames.
"""
from steering.perturb.plan import Condition, PerturbPlan
from steering.perturb.registry import (
    SEVERITIES,
    FrameContext,
    Perturbation,
    PerturbError,
    Scene,
    describe,
    get_perturbation,
    list_perturbations,
)
from steering.perturb.splits import HELD_OUT, TRAINING

__all__ = ["HELD_OUT", "SEVERITIES", "TRAINING", "Condition", "FrameContext", "PerturbError", "PerturbPlan",
           "Perturbation", "Scene", "describe", "get_perturbation", "list_perturbations"]
