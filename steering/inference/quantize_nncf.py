"""INT8 for OpenVINO by NNCF post-training quantization, held to the accuracy gate's own metric.

Why beside `steering.inference.quantize` (ONNX Runtime's `quantize_static`): that QDQ copy moved a
seeded ResNet-50's steering by more than `runtimes.TOLERANCE`, so the gate refused it
(docs/benchmarks.md). Here, on the same calibration frames (the checkpoint's training-log frames,
`BuildContext.calibration`, as the ONNX int8 path uses):

1. `nncf.quantize` on the OpenVINO model of the ONNX export: int8 weights per output channel,
   activations from the frames' statistics, fast bias correction; the regression head (its
   Linear/MatMul and BatchNorm layers, 2048 -> 256 -> ... -> 1: under 0.1% of ResNet-50's FLOPs)
   stays fp32. On a seeded ResNet-50 (docs/benchmarks.md), with the head quantized the steering
   moved by 0.027 on the gate frames, more than the gate allows; with only its Linear layers fp32,
   0.008; with all of it fp32, 0.002. NNCF's MIXED preset and full bias correction did no better.
   SmoothQuant stays off (NNCF applies it to transformers only; `model_type` is left unset).
2. If that moves the steering on the calibration frames by more than `target` (the caller's: below
   the gate, which then still judges on its own frames), `nncf.quantize_with_accuracy_control` with the
   gate's metric (-max |steering - eager fp32|) as validation function puts the most sensitive
   layers back to fp32 until the calibration frames are within `target`.

Caching and the gate are the caller's (`runtimes.openvino_nncf`). `nncf` is imported only here and
only when quantizing: it takes seconds to import.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

# The regression head: `SteeringModel.head` (ONNX node names /head/...) and any MatMul (Linear);
# every convolution of the backbone is quantized.
HEAD_PATTERNS, HEAD_TYPES = ("^/head/.*",), ("MatMul",)


def method(target: float) -> str:
    """How `quantize` works, for the cache stamp: a change here rebuilds every cached model."""
    return f"NNCF PTQ, head fp32, accuracy control to max |Δ| {target:g} on the calibration frames if needed"


def max_diff(compiled: Any, items: Iterable[tuple[np.ndarray, float]]) -> tuple[float, list[float]]:
    """The gate's metric as NNCF's validation function: (-max |Δ|, -|Δ| per frame) of a compiled
    OpenVINO model on (frame (3, H, W), eager fp32 steering) pairs; higher is better."""
    request = compiled.create_infer_request()
    diffs = []
    for frame, want in items:
        request.infer({0: frame[None]})  # (1, 3, H, W)
        diffs.append(abs(float(request.get_output_tensor(0).data.reshape(-1)[0]) - float(want)))
    return -max(diffs), [-d for d in diffs]


def fake_quantizers(ov_model: Any) -> int:
    """How many FakeQuantize ops (NNCF's int8 points) a model has; 0: it runs entirely in float."""
    return sum(op.get_type_name() == "FakeQuantize" for op in ov_model.get_ops())


def quantize(ov_model: Any, batch: np.ndarray, reference: np.ndarray, core: Any, target: float) -> tuple[Any, str]:
    """(int8 `openvino.Model`, one line on how it went) for `ov_model` (fp32), calibrated on `batch`
    (N, 3, H, W) float32 whose eager fp32 steering is `reference` (N,); `core` compiles for the check."""
    import nncf  # optional package (steering[openvino]); slow to import

    nncf_log = logging.getLogger("nncf")  # NNCF prints every step at INFO to stdout through its own handler
    level = nncf_log.level
    nncf_log.setLevel(logging.WARNING)
    try:
        return _quantize(nncf, ov_model, batch, reference, core, target)
    finally:
        nncf_log.setLevel(level)


def _quantize(nncf: Any, ov_model: Any, batch: np.ndarray, reference: np.ndarray, core: Any,
              target: float) -> tuple[Any, str]:
    calibration = nncf.Dataset(list(batch), lambda frame: frame[None])  # items (1, 3, H, W)
    validation = nncf.Dataset(list(zip(batch, reference.reshape(-1), strict=True)))
    head = nncf.IgnoredScope(patterns=list(HEAD_PATTERNS), types=list(HEAD_TYPES), validate=False)
    quantized = nncf.quantize(ov_model, calibration, subset_size=len(batch), ignored_scope=head)
    metric, _ = max_diff(core.compile_model(quantized, "CPU"), validation.get_inference_data())
    if -metric <= target:
        return quantized, f"PTQ: max |Δ| {-metric:.2g} on the {len(batch)} calibration frames"
    log.info("int8 PTQ moves the steering by %.3g on the calibration frames (> %g); quantizing with "
             "accuracy control", -metric, target)
    quantized = nncf.quantize_with_accuracy_control(
        ov_model, calibration, validation, max_diff, max_drop=target, drop_type=nncf.DropType.ABSOLUTE,
        subset_size=len(batch), ignored_scope=head)
    if not fake_quantizers(quantized):
        raise RuntimeError(f"NNCF accuracy control put every layer back to fp32 (PTQ moved the steering "
                           f"{-metric:.2g} on the calibration frames): no int8 model within {target:g}")
    after, _ = max_diff(core.compile_model(quantized, "CPU"), validation.get_inference_data())
    return quantized, (f"PTQ moved the steering {-metric:.2g}, accuracy control brought it to {-after:.2g} "
                       f"on the {len(batch)} calibration frames")
