"""NNCF's int8 (`--backend openvino-nncf`): really int8, within the accuracy gate on the gate frames,
cached with its checkpoint's hash and calibration, and refused by the gate when its scales are broken."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from steering.checkpoint import load_model
from steering.inference import InferenceConfig, Predictor, conversion_cache, gate, quantize_nncf, runtimes
from steering.inference.runtimes import openvino_nncf
from steering.inference.runtimes.openvino import core
from steering.preprocess import preprocess_frame

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("openvino") is None or importlib.util.find_spec("nncf") is None,
    reason="openvino or nncf not installed (pip install 'steering[openvino]')")


def nncf_int8(calibration) -> InferenceConfig:
    """drive.py --device cpu --backend openvino-nncf --precision int8 --calibration LOG"""
    return InferenceConfig(device="cpu", backend="openvino-nncf", precision="int8", calibration=calibration,
                           threads=1, warmup=0)


def eager_on_gate_frames(path) -> tuple[list[np.ndarray], np.ndarray]:
    """A fresh checkpoint records no training logs: the gate compares on the shipped frames."""
    frames = gate.shipped_frames()[0]
    model, pre = load_model(path)
    with torch.inference_mode():
        return frames, model(torch.stack([preprocess_frame(f, pre) for f in frames])).numpy()


def test_nncf_int8_pilotnet_is_int8_and_within_the_gate_on_the_gate_frames(make_checkpoint, windows_log):
    path = make_checkpoint("pilotnet")
    predictor = Predictor(path, nncf_int8(windows_log))
    assert (predictor.backend, predictor.precision) == ("openvino-nncf", "int8"), predictor.choice
    frames, want = eager_on_gate_frames(path)
    got = np.array([predictor.predict(f) for f in frames])
    measured = float(np.abs(got - want).max())
    assert measured <= runtimes.TOLERANCE
    assert predictor.gate_max_diff == pytest.approx(measured, abs=1e-6), "the gate measured these very frames"
    assert measured > 1e-6, "an int8 model steers a little differently from fp32, not identically"

    cached = core().read_model(str(conversion_cache.derived_path(path, ".nncf-int8.xml")))
    assert quantize_nncf.fake_quantizers(cached) == 5, "PilotNet's five convolutions run int8"
    head = [op for op in cached.get_ops() if op.get_type_name() == "MatMul"]
    assert len(head) == 4 and all(m.input_value(0).get_node().get_type_name() != "FakeQuantize" for m in head), \
        "the four Linear layers of the head stay fp32"
    info = conversion_cache.ir_info(cached)
    assert info[conversion_cache.HASH_KEY] == conversion_cache.checkpoint_hash(path)
    assert "64 calibration frames from 64 frames of self-recorded-windows-paths/driving_log.csv" in \
        info[conversion_cache.DETAIL_KEY]


def test_the_cached_nncf_model_is_reused_and_other_calibration_frames_rebuild_it(make_checkpoint, windows_log,
                                                                                  lake_log, monkeypatch):
    path = make_checkpoint("pilotnet")
    Predictor(path, nncf_int8(windows_log))
    calls = []
    original = quantize_nncf.quantize
    monkeypatch.setattr(quantize_nncf, "quantize", lambda *a, **k: calls.append(1) or original(*a, **k))
    again = Predictor(path, nncf_int8(windows_log))
    assert (again.precision, calls) == ("int8", []), "same checkpoint, same frames: read from the cache"
    Predictor(path, nncf_int8(lake_log))
    assert calls == [1], "other calibration frames: quantized again"
    info = conversion_cache.ir_info(core().read_model(str(conversion_cache.derived_path(path, ".nncf-int8.xml"))))
    assert "lake-two-laps-mouse/driving_log.csv" in info[conversion_cache.DETAIL_KEY]


def corrupt_scales(ov_model, factor: float):
    """Every FakeQuantize's output range times `factor`: int8 values dequantized with wrong scales."""
    import openvino.opset13 as ops

    for fq in [op for op in ov_model.get_ops() if op.get_type_name() == "FakeQuantize"]:
        for port in (3, 4):  # output_low, output_high
            values = np.array(fq.input_value(port).get_node().get_data() * factor, dtype=np.float32)
            fq.input(port).replace_source_output(ops.constant(values).output(0))
    ov_model.validate_nodes_and_infer_types()
    return ov_model


def test_the_gate_refuses_nncf_int8_with_corrupted_scales_and_steers_fp32(make_checkpoint, windows_log,
                                                                          monkeypatch):
    original = quantize_nncf.quantize

    def broken(*args, **kwargs):
        model, how = original(*args, **kwargs)
        return corrupt_scales(model, 3.0), how

    monkeypatch.setattr(quantize_nncf, "quantize", broken)
    path = make_checkpoint("pilotnet")
    predictor = Predictor(path, nncf_int8(windows_log))
    assert (predictor.backend, predictor.precision) == ("openvino-nncf", "fp32"), predictor.choice
    assert "openvino-nncf int8 missed the gate (max |Δ|" in predictor.choice
    frames, want = eager_on_gate_frames(path)
    assert [predictor.predict(f) for f in frames] == pytest.approx(want, abs=1e-5), "the fp32 it fell back to"

    broken_model = core().compile_model(core().read_model(
        str(conversion_cache.derived_path(path, ".nncf-int8.xml"))), "CPU")
    request = broken_model.create_infer_request()
    steering = []
    for frame in frames:
        request.infer({0: preprocess_frame(frame, load_model(path)[1]).numpy()[None]})
        steering.append(float(request.get_output_tensor(0).data.reshape(-1)[0]))
    assert np.abs(np.array(steering) - want).max() > runtimes.TOLERANCE, "the cached model is the broken one"


def test_auto_int8_times_nncf_against_fp32_and_names_both(make_checkpoint, windows_log, monkeypatch):
    # Only the NNCF runtime and eager torch: the choice is between its int8 and fp32, both timed.
    monkeypatch.setattr(runtimes, "RUNTIMES", {"openvino-nncf": openvino_nncf.SPEC,
                                               "torch": runtimes.RUNTIMES["torch"]})
    predictor = Predictor(make_checkpoint("pilotnet"), InferenceConfig(device="cpu", precision="int8",
                                                                        calibration=windows_log, warmup=0))
    assert "fastest measured of openvino-nncf int8 " in predictor.choice and " torch fp32 " in predictor.choice, \
        predictor.choice
    assert predictor.gate_max_diff <= runtimes.TOLERANCE
