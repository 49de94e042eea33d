"""INT8 post-training static quantization of the exported model, calibrated on driving-log frames.

ONNX Runtime's `quantize_static` (part of `onnxruntime`, already the fp32 runtime: no new
dependency; OpenVINO's NNCF would add a large package for the same result) writes a QDQ model:
weights int8 per output channel, activations uint8 with ranges from the calibration frames
(MinMax). ONNX Runtime runs it with its int8 kernels, and OpenVINO reads the same QDQ model as an
int8 graph. On CPUs without VNNI the weights use 7 bits (`reduce_range`), which avoids the
saturation of the AVX2 u8 x s8 multiply-add.

The ONNX runtime (`runtimes.onnx.int8_onnx`) caches the result as `<checkpoint stem>.int8.onnx`,
stamped with the checkpoint's hash and a description of the calibration (source, frame count,
digest of the frames): a new checkpoint or other calibration frames rebuild it. Whether it is used
at all is the accuracy gate's decision (`steering.inference.gate`): steering within
`runtimes.TOLERANCE` of eager fp32, or fp32 instead.
"""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

from steering.inference.cpu import cpu_flags

INT8_UNITS = ("avx512_vnni", "avx_vnni", "amx_int8")  # CPU flags of int8 multiply-add units (VNNI, AMX)


def needs_reduce_range() -> bool:
    """7-bit weights on CPUs without VNNI (the AVX2 u8 x s8 multiply-add saturates at 8 bits)."""
    return not (cpu_flags() & set(INT8_UNITS))


def quantize(fp32_onnx: bytes, batch: np.ndarray, reduce_range: bool) -> bytes:
    """`quantize_static` on model bytes; `batch` (N, 3, H, W) float32 are the calibration inputs."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    model = onnx.load_model_from_string(fp32_onnx)
    input_name = model.graph.input[0].name

    class Frames(CalibrationDataReader):
        def __init__(self) -> None:
            self._items = iter(batch[i:i + 1] for i in range(len(batch)))

        def get_next(self) -> dict[str, np.ndarray] | None:
            item = next(self._items, None)
            return None if item is None else {input_name: item}

    root = logging.getLogger()
    level = root.level
    with tempfile.TemporaryDirectory(prefix="steering-int8-") as tmp:
        source, target = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        source.write_bytes(fp32_onnx)
        root.setLevel(max(level, logging.ERROR))  # quantize_static's advice goes to the root logger
        try:
            quantize_static(str(source), str(target), Frames(), quant_format=QuantFormat.QDQ, per_channel=True,
                            reduce_range=reduce_range, activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)
        finally:
            root.setLevel(level)
        return target.read_bytes()
