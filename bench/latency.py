"""Driving latency per frame: base64 + JPEG decode, preprocess, inference, reply; batch 1 on CPU.

Every variant processes the same real telemetry messages end to end, the way the drive server's
telemetry handler does (`parse_telemetry`, `decode_base64_jpeg`, `Predictor.prepare`/`infer`,
`Controller.run`, `format_command` + the JSON packet), minus the socket (see `bench.closed_loop` for
the loop through the real socket). Variants run interleaved in short blocks so machine noise hits
them alike.

Variants: the classic Udacity drive.py path (`bench.baselines.naive_drive`) and every runtime of
`steering.inference.Predictor`, plus two that exist only here to show whether they would pay:
eager channels_last, and OpenVINO (an optional extra, measured only when it is installed).
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench import inputs
from bench.baselines.naive_drive import NaiveDriver
from bench.benchmark import Benchmark
from bench.markdown import num, table, verdict
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
GOAL_P99_MS = 50.0
GOAL_VS_NAIVE = 2.0
GOAL_VS_BEST = 1.2


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


@dataclass
class VariantLatency:
    """One variant's per-frame times; stages are None for the classic path (not separable)."""

    total: Stats
    build_s: float
    max_abs_diff_vs_fp32: float
    decode: Stats | None = None
    preprocess: Stats | None = None
    infer: Stats | None = None
    reply: Stats | None = None
    note: str | None = None  # what the runtime chose by itself (drive.py's default)


@dataclass
class ModelLatency:
    variants: dict[str, VariantLatency]
    reference_steering_scale: float


@dataclass
class PreprocessLatency:
    variants: dict[str, Stats]


@dataclass
class LatencyResult:
    threads: int
    repeats: int
    frames: str  # where the frames came from
    openvino_installed: bool
    models: dict[str, ModelLatency]
    preprocess: PreprocessLatency | None = None


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
        for stage, seconds in zip(self.stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=False):
            self.stages[stage].append(seconds)
        return packet

    def steering_of(self, message: dict[str, str]) -> float:
        return self.infer(self.prepare(decode_base64_jpeg(message["image"])))


class NaivePipeline:
    """The classic path; stages are not separable the same way, so only the total is timed."""

    def __init__(self, checkpoint: Path, messages: list[dict[str, str]]) -> None:
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
    checkpoint: Path, messages: list[dict[str, str]], config: LatencyConfig
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


def run_model(name: str, config: LatencyConfig) -> ModelLatency:
    messages = telemetry_messages(config.frames)
    checkpoint = inputs.checkpoint(name)
    torch.set_num_threads(config.threads)
    pipelines, meta = build_variants(checkpoint, messages, config)
    torch.set_num_threads(config.threads)  # a Predictor may have set its own count
    # Agreement with the fp32 reference on the first frames (bf16 and fused runtimes round differently).
    reference = [pipelines[EAGER].steering_of(m) for m in messages[:8]]
    diffs = {n: max(abs(p.steering_of(m) - r) for m, r in zip(messages[:8], reference, strict=False))
             for n, p in pipelines.items()}
    for pipeline in pipelines.values():
        for stage in pipeline.stages.values():
            stage.clear()
    totals = interleave(pipelines, repeats=config.repeats, block=config.block, budget_s=config.budget_s,
                        min_repeats=30)
    variants = {}
    for n, pipeline in pipelines.items():
        # warm-up calls recorded stages too; keep the timed ones only
        stages = {stage: Stats.of(times[-totals[n].n:]) for stage, times in pipeline.stages.items()}
        variants[n] = VariantLatency(total=totals[n], build_s=meta["build_s"][n],
                                     max_abs_diff_vs_fp32=float(diffs[n]), note=meta["notes"].get(n), **stages)
    return ModelLatency(variants=variants, reference_steering_scale=float(max(abs(r) for r in reference)))


def preprocess_variants(config: LatencyConfig) -> PreprocessLatency:
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
    return PreprocessLatency(variants=stats)


