"""OpenVINO's CPU plugin on the checkpoint's ONNX export (fp32, or the int8 QDQ copy).

Precision auto lets OpenVINO choose: bf16 on CPUs with AVX512-BF16/AMX, f32 elsewhere; the
accuracy gate (`steering.inference.gate`) decides whether that choice is kept. The model comes from
the same hash-checked `.onnx` / `.int8.onnx` files ONNX Runtime uses (`runtimes.onnx`,
`steering.inference.quantize`), so both runtimes run the very same graph.

One `ov.Core` per process (`core()`): every Core owns plugin state and a thread pool, and the
process never needs two.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch

from steering.checkpoint import CheckpointError
from steering.inference.runtimes import BuildContext, ExportFormat, Runtime, RuntimeSpec, register
from steering.inference.runtimes.onnx import export_bytes, exported_onnx, int8_onnx

log = logging.getLogger(__name__)
_core = None
_core_lock = threading.Lock()


def core() -> Any:  # an openvino.Core
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
    data = int8_onnx(model, ctx) if ctx.precision == "int8" else exported_onnx(model, ctx)
    return runtime_for(core().read_model(data), ctx.threads, ctx.precision)


def write_file(model: torch.nn.Module, example: torch.Tensor, target: Path, batch: np.ndarray | None,
               calibration: str) -> str:
    """IR `.xml` + `.bin`, read from the ONNX export's bytes and saved with fp32 weights."""
    import openvino as ov  # optional package (steering[openvino]): only when writing this format

    data, detail = export_bytes(model, example, batch, calibration)
    # fp32 weights as exported: save_model would otherwise compress them to fp16
    ov.save_model(core().read_model(data), str(target), compress_to_fp16=False)
    return f"{detail}; OpenVINO IR (openvino {ov.__version__}, read from the ONNX export)"


def load_file(path: Path, precision: str, threads: int, device: torch.device) -> Runtime:
    try:
        ov_model = core().read_model(str(path))  # reads the .bin beside the .xml
    except Exception as exc:  # noqa: BLE001 - OpenVINO raises its own types
        raise CheckpointError(f"{path}: OpenVINO could not read the IR: {exc}") from exc
    return runtime_for(ov_model, threads, precision)  # fp32: f32 hint, not OpenVINO's bf16


def runtime_for(ov_model: Any, threads: int, precision: str) -> Runtime:
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
    auto_precision={"cpu": "auto"},
    export=ExportFormat(suffix=".xml", help="OpenVINO IR .xml + .bin", write=write_file, load=load_file, int8=True)))
