"""Machine limits: matmul GFLOP/s (fp32, bf16, int8) and each model's FLOPs and achieved GFLOP/s.

FLOPs come from `torch.utils.flop_counter.FlopCounterMode` on one forward pass at batch 1 and the
model's default input (it counts 2 FLOPs per multiply-add of convolutions and matmuls, nothing for
elementwise ops). Achieved GFLOP/s = those FLOPs / the median time of one forward pass, so the
ratio to the matmul peak shows how much of the hardware a runtime uses.

int8: the peak is OpenVINO's int8 MatMul (u8 activations x s8 weights, what its CPU plugin makes of
FakeQuantize on both inputs, as NNCF writes them), timed beside the same MatMul in f32; torch's
`_int_mm` is no bound on CPU (a plain loop there). Each int8 runtime (`INT8_RUNTIMES`) is built on
the seeded checkpoint, calibrated on the real recording's frames as drive.py would, timed beside
OpenVINO fp32, and compared with eager fp32 on `int8_frames` real frames (max |Δ| steering).
"""
from __future__ import annotations

import copy
import functools
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from bench import inputs
from bench.benchmark import Benchmark
from bench.markdown import num, table, verdict
from bench.timing import Stats, interleave
from steering.checkpoint import load_model
from steering.inference import gate, runtimes
from steering.inference.cpu import cpu_flags
from steering.inference.quantize import INT8_UNITS
from steering.inference.runtimes.openvino import core
from steering.model import create_model, default_preprocess
from steering.preprocess import decode_jpeg, preprocess_frame

if TYPE_CHECKING:  # the section reads section 1's results; limits runs first and never calls latency
    from bench.latency import LatencyResult

log = logging.getLogger(__name__)
GOAL_PEAK_FRACTION = 0.5
INT8_RUNTIMES = ("openvino-nncf", "onnx", "openvino")  # NNCF's int8; the ONNX QDQ copy in both runtimes
INT8_REFERENCE = ("openvino", "fp32")  # what each int8 runtime is timed beside


@dataclass
class LimitsConfig:
    models: tuple[str, ...] = ("resnet50", "pilotnet", "resnet18")
    threads: int = 2
    matmul_size: int = 2048
    matmul_repeats: int = 10
    model_repeats: int = 30
    budget_s: float = 20.0  # per model and for the matmuls: fewer repeats (>= 10) on a loaded machine
    int8: bool = True  # the int8 peak and runtimes (needs openvino; nncf for openvino-nncf)
    int8_frames: int = 200  # real frames each int8 runtime's steering is compared on


@dataclass
class Throughput:
    gflops: float
    time: Stats


@dataclass
class Int8Variant:
    runtime: str  # what ran ("openvino-nncf int8"; the reference "openvino fp32")
    time: Stats | None = None
    gflops: float | None = None
    max_abs_diff: float | None = None  # steering vs eager fp32 on the result's int8_frames
    error: str = ""  # why it did not build


@dataclass
class ModelLimits:
    gflop: float  # one batch-1 forward pass
    runtimes: dict[str, Throughput]
    int8: dict[str, Int8Variant] = field(default_factory=dict)


@dataclass
class LimitsResult:
    threads: int
    matmul_size: int
    matmul: dict[str, Throughput]  # fp32, bf16
    models: dict[str, ModelLimits]
    int8_matmul: dict[str, Throughput] = field(default_factory=dict)  # OpenVINO "int8", "fp32"
    int8_frames: int = 0
    cpu_int8_units: list[str] = field(default_factory=list)  # VNNI/AMX flags present
    # where the int8 rows came from when they were measured apart from the rows above (command, date,
    # load); "" when one run measured the whole section
    int8_measured: str = ""


def count_flops(name: str) -> int:
    """FLOPs of one batch-1 forward pass of registered model `name` at its default input."""
    model = create_model(name, pretrained="none").eval()
    x = torch.zeros(1, *default_preprocess(name).input_shape)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return int(counter.get_total_flops())


