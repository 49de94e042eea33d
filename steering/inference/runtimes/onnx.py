"""ONNX Runtime on CPU: fp32 on the exported model, int8 on its statically quantized copy.

The export is `<checkpoint stem>.onnx` beside the checkpoint when that file carries the
checkpoint's content hash, else a fresh `torch.onnx.export` (written there for the next start,
see `conversion_cache`); int8 runs its static quantization (`steering.inference.quantize`), cached
the same way. OpenVINO reads the same files (`runtimes.openvino`).
"""
from __future__ import annotations

import hashlib
import io
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from steering.checkpoint import CheckpointError
from steering.inference import conversion_cache, quantize
from steering.inference.runtimes import BuildContext, ExportFormat, Runtime, RuntimeSpec, register

log = logging.getLogger(__name__)


def exported_onnx(model: torch.nn.Module, ctx: BuildContext) -> bytes:
    """The fp32 ONNX model of this checkpoint: the stamped file beside it, or a fresh export."""
    sha = conversion_cache.checkpoint_hash(ctx.checkpoint)
    path = conversion_cache.derived_path(ctx.checkpoint, ".onnx")
    data = conversion_cache.load_onnx(path, sha)
    if data is not None:
        return data
    detail = "fp32 export (torch.onnx.export, opset 17)"
    data = conversion_cache.stamp_onnx(onnx_bytes(model, ctx.example()), sha, detail)
    conversion_cache.write_atomically(path, data)
    return data


def calibration_batch(ctx: BuildContext) -> tuple[np.ndarray, str]:
    """The int8 calibration frames (N, 3, H, W) float32 and a description that changes with them
    (count, source, digest of the frames): part of every int8 model's cache stamp."""
    if ctx.calibration is None:
        raise RuntimeError("int8 needs calibration frames: pass --calibration driving_log.csv (or use a "
                           "checkpoint whose training logs are still where train.py read them)")
    frames, source = ctx.calibration()
    batch = np.stack([np.asarray(f, dtype=np.float32) for f in frames])  # (N, 3, H, W)
    digest = hashlib.sha256(batch.tobytes()).hexdigest()[:16]
    return batch, f"{len(batch)} calibration frames from {source}, frames sha256 {digest}"


def int8_onnx(model: torch.nn.Module, ctx: BuildContext) -> bytes:
    """The int8 QDQ model for this checkpoint and calibration: cached beside it, or built now."""
    batch, calibration = calibration_batch(ctx)
    reduce_range = quantize.needs_reduce_range()
    detail = (f"int8 static QDQ (onnxruntime quantize_static, MinMax, per-channel, reduce_range={reduce_range}), "
              f"{calibration}")
    sha = conversion_cache.checkpoint_hash(ctx.checkpoint)
    path = conversion_cache.derived_path(ctx.checkpoint, ".int8.onnx")
    data = conversion_cache.load_onnx(path, sha, detail)
    if data is not None:
        return data
    data = conversion_cache.stamp_onnx(quantize.quantize(exported_onnx(model, ctx), batch, reduce_range), sha, detail)
    conversion_cache.write_atomically(path, data)
    log.info("quantized %s to int8 on %s", ctx.checkpoint.name, calibration)
    return data


def onnx_bytes(model: torch.nn.Module, example: torch.Tensor) -> bytes:
    """`torch.onnx.export` to bytes: opset 17, input "image" of `example`'s shape, output "steering"."""
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, example, buffer, input_names=["image"], output_names=["steering"],
                          opset_version=17, dynamo=False)
    return buffer.getvalue()


def export_bytes(model: torch.nn.Module, example: torch.Tensor, batch: np.ndarray | None,
                 calibration: str) -> tuple[bytes, str]:
    """(ONNX bytes, how they were made) for `python -m steering.export`: fp32, or int8 when `batch` is given."""
    data = onnx_bytes(model, example)
    detail = "torch.onnx.export, opset 17, fp32"
    if batch is not None:
        reduce_range = quantize.needs_reduce_range()
        data = quantize.quantize(data, batch, reduce_range)
        detail = (f"torch.onnx.export, opset 17, then int8 static QDQ (onnxruntime quantize_static, MinMax, "
                  f"per-channel, reduce_range={reduce_range}) on {len(batch)} calibration frames of {calibration}")
    return data, detail


def write_file(model: torch.nn.Module, example: torch.Tensor, target: Path, batch: np.ndarray | None,
               calibration: str) -> str:
    data, detail = export_bytes(model, example, batch, calibration)
    target.write_bytes(data)  # the record goes into its metadata with the sidecar (embed_record)
    return detail


def load_file(path: Path, precision: str, threads: int, device: torch.device) -> Runtime:
    return runtime_for(session(path.read_bytes(), threads, str(path)), precision)


def embed_record(target: Path, text: str, checkpoint_sha256: str, detail: str) -> None:
    """The export record in the model's metadata_props (the graph unchanged): a lone .onnx still drives."""
    stamped = conversion_cache.stamp_onnx(target.read_bytes(), checkpoint_sha256, detail,
                                          {conversion_cache.RECORD_KEY: text})
    target.write_bytes(stamped)


def embedded_record(path: Path) -> str | None:
    return conversion_cache.onnx_props(path.read_bytes()).get(conversion_cache.RECORD_KEY)


def session(data: bytes, threads: int, origin: str) -> Any:  # an onnxruntime.InferenceSession
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


def runtime_for(sess: Any, precision: str) -> Runtime:
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
        return runtime_for(session(int8_onnx(model, ctx), ctx.threads, str(ctx.checkpoint)), "int8")
    return runtime_for(session(exported_onnx(model, ctx), ctx.threads, str(ctx.checkpoint)), "fp32")


SPEC = register(RuntimeSpec(
    name="onnx", help="ONNX Runtime, CPU: fp32 on the exported model, int8 on a statically quantized copy",
    devices=("cpu",), precisions=("fp32", "int8"), build=build, requires="onnxruntime", extra="onnx",
    preference={("cpu", "auto"): 20, ("cpu", "fp32"): 20, ("cpu", "int8"): 20},
    auto_precision={"cpu": "fp32"},
    export=ExportFormat(suffix=".onnx", help=".onnx (opset 17; the export record also in its metadata)",
                        write=write_file, load=load_file, int8=True, embed_record=embed_record,
                        embedded_record=embedded_record)))
