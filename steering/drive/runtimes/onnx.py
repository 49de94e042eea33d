"""ONNX Runtime on CPU: fp32 on the exported model, int8 on its statically quantized copy.

The export is `<checkpoint stem>.onnx` beside the checkpoint when that file carries the
checkpoint's content hash, else a fresh `torch.onnx.export` (written there for the next start,
see `derived`). OpenVINO reads the same file (`runtimes.openvino`).
"""
from __future__ import annotations

import io
import warnings

import torch

from steering.checkpoint import CheckpointError
from steering.drive.runtimes import BuildContext, Runtime, RuntimeSpec, derived, register


def exported_onnx(model: torch.nn.Module, ctx: BuildContext) -> bytes:
    """The fp32 ONNX model of this checkpoint: the stamped file beside it, or a fresh export."""
    sha = derived.checkpoint_hash(ctx.checkpoint)
    path = derived.derived_path(ctx.checkpoint, ".onnx")
    data = derived.load_onnx(path, sha)
    if data is not None:
        return data
    data = derived.stamp_onnx(onnx_bytes(model, ctx.example()), sha, "fp32 export (torch.onnx.export, opset 17)")
    derived.write_atomically(path, data)
    return data


def onnx_bytes(model: torch.nn.Module, example: torch.Tensor) -> bytes:
    """`torch.onnx.export` to bytes: opset 17, input "image" of `example`'s shape, output "steering"."""
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, example, buffer, input_names=["image"], output_names=["steering"],
                          opset_version=17, dynamo=False)
    return buffer.getvalue()


def session(data: bytes, threads: int, origin: str):
    """An ONNX Runtime CPU session for the model bytes, `threads` intra-op threads, no spinning."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # Spinning pool threads keep the cores busy after each call, right when the reply goes out
    # and the simulator renders its next frame on the same cores.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        raise CheckpointError(f"{origin}: ONNX Runtime could not load the model: {exc}") from exc


def runtime_for(sess, precision: str) -> Runtime:
    input_name = sess.get_inputs()[0].name

    def forward(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(sess.run(None, {input_name: x.numpy()})[0])

    return Runtime(forward, precision)


def build(model: torch.nn.Module, ctx: BuildContext) -> Runtime:
    try:
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise RuntimeError(SPEC.missing_message()) from exc
    if ctx.precision == "int8":
        from steering.drive.runtimes import quantize

        return runtime_for(session(quantize.int8_onnx(model, ctx), ctx.threads, str(ctx.checkpoint)), "int8")
    return runtime_for(session(exported_onnx(model, ctx), ctx.threads, str(ctx.checkpoint)), "fp32")


SPEC = register(RuntimeSpec(
    name="onnx", help="ONNX Runtime, CPU: fp32 on the exported model, int8 on a statically quantized copy",
    devices=("cpu",), precisions=("fp32", "int8"), build=build, requires="onnxruntime", extra="onnx",
    preference={("cpu", "auto"): 20, ("cpu", "fp32"): 20, ("cpu", "int8"): 20},
    auto_precision={"cpu": "fp32"}))