def matmul_gflops(size: int, repeats: int, budget_s: float | None = None) -> dict[str, Throughput]:
    """Square matmul throughput in fp32 and bf16, interleaved."""
    a32, b32 = torch.randn(size, size), torch.randn(size, size)
    a16, b16 = a32.bfloat16(), b32.bfloat16()
    stats = interleave({"fp32": lambda: torch.mm(a32, b32), "bf16": lambda: torch.mm(a16, b16)},
                       repeats=repeats, block=2, warmup=2, budget_s=budget_s, min_repeats=4)
    flops = 2.0 * size**3
    return {dtype: Throughput(gflops=flops / (s.median_ms / 1000.0) / 1e9, time=s) for dtype, s in stats.items()}


def model_gflops(name: str, flops: int, repeats: int, budget_s: float | None = None) -> dict[str, Throughput]:
    """Achieved GFLOP/s of eager fp32 and eager bf16-autocast forward passes (no preprocessing)."""
    model = create_model(name, pretrained="none").eval()
    x = torch.randn(1, *default_preprocess(name).input_shape)

    def fp32() -> None:
        with torch.inference_mode():
            model(x)

    def bf16() -> None:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            model(x)

    stats: dict[str, Stats] = interleave({"eager fp32": fp32, "eager bf16 autocast": bf16}, repeats=repeats, block=5,
                                           budget_s=budget_s, min_repeats=10)
    return {variant: Throughput(gflops=flops / (s.median_ms / 1000.0) / 1e9, time=s) for variant, s in stats.items()}


