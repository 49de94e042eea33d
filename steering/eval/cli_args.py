"""Arguments the evaluation commands share: model entries (ensembles), driving logs, perturbations, scoring.

Each command lives in its own module (`steering.eval.cli` for evaluate/compare/suite, `offline_cli`,
`robustness_cli`, `steering.replay.cli`) and builds its parser from these.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from steering.eval.config import EvalConfig
from steering.eval.evaluate import ModelEntry
from steering.eval.scoring import InterventionConfig
from steering.perturb import PerturbError, PerturbPlan, describe
from steering.sim.client import ClientConfig
from steering.sim.render import CAMERA_RIGS
from steering.udacity import LOG_NAME

MODEL_HELP = "; A.pt+B.pt is one ensemble (the mean of their steering; same preprocessing required)"


def model_argument(text: str) -> ModelEntry:
    """`a.pt` -> Path; `a.pt+b.pt` -> (Path, Path), an ensemble (unless a file of that very name exists)."""
    if "+" not in text or Path(text).is_file():
        return Path(text)
    return tuple(Path(part) for part in text.split("+") if part)


class _PerturbAction(argparse.Action):
    """Checks a `--perturb`/`--perturb-schedule` text as it is parsed (a bad name fails with its close matches);
    `--perturb list` prints every perturbation and exits, as --help does (before positionals are required)."""

    def __call__(self, parser, namespace, values, option_string=None):
        if values == "list" and self.dest == "perturb":
            print(describe())
            parser.exit(0)
        try:
            PerturbPlan.parse(**{"schedule" if self.dest == "perturb_schedule" else "perturb": values})
        except PerturbError as exc:
            parser.error(str(exc))
        setattr(namespace, self.dest, values)


def add_perturb_arguments(parser: argparse.ArgumentParser) -> None:
    """`--perturb` and `--perturb-schedule` (steering.perturb.plan documents the syntax)."""
    group = parser.add_argument_group("Camera perturbations (steering.perturb; docs/robustness.md)")
    group.add_argument("--perturb", default="", action=_PerturbAction, metavar="NAME:SEV[,NAME:SEV...]",
                       help="corrupt every camera frame for the whole drive, severity 1-5, e.g. gaussian_noise:3,"
                            "night:2; `--perturb list` prints every name")
    group.add_argument("--perturb-schedule", default="", action=_PerturbAction, metavar="NAME:SEV@FROM-TO[,...]",
                       help="conditions along the drive, in metres driven from the start (TO excluded; FROM- = to "
                            "the end), e.g. distance_fog:4@200-350")


def perturb_plan(args: argparse.Namespace) -> PerturbPlan:
    """The parsed `--perturb`/`--perturb-schedule` of `args` (checked while parsing)."""
    return PerturbPlan.parse(getattr(args, "perturb", ""), getattr(args, "perturb_schedule", ""))



def add_camera_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """`--camera`: the rig the headless simulator renders with (steering.sim.render.CameraConfig.named)."""
    parser.add_argument("--camera", choices=CAMERA_RIGS, default="default",
                        help="camera rig: the renderer's own, or the Unity car's as measured on real frames "
                             "(steering.udacity: lower, pitched further down, less bonnet; docs/realdata.md); "
                             "score a model on the rig its laps were recorded with")


def common_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--frame-rate", type=float, default=round(1.0 / ClientConfig.frame_s),
                       help="--realtime: the simulator's frames per second; the world moves in whole frames "
                            "(Unity: 60)")
    group.add_argument("--seed", type=int, default=0, help="the world's textures")
    add_camera_argument(group)
    group.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def scoring_arguments(parser: argparse.ArgumentParser, speed: bool = True, pacing: bool = True) -> None:
    group = parser.add_argument_group("Driving and scoring")
    if speed:
        group.add_argument("--speed", type=float, default=None,
                           help="target speed (mph) of the in-process drive server (default: drive.py's default)")
    group.add_argument("--stall-s", type=float, default=InterventionConfig.stall_s,
                       help="no progress for this many simulated seconds counts as an intervention")
    group.add_argument("--penalty-s", type=float, default=InterventionConfig.penalty_s,
                       help="seconds each intervention costs in the autonomy score (PilotNet: 6)")
    if pacing:
        clock = group.add_mutually_exclusive_group()
        clock.add_argument("--realtime", dest="pacing", action="store_const", const="realtime", default="fixed",
                           help="the world moves by the server's measured round trip (whole simulator frames), "
                                "as the Unity simulator keeps driving while drive.py thinks; default: lock step")
        clock.add_argument("--wallclock", dest="pacing", action="store_const", const="wallclock",
                           help="run the world in real time (sleeping between frames) instead of lock step")
    group.add_argument("--video", action="store_true", help="also write drive.mp4 (center camera, steering overlaid)")
    group.add_argument("--tta", choices=["none", "flip"], default="none",
                       help="test-time augmentation of the in-process drive server: flip = mean of the frame's and "
                            "the mirrored frame's (negated) steering, two forward passes per model and frame "
                            "(drive.py --tta; default none)")
    common_arguments(group)


def is_log_argument(text: str) -> bool:
    """A driving log (a .csv file, or a folder holding driving_log.csv) rather than a model."""
    path = Path(text)
    return path.suffix.lower() == ".csv" or (path.is_dir() and (path / LOG_NAME).is_file())


def log_argument(text: str) -> Path:
    path = Path(text)
    return path / LOG_NAME if path.is_dir() else path


def eval_config(args: argparse.Namespace, **overrides: object) -> EvalConfig:
    speed = {"speed_mph": args.speed} if hasattr(args, "speed") else {}
    pacing = {"pacing": args.pacing} if hasattr(args, "pacing") else {}
    return EvalConfig(**speed, **pacing, frame_s=1.0 / args.frame_rate, video=args.video, seed=args.seed,
                      progress=args.progress, tta=args.tta, perturb=perturb_plan(args), camera=args.camera,
                      interventions=InterventionConfig(stall_s=args.stall_s, penalty_s=args.penalty_s), **overrides)

