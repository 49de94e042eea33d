"""ONNX Runtime on CPU, fp32: the model exported on the fly (or read from `<checkpoint>.onnx`)."""
from __future__ import annotations

import io
import warnings

import torch

from steering.checkpoint import CheckpointError
from steering.drive.runtimes import BuildContext, Runtime, RuntimeSpec, register


def build(model: torch.nn.Module, ctx: BuildContext) -> Runtime:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise RuntimeError(SPEC.missing_message()) from exc
    onnx_path = ctx.checkpoint.with_suffix(".onnx")
    if onnx_path.is_file() and onnx_path.stat().st_mtime >= ctx.checkpoint.stat().st_mtime:
        data = onnx_path.read_bytes()
    else:
        buffer = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, ctx.example(), buffer, input_names=["image"], output_names=["steering"],
                              opset_version=17, dynamo=False)
        data = buffer.getvalue()
    options = ort.SessionOptions()
    options.intra_op_num_threads = ctx.threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        raise CheckpointError(f"{onnx_path if onnx_path.is_file() else ctx.checkpoint}: ONNX Runtime "
                              f"could not load the exported model: {exc}") from exc
    input_name = session.get_inputs()[0].name  # "image" when exported here; a model.onnx may differ

    def forward(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run(None, {input_name: x.numpy()})[0])

    return Runtime(forward, "fp32")


SPEC = register(RuntimeSpec(
    name="onnx", help="ONNX Runtime, CPU fp32, exported on the fly or read from model.onnx",
    devices=("cpu",), precisions=("fp32",), build=build, requires="onnxruntime", extra="onnx",
    preference={("cpu", "fp32"): 10}))
