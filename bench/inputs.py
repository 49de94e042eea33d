"""What the benchmarks feed the code: checkpoints of each model, real simulator frames, a real log.

Frames are the real recording in ../shared/data/udacity-real (320x160 JPEGs as the simulator sends
them); if that folder is missing, frames rendered by the headless simulator stand in, so a bench
still runs on a fresh clone. Checkpoints hold randomly initialised weights: speed does not depend
on the weight values, and nothing may be downloaded at run time.
"""
from __future__ import annotations

import atexit
import base64
import shutil
import tempfile
from functools import cache
from pathlib import Path

import torch

from steering.checkpoint import save_checkpoint
from steering.model import ModelConfig, create_model, default_preprocess
from steering.preprocess import encode_jpeg

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = REPO.parent / "shared" / "data" / "udacity-real"
REAL_LOG = REAL_DATA / "self-recorded-windows-paths" / "driving_log.csv"

_WORKDIR = Path(tempfile.mkdtemp(prefix="steering-bench-"))
# Checkpoints, ONNX/OpenVINO files and caches take 0.2-0.3 GB per bench process: gone when it exits.
atexit.register(shutil.rmtree, _WORKDIR, ignore_errors=True)


def workdir() -> Path:
    """A scratch folder for this process (checkpoints, ONNX files, caches)."""
    return _WORKDIR


@cache
def checkpoint(name: str, seed: int = 0) -> Path:
    """A checkpoint of registered model `name` with seeded random weights, as train.py writes one."""
    torch.manual_seed(seed)
    model = create_model(name, pretrained="none").eval()
    return save_checkpoint(_WORKDIR / f"{name}-{seed}.pt", model, ModelConfig(name=name), default_preprocess(name))


@cache
def jpeg_frames(count: int = 32) -> tuple[bytes, ...]:
    """`count` 320x160 JPEG frames: real center-camera frames if present, else simulator renders."""
    real = sorted((REAL_DATA / "self-recorded-windows-paths" / "IMG").glob("center_*.jpg"))
    if real:
        step = max(1, len(real) // count)
        return tuple(p.read_bytes() for p in real[::step][:count])
    from steering.sim import World  # the renderer only when the real recording is missing

    world = World()
    frames = []
    for _ in range(count):
        frames.append(encode_jpeg(world.render("center"), 75))
        for _ in range(5):
            world.step(0.0, 0.5)
    return tuple(frames)


def base64_frames(count: int = 32) -> tuple[str, ...]:
    """The frames as the simulator's `image` telemetry field carries them."""
    return tuple(base64.b64encode(data).decode("ascii") for data in jpeg_frames(count))


def frames_source() -> str:
    """Where `jpeg_frames` came from, for the report."""
    return "real recording (self-recorded-windows-paths)" if REAL_LOG.is_file() else "headless simulator renders"
