"""Driving latency per frame: base64 + JPEG decode, preprocess, inference, reply; batch 1 on CPU.

Every variant processes the same real telemetry messages end to end, the way the drive server's
telemetry handler does (`parse_telemetry`, `decode_base64_jpeg`, `Predictor.prepare`/`infer`,
`Controller.run`, `format_command` + the JSON packet), minus the socket (see `bench.simulator` for
the loop through the real socket). Variants run interleaved in short blocks so machine noise hits
them alike.

Variants: the classic Udacity drive.py path (`bench.naive_drive`) and every runtime of
`steering.drive.Predictor`, plus two that exist only here to show whether they would pay:
eager channels_last, and OpenVINO (an optional extra, measured only when it is installed).
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from bench import inputs
from bench.naive_drive import NaiveDriver
from bench.timing import Stats, interleave
from steering.checkpoint import load_model
from steering.drive.control import Controller
from steering.drive.udacity.protocol import format_command, parse_telemetry
from steering.inference import InferenceConfig, Predictor
from steering.preprocess import PreprocessConfig, crop_resize, decode_base64_jpeg, preprocess_frame

log = logging.getLogger(__name__)

NAIVE = "naive (classic drive.py)"
DEFAULT = "drive.py default (backend auto)"
EAGER = "eager fp32"  # the reference every other variant's steering is compared with


@dataclass
class LatencyConfig:
    models: tuple[str, ...] = ("resnet50", "pilotnet", "resnet18")
    repeats: int = 200  # timed frames per variant
    block: int = 10  # frames per variant per round (interleaving)
    threads: int = 2
    frames: int = 32  # distinct telemetry messages, cycled
    openvino: bool = True  # measure OpenVINO when it is importable
    variants: tuple[str, ...] = field(default_factory=tuple)  # empty: all
    budget_s: float = 60.0  # per model: stop interleaving rounds after this (with >= 30 frames each)


def telemetry_messages(count: int) -> list[dict[str, str]]:
    """Telemetry payloads as the simulator sends them (N4 strings, base64 JPEG)."""
    return [{"steering_angle": "-1.2500", "throttle": "0.3000", "speed": f"{8 + i % 5:.4f}", "image": image}
            for i, image in enumerate(inputs.base64_frames(count))]


class Pipeline:
    """One variant's per-frame path, with per-stage timings (seconds)."""

    def __init__(self, prepare: Callable[[np.ndarray], torch.Tensor], infer: Callable[[torch.Tensor], float],
                 messages: list[dict[str, str]]) -> None:
        self.prepare, self.infer, self.messages = prepare, infer, messages
        self.controller = Controller()
        self.index = 0
        self.stages: dict[str, list[float]] = {"decode": [], "preprocess": [], "infer": [], "reply": []}

    def __call__(self) -> str:
        data = self.messages[self.index % len(self.messages)]
        self.index += 1
        t0 = time.perf_counter()
        telemetry = parse_telemetry(data)
        frame = decode_base64_jpeg(telemetry.image)
        t1 = time.perf_counter()
        x = self.prepare(frame)
        t2 = time.perf_counter()
        steering_raw = self.infer(x)
        t3 = time.perf_counter()
        steering, throttle = self.controller.run(steering_raw, telemetry.speed)
        packet = "42" + json.dumps(["steer", format_command(steering, throttle, telemetry.decimal or ".")])
        t4 = time.perf_counter()
        for stage, seconds in zip(self.stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            self.stages[stage].append(seconds)
        return packet

    def steering_of(self, message: dict[str, str]) -> float:
        return self.infer(self.prepare(decode_base64_jpeg(message["image"])))


class NaivePipeline:
    """The classic path; stages are not separable the same way, so only the total is timed."""

    def __init__(self, checkpoint, messages: list[dict[str, str]]) -> None:
        self.driver = NaiveDriver(checkpoint)
        self.messages = messages
        self.index = 0
        self.stages: dict[str, list[float]] = {}

    def __call__(self) -> str:
        data = self.messages[self.index % len(self.messages)]
        self.index += 1
        return self.driver(data)

    def steering_of(self, message: dict[str, str]) -> float:
        return float(json.loads(self.driver(message)[2:])[1]["steering_angle"])


def _predictor(checkpoint, threads: int, **options: str) -> Predictor:
    return Predictor(checkpoint, InferenceConfig(device="cpu", threads=threads, **options))


def _channels_last(checkpoint, threads: int) -> tuple[Callable, Callable]:
    """Eager fp32 with channels_last weights and input (not a Predictor option on CPU)."""
    predictor = _predictor(checkpoint, threads)
    model, _ = load_model(checkpoint)
    model = model.to(memory_format=torch.channels_last)

    def infer(x: torch.Tensor) -> float:
        with torch.inference_mode():
            return float(model(x.unsqueeze(0).contiguous(memory_format=torch.channels_last))[0])

    return predictor.prepare, infer


def openvino_available() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def build_variants(
    checkpoint, messages: list[dict[str, str]], config: LatencyConfig
) -> tuple[dict[str, Any], dict[str, float]]:
    """name -> pipeline, and name -> seconds it took to build (export, trace, compile)."""
    t = config.threads
    builders_notes: dict[str, str] = {}  # what a runtime chose by itself (OpenVINO's precision)
    def default() -> Pipeline:
        predictor = _predictor(checkpoint, t)  # InferenceConfig() as drive.py builds it
        builders_notes[DEFAULT] = f"{predictor.backend}, {predictor.precision}"
        return _from_predictor(predictor, messages)

    builders: dict[str, Callable[[], Any]] = {
        NAIVE: lambda: NaivePipeline(checkpoint, messages),
        DEFAULT: default,
        EAGER: lambda: _from_predictor(_predictor(checkpoint, t, backend="torch"), messages),
        "eager channels_last": lambda: Pipeline(*_channels_last(checkpoint, t), messages),
        "eager bf16 autocast": lambda: _from_predictor(_predictor(checkpoint, t, backend="torch", precision="bf16"),
                                                       messages),
        "TorchScript freeze fp32": lambda: _from_predictor(_predictor(checkpoint, t, backend="torchscript"), messages),
        "TorchScript freeze bf16": lambda: _from_predictor(
            _predictor(checkpoint, t, backend="torchscript", precision="bf16"), messages),
        "ONNX Runtime fp32": lambda: _from_predictor(_predictor(checkpoint, t, backend="onnx"), messages),
        # One intra-op thread: what is left when the simulator itself keeps a core busy.
        "ONNX Runtime fp32, 1 thread": lambda: _from_predictor(_predictor(checkpoint, 1, backend="onnx"), messages),
    }
    if config.openvino and openvino_available():
        # `--backend openvino`: opt-in (docs/drive.md); with precision auto it picks bf16 itself.
        builders["OpenVINO (its own precision)"] = lambda: _from_predictor(
            _predictor(checkpoint, t, backend="openvino"), messages)
        builders["OpenVINO fp32"] = lambda: _from_predictor(
            _predictor(checkpoint, t, backend="openvino", precision="fp32"), messages)
    pipelines, build_s = {}, {}
    for name, build in builders.items():
        if config.variants and name not in config.variants and name not in (NAIVE, DEFAULT, EAGER):
            continue
        start = time.perf_counter()
        pipelines[name] = build()
        build_s[name] = time.perf_counter() - start
    return pipelines, {"build_s": build_s, "notes": builders_notes}


def _from_predictor(predictor: Predictor, messages: list[dict[str, str]]) -> Pipeline:
    return Pipeline(predictor.prepare, predictor.infer, messages)


def run_model(name: str, config: LatencyConfig) -> dict[str, Any]:
    messages = telemetry_messages(config.frames)
    checkpoint = inputs.checkpoint(name)
    torch.set_num_threads(config.threads)
    pipelines, meta = build_variants(checkpoint, messages, config)
    torch.set_num_threads(config.threads)  # a Predictor may have set its own count
    # Agreement with the fp32 reference on the first frames (bf16 and fused runtimes round differently).
    reference = [pipelines[EAGER].steering_of(m) for m in messages[:8]]
    diffs = {n: max(abs(p.steering_of(m) - r) for m, r in zip(messages[:8], reference)) for n, p in pipelines.items()}
    for pipeline in pipelines.values():
        for stage in pipeline.stages.values():
            stage.clear()
    totals = interleave(pipelines, repeats=config.repeats, block=config.block, budget_s=config.budget_s,
                        min_repeats=30)
    variants = {}
    for n, pipeline in pipelines.items():
        entry: dict[str, Any] = {"total": totals[n].to_dict(), "build_s": meta["build_s"][n],
                                 "max_abs_diff_vs_fp32": float(diffs[n])}
        for stage, times in pipeline.stages.items():
            # warm-up calls recorded stages too; keep the timed ones only
            entry[stage] = Stats.of(times[-totals[n].n:]).to_dict()
        if n in meta["notes"]:
            entry["note"] = meta["notes"][n]
        variants[n] = entry
    return {"variants": variants, "reference_steering_scale": float(max(abs(r) for r in reference))}


def preprocess_variants(config: LatencyConfig) -> dict[str, Any]:
    """`preprocess_frame` with 2 and 1 torch intra-op threads, and its OpenCV part alone, interleaved.

    It normalises in numpy so that torch's thread count does not matter (with torch elementwise ops
    each op waited for the busier core: ~40 ms per frame on a loaded machine); this keeps it so.
    """
    cfg = PreprocessConfig()
    frames = [decode_base64_jpeg(m["image"]) for m in telemetry_messages(min(config.frames, 8))]
    counter = iter(range(10**9))

    def call(fn: Callable[[np.ndarray], torch.Tensor], threads: int) -> Callable[[], torch.Tensor]:
        def run_once() -> torch.Tensor:
            torch.set_num_threads(threads)
            return fn(frames[next(counter) % len(frames)])
        return run_once

    variants = {
        f"preprocess_frame, {config.threads} torch threads": call(lambda f: preprocess_frame(f, cfg), config.threads),
        "preprocess_frame, 1 torch thread": call(lambda f: preprocess_frame(f, cfg), 1),
        "crop_resize only (cv2, no normalisation)": call(lambda f: crop_resize(f, cfg), config.threads),
    }
    stats = interleave(variants, repeats=config.repeats, block=config.block, budget_s=config.budget_s / 4)
    torch.set_num_threads(config.threads)
    return {"variants": {n: s.to_dict() for n, s in stats.items()}}


def run(config: LatencyConfig | None = None) -> dict[str, Any]:
    config = config or LatencyConfig()
    results = {"threads": config.threads, "repeats": config.repeats, "frames": inputs.frames_source(),
               "openvino_installed": openvino_available(), "models": {}}
    for name in config.models:
        log.info("latency: %s", name)
        results["models"][name] = run_model(name, config)
    results["preprocess"] = preprocess_variants(config)
    return results


if __name__ == "__main__":
    from steering.cli import setup_logging

    setup_logging()
    import pprint

    pprint.pprint(run(LatencyConfig(models=("pilotnet",), repeats=20)))
