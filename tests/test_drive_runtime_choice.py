"""The runtime `auto` picks: the registry's order, the accuracy gate, int8 kept only within it, and
derived model files that carry their checkpoint's hash."""
from __future__ import annotations

import logging
import os

import numpy as np
import pytest
import torch
from drive_wire import real_center_frames

from steering.checkpoint import load_model, save_checkpoint
from steering.inference import InferenceConfig, Predictor, conversion_cache, runtimes
from steering.inference.runtimes import Runtime, RuntimeSpec
from steering.model import ModelConfig, create_model, default_preprocess
from steering.preprocess import decode_jpeg

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return [decode_jpeg(jpeg) for jpeg in real_center_frames(6)]


def fake(name: str, rank: int, shift: float, built: list[str]) -> RuntimeSpec:
    """An eager runtime whose steering is off by `shift`, ranked `rank` for cpu auto; records builds."""
    def build(model: torch.nn.Module, ctx) -> Runtime:
        built.append(name)
        return Runtime(lambda x: model(x) + shift, "fp32")

    return RuntimeSpec(name=name, help="test runtime", devices=("cpu",), precisions=("fp32",), build=build,
                       preference={("cpu", "auto"): rank}, auto_precision={"cpu": "fp32"})


def reference(path, frames) -> np.ndarray:
    model, pre = load_model(path)
    from steering.preprocess import preprocess_frame

    with torch.inference_mode():
        return model(torch.stack([preprocess_frame(f, pre) for f in frames])).numpy()


def test_auto_skips_an_inaccurate_faster_runtime_and_never_builds_a_slower_one(make_checkpoint, monkeypatch, frames):
    built: list[str] = []
    monkeypatch.setitem(runtimes.RUNTIMES, "fast_but_wrong", fake("fast_but_wrong", 1, 0.05, built))
    monkeypatch.setitem(runtimes.RUNTIMES, "slow_and_right", fake("slow_and_right", 150, 0.0, built))
    monkeypatch.setitem(runtimes.RUNTIMES, "openvino", fake("openvino", 2, 0.0, built))  # known order, no real OV
    path = make_checkpoint("pilotnet")
    predictor = Predictor(path, InferenceConfig(device="cpu", warmup=0))
    assert built == ["fast_but_wrong", "openvino"], "first the fastest; the slower one is never tried"
    assert predictor.backend == "openvino"
    assert "fast_but_wrong fp32 missed the gate (max |Δ| 0.05)" in predictor.choice
    assert "first within the gate in the measured order fast_but_wrong > openvino > onnx > torch" in predictor.choice
    assert [predictor.predict(f) for f in frames] == pytest.approx(reference(path, frames), abs=1e-6)


def test_a_runtime_just_inside_the_gate_is_kept_and_one_just_outside_is_not(make_checkpoint, monkeypatch):
    built: list[str] = []
    monkeypatch.setitem(runtimes.RUNTIMES, "openvino", fake("openvino", 2, 0.011, built))
    monkeypatch.setitem(runtimes.RUNTIMES, "close_enough", fake("close_enough", 3, 0.009, built))
    predictor = Predictor(make_checkpoint("pilotnet"), InferenceConfig(device="cpu", warmup=0))
    assert (predictor.backend, built) == ("close_enough", ["openvino", "close_enough"])
    assert predictor.gate_max_diff == pytest.approx(0.009, abs=1e-6)


def test_gate_frames_come_from_the_training_log_when_it_is_readable(tmp_path, windows_log):
    torch.manual_seed(0)
    model = create_model("pilotnet").eval()
    config, pre = ModelConfig(name="pilotnet"), default_preprocess("pilotnet")
    with_log = save_checkpoint(tmp_path / "a.pt", model, config, pre, train_config={"logs": [str(windows_log)]})
    gone = save_checkpoint(tmp_path / "b.pt", model, config, pre, train_config={"logs": [str(tmp_path / "x.csv")]})
    assert "8 frames of self-recorded-windows-paths/driving_log.csv (the checkpoint's training log)" in \
        Predictor(with_log, InferenceConfig(device="cpu", backend="onnx", warmup=0)).choice
    assert "8 frames shipped with steering" in Predictor(gone, InferenceConfig(device="cpu", backend="onnx",
                                                                                warmup=0)).choice


