"""OpenVINO's CPU plugin on the model converted from PyTorch (`openvino.convert_model`).

Precision auto lets OpenVINO choose (bf16 on CPUs with AVX512-BF16/AMX); a start-up check against
eager fp32 compiles f32 instead if its choice moves the steering by TOLERANCE or more.
"""
from __future__ import annotations

import logging
import warnings

import torch

from steering.drive import runtimes
from steering.drive.runtimes import BuildContext, Runtime, RuntimeSpec, register

log = logging.getLogger(__name__)


def build(model: torch.nn.Module, ctx: BuildContext) -> Runtime:
    try:
        import openvino as ov
    except ImportError as exc:
        raise RuntimeError(SPEC.missing_message()) from exc
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        converted = ov.convert_model(model, example_input=ctx.example())
    # A fixed random input with the preprocessing's range, to compare with eager fp32 once.
    probe = torch.rand(1, *ctx.preprocess.input_shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.inference_mode():
        want = float(model(probe).reshape(-1)[0])
    requested = {"auto": None, "fp32": "f32", "bf16": "bf16"}[ctx.precision]
    for hint in (requested, "f32") if requested is None else (requested,):
        config = {"INFERENCE_NUM_THREADS": ctx.threads, "PERFORMANCE_HINT": "LATENCY"}
        if hint is not None:
            config["INFERENCE_PRECISION_HINT"] = hint
        compiled = ov.Core().compile_model(converted, "CPU", config)
        request = compiled.create_infer_request()

        def forward(x: torch.Tensor, request=request) -> torch.Tensor:
            request.infer({0: x.numpy()})
            return torch.from_numpy(request.get_output_tensor(0).data.copy())

        chosen = str(compiled.get_property("INFERENCE_PRECISION_HINT")).lower()
        error = abs(float(forward(probe).reshape(-1)[0]) - want)
        if error < runtimes.TOLERANCE or hint is not None:
            break
        log.warning("openvino chose %s, which moves the steering by %.3g (>= %g): compiling f32 instead",
                    chosen, error, runtimes.TOLERANCE)
    # The property prints as e.g. "<Type: 'bfloat16'>", "bf16" or "f32" depending on the version.
    precision = "bf16" if "bf" in chosen else "fp16" if "f16" in chosen else "fp32"
    return Runtime(forward, precision)


SPEC = register(RuntimeSpec(
    name="openvino", help="OpenVINO, CPU, converted on the fly, its own precision checked against fp32 "
                          "(fastest measured; opt-in: pip install 'steering[openvino]')",
    devices=("cpu",), precisions=("fp32", "bf16"), build=build, requires="openvino", extra="openvino",
    auto_precision={"cpu": "auto"}))
