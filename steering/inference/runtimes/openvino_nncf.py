"""OpenVINO on CPU at int8 quantized by NNCF (`steering.inference.quantize_nncf`); fp32 is OpenVINO's.

The int8 model starts from the checkpoint's fp32 ONNX export (`runtimes.onnx.exported_onnx`),
is calibrated on the same frames as the ONNX int8 copy (`runtimes.onnx.calibration_batch`: the
checkpoint's training logs or `--calibration`), and is cached beside the checkpoint as
`<stem>.nncf-int8.xml` + `.bin`, stamped in its rt_info with the checkpoint's hash and a
description of the method and the calibration frames (`conversion_cache`): another checkpoint,
other frames or another method rebuild it. Whether it steers is the accuracy gate's decision, as
for every runtime; with `--precision int8` auto tries it first and keeps it only where it is also
faster than the fp32 runtime auto would pick otherwise (`steering.inference.gate`).

fp32 here is the `openvino` runtime's fp32, so an explicit `--backend openvino-nncf` whose int8
misses the gate falls back to it like any other backend.
"""
from __future__ import annotations

import logging
from typing import Any

import torch

from steering.inference import conversion_cache, quantize_nncf
from steering.inference.runtimes import TOLERANCE, BuildContext, Runtime, RuntimeSpec, register
from steering.inference.runtimes import openvino as ov_runtime
from steering.inference.runtimes.onnx import calibration_batch, exported_onnx

log = logging.getLogger(__name__)

SUFFIX = ".nncf-int8.xml"
# max |Δ| on the calibration frames before accuracy control steps in; below the gate because frames
# it was not calibrated on move more (seeded ResNet-50: 0.0063 on 200 frames, 0.0052 on the 64 calibration ones)
TARGET = 0.75 * TOLERANCE


def nncf_int8(model: torch.nn.Module, ctx: BuildContext) -> Any:  # an openvino.Model
    """The NNCF int8 model for this checkpoint and calibration: cached beside it, or quantized now."""
    batch, calibration = calibration_batch(ctx)
    detail = f"int8 {quantize_nncf.method(TARGET)}, {calibration}"
    sha = conversion_cache.checkpoint_hash(ctx.checkpoint)
    path = conversion_cache.derived_path(ctx.checkpoint, SUFFIX)
    cached = conversion_cache.load_ir(path, sha, detail, ov_runtime.core())
    if cached is not None:
        return cached
    with torch.inference_mode():
        reference = model(torch.from_numpy(batch)).numpy()  # (N,) eager fp32: what int8 must stay near
    fp32 = ov_runtime.core().read_model(exported_onnx(model, ctx))
    quantized, how = quantize_nncf.quantize(fp32, batch, reference, ov_runtime.core(), TARGET)
    conversion_cache.stamp_ir(quantized, sha, detail)
    conversion_cache.write_ir(path, quantized)
    log.info("quantized %s to int8 with NNCF on %s: %s", ctx.checkpoint.name, calibration, how)
    return quantized


def build(model: torch.nn.Module, ctx: BuildContext) -> Runtime:
    if ctx.precision != "int8":
        return ov_runtime.build(model, ctx)
    # asked, not imported: nncf takes ~2 s to import and a cached int8 model does not need it
    if not (SPEC.installed() and ov_runtime.SPEC.installed()):
        raise RuntimeError(SPEC.missing_message())
    return ov_runtime.runtime_for(nncf_int8(model, ctx), ctx.threads, "int8")


SPEC = register(RuntimeSpec(
    name="openvino-nncf", help="OpenVINO, CPU, int8 quantized by NNCF on the calibration frames (head fp32, "
                               "accuracy-controlled below the gate); fp32 = openvino's",
    devices=("cpu",), precisions=("fp32", "int8"), build=build, requires="nncf", extra="openvino",
    preference={("cpu", "int8"): 5}, auto_precision={"cpu": "int8"}))