def run(config: LatencyConfig | None = None) -> LatencyResult:
    config = config or LatencyConfig()
    result = LatencyResult(threads=config.threads, repeats=config.repeats, frames=inputs.frames_source(),
                           openvino_installed=openvino_available(), models={})
    for name in config.models:
        log.info("latency: %s", name)
        result.models[name] = run_model(name, config)
    result.preprocess = preprocess_variants(config)
    return result


def quick_config() -> LatencyConfig:
    return LatencyConfig(models=("pilotnet",), repeats=2, block=1, frames=2, openvino=False, variants=(NAIVE, DEFAULT))


# ---------------------------------------------------------------- docs/benchmarks.md section 1

def section(lat: LatencyResult) -> str:
    out = ["## 1. Driving latency per frame", "",
           f"base64 + JPEG decode, preprocess, inference, controller and the `steer` reply; batch 1, CPU, "
           f"{lat.threads} threads; {lat.repeats} frames per variant, variants interleaved in blocks of 10; "
           f"frames from the {lat.frames}. `vs naive` = naive median / variant median; `vs best` = variant "
           f"median / fastest median; `max |Δ|` = largest steering difference from eager fp32 on 8 frames. "
           f"All variants share one process, as they must to be interleaved; ONNX Runtime's and OpenVINO's "
           f"worker threads keep spinning briefly after each call, which can slow the PyTorch variants timed "
           f"beside them (drive.py runs one runtime per process).", ""]
    goals: list[str] = []
    for model, data in lat.models.items():
        variants = data.variants
        naive = variants[NAIVE].total.median_ms
        best_name = min(variants, key=lambda n: variants[n].total.median_ms)
        best = variants[best_name].total.median_ms
        rows = []
        for name, v in sorted(variants.items(), key=lambda kv: kv[1].total.median_ms):
            t = v.total
            stage = lambda s: num(s.median_ms, 2) if s is not None else "–"  # noqa: E731
            rows.append([name + (f" ({v.note})" if v.note is not None else ""), num(t.median_ms), num(t.p99_ms),
                         f"{naive / t.median_ms:.2f}x", f"{t.median_ms / best:.2f}x", stage(v.decode),
                         stage(v.preprocess), stage(v.infer), num(v.build_s, 1), f"{v.max_abs_diff_vs_fp32:.1e}"])
        out += [f"### {model}", ""]
        out += table(["variant", "p50 ms", "p99 ms", "vs naive", "vs best", "decode", "preprocess", "infer",
                      "build s", "max |Δ|"], rows)
        if model == "resnet50":
            goals += _goals(variants, naive, best_name, best)
    if lat.preprocess is not None:
        out += ["### Preprocessing alone (160x320 RGB frame -> float (3, 66, 200))", "",
                f"Interleaved, {lat.repeats} frames each.", ""]
        out += table(["variant", "p50 ms", "p99 ms"], [[n, num(v.median_ms, 3), num(v.p99_ms, 3)]
                                                       for n, v in lat.preprocess.variants.items()])
    return "\n".join(out + ["### Goals (ResNet-50 pipeline)", ""] + goals + [""])


def _goals(variants: dict[str, VariantLatency], naive: float, best_name: str, best: float) -> list[str]:
    stats = variants[DEFAULT].total
    label = f"drive.py default ({variants[DEFAULT].note or 'backend auto'})"
    lines = [f"- p99 <= {GOAL_P99_MS:.0f} ms, {label}: " + verdict(
        stats.p99_ms <= GOAL_P99_MS, f"p99 {num(stats.p99_ms)} ms"
        + ("" if stats.p99_ms <= GOAL_P99_MS else f", {num(stats.p99_ms - GOAL_P99_MS)} ms over"))]
    ratio = naive / stats.median_ms
    short = "" if ratio >= GOAL_VS_NAIVE else f", {GOAL_VS_NAIVE / ratio:.2f}x short"
    lines.append(f"- >= {GOAL_VS_NAIVE:.0f}x the naive pipeline, {label}: "
                 + verdict(ratio >= GOAL_VS_NAIVE, f"{ratio:.2f}x{short}"))
    gap = stats.median_ms / best
    why = "" if gap <= GOAL_VS_BEST else f" (the best is {best_name} at {num(best)} ms)"
    lines.append(f"- within {GOAL_VS_BEST}x of the best runtime measured, {label}: "
                 + verdict(gap <= GOAL_VS_BEST, f"{gap:.2f}x{why}"))
    return lines


