"""Feature cache equals the uncached path; resume equals an uninterrupted run; NaN stops cleanly."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from steering.checkpoint import load_checkpoint
from steering.model import default_preprocess
from steering.training import NonFiniteLossError, TrainConfig, fit
from steering.training.feature_cache import CachedFeatureDataset, FlipDataset, compute_features, flip_mask
from steering.training.synthetic import TensorPairs, line_bundle

PRE = default_preprocess("pilotnet")


@pytest.fixture(scope="module")
def bundle():
    return line_bundle(72, PRE, seed=5)


def base_config(tmp_path, **changes) -> TrainConfig:
    values = dict(model="pilotnet", pretrained="none", epochs=3, batch_size=16, lr=1e-3, backbone_lr=1e-3,
                  device="cpu", progress=False, out=str(tmp_path / "run"), seed=7)
    values.update(changes)
    return TrainConfig(**values)


def comparable(history: list[dict]) -> list[list[float]]:
    return [[h["train_loss"], h["val_loss"], h["val_mae"], h["lr"]["head"], h["lr"]["backbone"]] for h in history]


def test_flip_mask_depends_only_on_seed_and_epoch():
    a, b = flip_mask(1, 3, 500, 0.5), flip_mask(1, 3, 500, 0.5)
    assert np.array_equal(a, b) and 200 < a.sum() < 300
    assert not np.array_equal(a, flip_mask(1, 4, 500, 0.5))


def test_cached_features_are_the_backbone_outputs_of_each_image_and_its_mirror():
    torch.manual_seed(0)
    from steering.model import create_model

    backbone = create_model("pilotnet").backbone.eval()
    images, steering = torch.randn(5, 3, 66, 200), torch.tensor([0.1, -0.2, 0.3, 0.0, 0.5])
    cache = compute_features(backbone, TensorPairs(images, steering), torch.device("cpu"), batch_size=2, progress=False)
    with torch.no_grad():
        assert torch.allclose(cache.features, backbone(images), atol=1e-5)
        assert torch.allclose(cache.flipped, backbone(images.flip(-1)), atol=1e-5)
    dataset = CachedFeatureDataset(cache, probability=1.0)
    feature, label = dataset[1]
    assert torch.equal(feature, cache.flipped[1]) and float(label) == pytest.approx(0.2)
    image, label = FlipDataset(TensorPairs(images, steering), probability=1.0)[2]
    assert torch.equal(image, images[2].flip(-1)) and float(label) == pytest.approx(-0.3)


def test_frozen_training_from_the_cache_equals_training_through_the_backbone(bundle, tmp_path):
    cached = fit(base_config(tmp_path / "a", strategy="frozen", augment="flip", cache=True), bundle)
    uncached = fit(base_config(tmp_path / "b", strategy="frozen", augment="flip", cache=False), bundle)
    assert all(h["cached"] for h in cached.history) and not any(h["cached"] for h in uncached.history)
    np.testing.assert_allclose(comparable(cached.history), comparable(uncached.history), rtol=1e-4, atol=1e-6)
    head_a = load_checkpoint(cached.last_path).state_dict
    head_b = load_checkpoint(uncached.last_path).state_dict
    for name in head_a:
        assert torch.allclose(head_a[name], head_b[name], atol=1e-5), name
    cache_files = list((tmp_path / "a" / "run" / "feature_cache").glob("pilotnet-train-*.pt"))
    assert len(cache_files) == 1


def test_two_phase_uses_the_cache_only_while_the_backbone_is_frozen(bundle, tmp_path):
    result = fit(base_config(tmp_path, strategy="two-phase", head_epochs=1, unfreeze_stages=1, epochs=2), bundle)
    assert [h["cached"] for h in result.history] == [True, False]
    assert [h["phase"] for h in result.history] == ["head only", "head + conv5"]


def test_resumed_run_has_the_history_of_an_uninterrupted_run(bundle, tmp_path):
    config = base_config(tmp_path / "full", strategy="two-phase", head_epochs=1, unfreeze_stages=2, epochs=3)
    uninterrupted = fit(config, bundle)
    first = fit(dataclasses.replace(config, out=str(tmp_path / "part"), epochs=1), bundle)
    assert len(first.history) == 1
    resumed = fit(dataclasses.replace(config, out=str(tmp_path / "part"), resume=str(first.last_path)), bundle)
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3]
    np.testing.assert_allclose(comparable(resumed.history), comparable(uninterrupted.history), rtol=0, atol=1e-6)
    a, b = load_checkpoint(uninterrupted.last_path), load_checkpoint(resumed.last_path)
    for name in a.state_dict:
        assert torch.allclose(a.state_dict[name].float(), b.state_dict[name].float(), atol=1e-6), name


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(bundle, tmp_path):
    config = base_config(tmp_path, strategy="finetune", epochs=3)
    fit(dataclasses.replace(config, epochs=1), bundle)
    good = load_checkpoint(tmp_path / "run" / "last.pt")
    poisoned = line_bundle(72, PRE, seed=5)
    poisoned.make_train("none").steering[3] = float("nan")  # a corrupt label reaches the loss in epoch 2
    with pytest.raises(NonFiniteLossError, match="epoch 2.*last good checkpoint is kept"):
        fit(dataclasses.replace(config, resume=str(tmp_path / "run" / "last.pt")), poisoned)
    kept = load_checkpoint(tmp_path / "run" / "last.pt")
    assert kept.extra["epoch"] == 1
    for name in good.state_dict:
        assert torch.equal(good.state_dict[name], kept.state_dict[name]), name
    assert load_checkpoint(tmp_path / "run" / "best.pt").metrics["epoch"] == 1


def test_amp_on_cpu_uses_bf16_only_where_the_backbone_trains(bundle, tmp_path, monkeypatch):
    from steering.training import loop
    from steering.training.loop import choose_precision

    cpu = torch.device("cpu")
    with monkeypatch.context() as patch:  # a CPU with native bf16 (tests/test_train_precision.py: without)
        patch.setattr(loop, "cpu_has_native_bf16", lambda: True)
        assert choose_precision(cpu, amp=True, backbone_trains=True).autocast_dtype == torch.bfloat16
        assert choose_precision(cpu, amp=True, backbone_trains=False).autocast_dtype is None
        assert choose_precision(cpu, amp=False).autocast_dtype is None
    result = fit(base_config(tmp_path, strategy="finetune", epochs=1, amp=True), bundle)
    assert np.isfinite(result.history[0]["train_loss"]) and result.history[0]["val_loss"] < 1.0


def test_cache_key_changes_with_weights_and_preprocessing():
    from steering.model import create_model
    from steering.preprocess import PreprocessConfig
    from steering.training.feature_cache import cache_key

    torch.manual_seed(0)
    backbone = create_model("pilotnet").backbone
    key = cache_key("pilotnet", backbone, PRE, ["a", "b"])
    assert key == cache_key("pilotnet", backbone, PRE, ["a", "b"])
    assert key != cache_key("pilotnet", backbone, PreprocessConfig(colorspace="yuv", crop_top=50), ["a", "b"])
    assert key != cache_key("pilotnet", backbone, PRE, ["a", "c"])
    with torch.no_grad():
        backbone.conv1[0].bias[0] += 1e-3
    assert key != cache_key("pilotnet", backbone, PRE, ["a", "b"])