def test_int8_calibrated_on_a_real_log_is_kept_within_the_gate(make_checkpoint, windows_log, frames):
    path = make_checkpoint("pilotnet")
    predictor = Predictor(path, InferenceConfig(device="cpu", backend="onnx", precision="int8",
                                                calibration=windows_log, warmup=0))
    assert (predictor.backend, predictor.precision) == ("onnx", "int8"), predictor.choice
    assert predictor.gate_max_diff <= runtimes.TOLERANCE
    got = np.array([predictor.predict(f) for f in frames])
    assert np.abs(got - reference(path, frames)).max() < 0.02  # other frames than the gate's: same order
    props = conversion_cache.onnx_props(conversion_cache.derived_path(path, ".int8.onnx").read_bytes())
    assert props[conversion_cache.HASH_KEY] == conversion_cache.checkpoint_hash(path)
    assert "64 calibration frames from 64 frames of self-recorded-windows-paths/driving_log.csv" in \
        props[conversion_cache.DETAIL_KEY]


def test_a_broken_int8_quantization_is_rejected_by_the_gate(make_checkpoint, windows_log, monkeypatch, frames):
    import onnx
    from onnx import numpy_helper

    from steering.inference import quantize

    original = quantize.quantize

    def broken(data: bytes, batch: np.ndarray, reduce_range: bool) -> bytes:
        """A quantization whose every scale is three times what calibration found."""
        model = onnx.load_model_from_string(original(data, batch, reduce_range))
        scales = [t for t in model.graph.initializer if t.name.endswith("_scale")]
        assert scales, "a QDQ model has scales"
        for tensor in scales:
            tensor.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tensor) * 3, tensor.name))
        return model.SerializeToString()

    monkeypatch.setattr(quantize, "quantize", broken)
    path = make_checkpoint("pilotnet")
    explicit = Predictor(path, InferenceConfig(device="cpu", backend="onnx", precision="int8",
                                               calibration=windows_log, warmup=0))
    assert (explicit.backend, explicit.precision) == ("onnx", "fp32")
    assert "onnx int8 missed the gate" in explicit.choice
    assert [explicit.predict(f) for f in frames] == pytest.approx(reference(path, frames), abs=1e-5)
    monkeypatch.delitem(runtimes.RUNTIMES, "openvino-nncf", raising=False)  # its own quantization, not broken here
    auto = Predictor(path, InferenceConfig(device="cpu", precision="int8", calibration=windows_log, warmup=0))
    assert auto.precision != "int8" and "int8 missed the gate" in auto.choice, auto.choice


def test_a_foreign_newer_onnx_beside_the_checkpoint_is_not_used(make_checkpoint, tmp_path, caplog, frames):
    path = make_checkpoint("pilotnet", seed=0)
    other = make_checkpoint("pilotnet", seed=1, filename="other.pt")
    Predictor(other, InferenceConfig(device="cpu", backend="onnx", warmup=0))  # writes other.onnx
    foreign = conversion_cache.derived_path(other, ".onnx")
    target = conversion_cache.derived_path(path, ".onnx")
    os.replace(foreign, target)  # another checkpoint's export, as model.onnx, newer than model.pt
    later = path.stat().st_mtime + 60
    os.utime(target, (later, later))
    with caplog.at_level(logging.INFO, logger="steering.inference.conversion_cache"):
        predictor = Predictor(path, InferenceConfig(device="cpu", backend="onnx", warmup=0))
    assert "model.onnx was derived from another checkpoint" in caplog.text
    assert [predictor.predict(f) for f in frames] == pytest.approx(reference(path, frames), abs=1e-5)
    props = conversion_cache.onnx_props(target.read_bytes())
    assert props[conversion_cache.HASH_KEY] == conversion_cache.checkpoint_hash(path), "rebuilt"
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="steering.inference.conversion_cache"):
        Predictor(path, InferenceConfig(device="cpu", backend="onnx", warmup=0))
    assert "not using" not in caplog.text, "the rebuilt file is reused"


def test_an_onnx_without_a_hash_is_rebuilt(make_checkpoint, caplog):
    path = make_checkpoint("pilotnet")
    model, _ = load_model(path)
    target = conversion_cache.derived_path(path, ".onnx")
    torch.onnx.export(model, torch.zeros(1, 3, 66, 200), str(target), dynamo=False)  # no metadata
    with caplog.at_level(logging.INFO, logger="steering.inference.conversion_cache"):
        Predictor(path, InferenceConfig(device="cpu", backend="onnx", warmup=0))
    assert "model.onnx carries no checkpoint hash" in caplog.text
    assert conversion_cache.HASH_KEY in conversion_cache.onnx_props(target.read_bytes())