def ov_matmul_gops(size: int, threads: int, repeats: int, budget_s: float | None = None) -> dict[str, Throughput]:
    """OpenVINO MatMul (size x size) x (size x size)^T in int8 (FakeQuantize on both inputs: u8 x s8)
    and in f32, interleaved; GOP/s at 2 per multiply-add."""
    import openvino as ov  # optional package (steering[openvino])
    import openvino.opset13 as ops

    def const(value: float | np.ndarray):
        return ops.constant(np.asarray(value, dtype=np.float32))

    rng = np.random.default_rng(0)
    weights, x = (rng.standard_normal((size, size)).astype(np.float32) for _ in range(2))
    forwards = {}
    for dtype in ("int8", "fp32"):
        inp = ops.parameter([size, size], np.float32)
        a, b = inp, const(weights)
        if dtype == "int8":  # ranges +-4: standard-normal values, as calibration would find them
            a = ops.fake_quantize(a, const(-4), const(4), const(-4), const(4), 256)
            b = ops.fake_quantize(b, const(-4), const(4), const(-4), const(4), 255)
        compiled = core().compile_model(ov.Model([ops.matmul(a, b, False, True)], [inp]), "CPU",
                                        {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32"})
        forwards[dtype] = functools.partial(compiled.create_infer_request().infer, {0: x})
    stats = interleave(forwards, repeats=repeats, block=2, warmup=2, budget_s=budget_s, min_repeats=4)
    ops_count = 2.0 * size**3
    return {dtype: Throughput(gflops=ops_count / (s.median_ms / 1000.0) / 1e9, time=s) for dtype, s in stats.items()}


def int8_variants(name: str, flops: int, config: LimitsConfig) -> dict[str, Int8Variant]:
    """Each int8 runtime of `INT8_RUNTIMES` and OpenVINO fp32 on the seeded checkpoint: forward time
    (interleaved) and max |steering - eager fp32| on `config.int8_frames` real frames."""
    path = inputs.checkpoint(name)
    model, pre = load_model(path)
    frames = [preprocess_frame(decode_jpeg(j), pre) for j in inputs.jpeg_frames(config.int8_frames)]
    with torch.inference_mode():
        want = np.concatenate([model(torch.stack(frames[i:i + 25])).numpy() for i in range(0, len(frames), 25)])

    def calibration() -> tuple[list[np.ndarray], str]:  # as drive.py --calibration REAL_LOG reads it
        shots, source = gate.log_frames([inputs.REAL_LOG], gate.CALIBRATION_FRAMES)
        return [t.numpy() for t in gate.prepared(shots, pre)], source

    variants, forwards = {}, {}
    for runtime, precision in (INT8_REFERENCE, *((r, "int8") for r in INT8_RUNTIMES)):
        label = f"{runtime} {precision}"
        spec = runtimes.RUNTIMES.get(runtime)
        if spec is None or not spec.installed():
            variants[label] = Int8Variant(label, error="not installed")
            continue
        context = runtimes.BuildContext(torch.device("cpu"), precision, config.threads, pre, path, calibration)
        try:
            built = spec.build(copy.deepcopy(model), context)
        except Exception as exc:  # noqa: BLE001 - a runtime that cannot build costs only its row
            variants[label] = Int8Variant(label, error=f"{type(exc).__name__}: {exc}"[:160])
            continue
        with torch.inference_mode():
            got = np.array([float(built.forward(f.unsqueeze(0)).reshape(-1)[0]) for f in frames])
        variants[label] = Int8Variant(label, max_abs_diff=float(np.abs(got - want).max()))
        forwards[label] = functools.partial(built.forward, frames[0].unsqueeze(0))
    for label, s in interleave(forwards, repeats=config.model_repeats, block=5, budget_s=config.budget_s,
                               min_repeats=10).items():
        variants[label].time, variants[label].gflops = s, flops / (s.median_ms / 1000.0) / 1e9
    return variants


def run(config: LimitsConfig | None = None) -> LimitsResult:
    config = config or LimitsConfig()
    torch.set_num_threads(config.threads)
    result = LimitsResult(threads=config.threads, matmul_size=config.matmul_size,
                          matmul=matmul_gflops(config.matmul_size, config.matmul_repeats, config.budget_s), models={})
    for name in config.models:
        flops = count_flops(name)
        log.info("limits: %s %.2f GFLOP", name, flops / 1e9)
        result.models[name] = ModelLimits(gflop=flops / 1e9,
                                          runtimes=model_gflops(name, flops, config.model_repeats, config.budget_s))
    if config.int8 and runtimes.RUNTIMES["openvino"].installed():
        result.int8_matmul = ov_matmul_gops(config.matmul_size, config.threads, config.matmul_repeats,
                                            config.budget_s)
        result.int8_frames, result.cpu_int8_units = config.int8_frames, sorted(cpu_flags() & set(INT8_UNITS))
        for name in config.models:
            log.info("limits: %s int8 runtimes", name)
            result.models[name].int8 = int8_variants(name, int(result.models[name].gflop * 1e9), config)
    return result


def quick_config() -> LimitsConfig:
    return LimitsConfig(models=("pilotnet",), matmul_size=64, matmul_repeats=2, model_repeats=2, int8_frames=8)


def section(lim: LimitsResult, latency: LatencyResult | None = None) -> str:
    """Section 3; with section 1's results, each model's fastest runtime there is set against the peak too."""
    peak32, peak16 = lim.matmul["fp32"].gflops, lim.matmul["bf16"].gflops
    out = ["## 3. Machine limits", "",
           f"Square matmul {lim.matmul_size}x{lim.matmul_size}, {lim.threads} threads: "
           f"fp32 **{num(peak32)} GFLOP/s**, bf16 **{num(peak16)} GFLOP/s** ({peak16 / peak32:.1f}x).", "",
           "Model FLOPs from `FlopCounterMode` (2 per multiply-add), batch 1, default input. Achieved = FLOPs / "
           "median forward time (model only, no preprocessing); % of the fp32 peak (bf16 runtimes also against "
           "the bf16 peak).", ""]
    rows, goal = [], []
    for model, data in lim.models.items():
        gflop = data.gflop
        for name, r in data.runtimes.items():  # eager fp32 and bf16 autocast, timed in this section
            peak = peak16 if "bf16" in name else peak32
            rows.append([model, num(gflop, 3), name, num(r.time.median_ms, 2), num(r.gflops),
                         f"{100 * r.gflops / peak32:.0f}%"
                         + (f" ({100 * r.gflops / peak:.0f}% of bf16)" if peak is peak16 else "")])
        if latency is not None and model in latency.models:
            variants = latency.models[model].variants
            timed = {n: v.infer.median_ms for n, v in variants.items() if v.infer is not None}
            best = min(timed, key=timed.get)
            achieved = gflop / (timed[best] / 1000.0)
            low_precision = "bf16" in best or "bfloat16" in (variants[best].note or "")
            rows.append([model, num(gflop, 3), f"{best} (fastest in section 1)", num(timed[best], 2), num(achieved),
                         f"{100 * achieved / peak32:.0f}%"
                         + (f" ({100 * achieved / peak16:.0f}% of bf16)" if low_precision else "")])
            if model == "resnet50":
                eager = data.runtimes["eager fp32"].gflops
                goal.append(f"- ResNet-50 >= {GOAL_PEAK_FRACTION:.0%} of the fp32 matmul peak, eager fp32: " + verdict(
                    eager >= GOAL_PEAK_FRACTION * peak32, f"{100 * eager / peak32:.0f}%"))
                goal.append(
                    f"- ResNet-50 >= {GOAL_PEAK_FRACTION:.0%} of the fp32 matmul peak, fastest runtime ({best}): "
                    + verdict(achieved >= GOAL_PEAK_FRACTION * peak32, f"{100 * achieved / peak32:.0f}%"))
    return "\n".join(out + table(["model", "GFLOP", "runtime", "forward ms", "GFLOP/s", "of peak"], rows)
                     + goal + [""] + int8_section(lim))


def int8_section(lim: LimitsResult) -> list[str]:
    """The int8 peak and each int8 runtime against it, with its steering error; [] when not measured."""
    if not lim.int8_matmul:
        return []
    peak8, ov32 = lim.int8_matmul["int8"].gflops, lim.int8_matmul["fp32"].gflops
    units = (", ".join(lim.cpu_int8_units) if lim.cpu_int8_units else
             "none: no VNNI (avx512_vnni, avx_vnni) or AMX, so int8 multiply-adds take AVX2 sequences; "
             "a VNNI or AMX CPU is needed for the int8 gains those units give")
    out = ["### int8", "",
           f"OpenVINO MatMul {lim.matmul_size}x{lim.matmul_size}, {lim.threads} threads: int8 (u8 x s8) "
           f"**{num(peak8)} GOP/s**, f32 {num(ov32)} GFLOP/s ({peak8 / ov32:.1f}x). int8 units on this CPU: "
           f"{units}.", "",
           f"Each int8 runtime on the seeded checkpoint, calibrated on {gate.CALIBRATION_FRAMES} frames of the real "
           f"recording (as `drive.py --precision int8 --calibration LOG`), forward pass timed beside OpenVINO "
           f"fp32; max |Δ| = largest steering difference from eager fp32 on {lim.int8_frames} real frames "
           f"(gate {runtimes.TOLERANCE:g})."
           + (f" These int8 figures (peak and table) were measured apart from the rows above: {lim.int8_measured}; "
              "compare them with each other, not with the rows above." if lim.int8_measured else ""), ""]
    rows = []
    for model, data in lim.models.items():
        reference = data.int8.get(" ".join(INT8_REFERENCE))
        for label, v in data.int8.items():
            if v.time is None or v.gflops is None:
                rows.append([model, label, "–", "–", "–", "–", "–", v.error or "–"])
                continue
            speedup = (f"{reference.time.median_ms / v.time.median_ms:.2f}x"
                       if reference is not None and reference.time is not None else "–")
            within = "yes" if (v.max_abs_diff or 0.0) <= runtimes.TOLERANCE else "**no**"
            rows.append([model, label, num(v.time.median_ms, 2), speedup, num(v.gflops),
                         f"{100 * v.gflops / peak8:.0f}%", f"{v.max_abs_diff:.1e}", within])
    above = any(v.gflops is not None and v.gflops > peak8 for d in lim.models.values() for v in d.int8.values())
    note = ["", "A share above 100%: this one MatMul, timed once, is no tight bound for the convolutions' "
                "int8 kernels (on a loaded machine, less still)."] if above else []
    return out + table(["model", "runtime", "forward ms", "vs openvino fp32", "GOP/s", "of int8 peak",
                        "max |Δ|", "within gate"], rows) + note + [""]


BENCHMARK = Benchmark(
    name="limits", help="machine limits: matmul GFLOP/s (fp32, bf16), each model's FLOPs and share of that peak",
    config=LimitsConfig, quick=quick_config, run=run, result=LimitsResult, section=section, page=True,
    reads=("latency",))