def findings(lat: LatencyResult) -> list[str]:
    """Which runtime wins and by how much, what decoding costs, whether torch's threads matter."""
    out = []
    for model, data in lat.models.items():
        v = data.variants
        median = lambda name, part="total", v=v: getattr(v[name], part).median_ms  # noqa: E731
        options = [n for n in v if n not in (NAIVE, "eager channels_last")]  # what drive.py can run
        fastest = min(options, key=median)
        runtime = v[DEFAULT].note or ""
        if fastest != DEFAULT:
            out.append(
                f"- {model}: drive.py's default ({runtime}) takes {median(DEFAULT):.1f} ms per frame; "
                f"`{fastest}` takes {median(fastest):.1f} ms ({median(DEFAULT) / median(fastest):.2f}x "
                f"faster, max |Δ steering| {v[fastest].max_abs_diff_vs_fp32:.1e})."
            )
        else:
            out.append(
                f"- {model}: drive.py's default ({runtime}) is the fastest runtime measured: "
                f"{median(DEFAULT):.1f} ms per frame, {median(EAGER) / median(DEFAULT):.2f}x eager fp32."
            )
        if "eager channels_last" in v:
            ratio = median(EAGER, "infer") / median("eager channels_last", "infer")
            out.append(f"- {model}: eager channels_last runs inference at {ratio:.2f}x the speed of contiguous "
                       f"eager fp32 on this CPU.")
        pre = median(DEFAULT, "decode") + median(DEFAULT, "preprocess")
        out.append(f"- {model}: decode + preprocess take {pre:.2f} ms of the {median(DEFAULT):.1f} ms default "
                   f"pipeline ({100 * pre / median(DEFAULT):.0f}%).")
    if lat.preprocess is not None:
        pv = lat.preprocess.variants
        multi = next(n for n in pv if n.startswith("preprocess_frame") and "1 torch thread" not in n)
        one = pv["preprocess_frame, 1 torch thread"]
        out.append(f"- preprocessing: `{multi}` takes {pv[multi].median_ms:.2f} ms p50 / {pv[multi].p99_ms:.2f} ms "
                   f"p99; with 1 torch thread {one.median_ms:.2f} / {one.p99_ms:.2f} ms (the normalisation is numpy, "
                   f"so torch's thread count should not matter).")
    return out


def plot(lat: LatencyResult, ax: Any) -> None:
    """ResNet-50's latency per variant, p50 over p99, log scale."""
    data = lat.models.get("resnet50")
    if data is None:
        return
    items = sorted(data.variants.items(), key=lambda kv: -kv[1].total.median_ms)
    y = range(len(items))
    ax.barh(y, [v.total.p99_ms for _, v in items], color="#f4b183", label="p99")
    ax.barh(y, [v.total.median_ms for _, v in items], color="#2e75b6", label="p50")
    ax.axvline(GOAL_P99_MS, color="red", linestyle="--", label=f"goal p99 {GOAL_P99_MS:.0f} ms")
    ax.set_yticks(list(y), [n for n, _ in items], fontsize=8)
    ax.set_xscale("log")  # one descheduled frame can put a p99 ten times above its median
    ax.set_xlabel("ms per frame, log (decode + preprocess + infer + reply)")
    ax.set_title("ResNet-50 driving latency, batch 1, CPU")
    ax.legend(fontsize=8)


BENCHMARK = Benchmark(
    name="latency", help="per-frame driving latency in one process: decode, preprocess, infer, reply; every runtime",
    config=LatencyConfig, quick=quick_config, run=run, result=LatencyResult, section=section, findings=findings,
    page=True, plot=plot)
