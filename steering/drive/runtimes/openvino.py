"""OpenVINO's CPU plugin on the checkpoint's ONNX export (fp32, or the int8 QDQ copy).

Precision auto lets OpenVINO choose: bf16 on CPUs with AVX512-BF16/AMX, f32 elsewhere; the
accuracy gate (`steering.drive.choice`) decides whether that choice is kept. The model comes from
the same hash-checked `.onnx` / `.int8.onnx` files ONNX Runtime uses (`runtimes.onnx`,
`runtimes.quantize`), so both runtimes run the very same graph.

One `ov.Core` per process (`core()`): every Core owns plugin state and a thread pool, and the
process never needs two.
"""
from __future__ import annotations

import logging
import threading

import torch

from steering.drive.runtimes import BuildContext, Runtime, RuntimeSpec, register

log = logging.getLogger(__name__)
_core = None
_core_lock = threading.Lock()


def core():
    """The process's one `openvino.Core`."""
    global _core
    with _core_lock:
        if _core is None:
            import openvino as ov

            _core = ov.Core()
        return _core


def build(model: torch.nn.Module, ctx: BuildContext) -> Runtime:
    try:
        import openvino  # noqa: F401
    except ImportError as exc:
        raise RuntimeError(SPEC.missing_message()) from exc
    from steering.drive.runtimes.onnx import exported_onnx

    if ctx.precision == "int8":
        from steering.drive.runtimes.quantize import int8_onnx

        data = int8_onnx(model, ctx)
    else:
        data = exported_onnx(model, ctx)
    return runtime_for(core().read_model(data), ctx.threads, ctx.precision)


def runtime_for(ov_model, threads: int, precision: str) -> Runtime:
    """A compiled CPU model (read from ONNX bytes or an IR file) as a Runtime at `precision`."""
    config = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
    hint = {"fp32": "f32", "bf16": "bf16"}.get(precision)  # auto, int8: OpenVINO's own choice
    if hint is not None:
        config["INFERENCE_PRECISION_HINT"] = hint
    compiled = core().compile_model(ov_model, "CPU", config)
    request = compiled.create_infer_request()

    def forward(x: torch.Tensor) -> torch.Tensor:
        request.infer({0: x.numpy()})
        return torch.from_numpy(request.get_output_tensor(0).data.copy())

    # The property prints as e.g. "<Type: 'bfloat16'>", "bf16" or "f32" depending on the version.
    chosen = str(compiled.get_property("INFERENCE_PRECISION_HINT")).lower()
    ran = "bf16" if "bf" in chosen else "fp16" if "f16" in chosen else "fp32"
    return Runtime(forward, "int8" if precision == "int8" else ran)


SPEC = register(RuntimeSpec(
    name="openvino", help="OpenVINO, CPU, on the ONNX export; precision auto = its own (bf16 on AMX/AVX512-BF16 "
                          "CPUs), int8 = the statically quantized copy",
    devices=("cpu",), precisions=("fp32", "bf16", "int8"), build=build, requires="openvino", extra="openvino",
    preference={("cpu", "auto"): 10, ("cpu", "fp32"): 10, ("cpu", "bf16"): 10, ("cpu", "int8"): 10},
    auto_precision={"cpu": "auto"}))
