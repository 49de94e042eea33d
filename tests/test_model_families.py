"""The seeds' CNN families in the registry: each builds, runs at its own input size, round-trips
through a checkpoint and exports to ONNX (what drive.py's OpenVINO and ONNX Runtime paths and
`python -m steering.export` run).

Each family is built once per module (VGG-16 and ViT-B/16 take seconds to initialise on a CPU). The
checkpoint round trips and ONNX exports of the four big ones (85-345 MB each) are marked slow.
"""
from __future__ import annotations

import dataclasses
import urllib.error

import numpy as np
import pytest
import torch

from steering.checkpoint import load_model, save_checkpoint
from steering.model import (
    ModelConfig,
    PretrainedWeightsError,
    SteeringRegressor,
    create_model,
    default_preprocess,
    list_models,
)
from steering.preprocess import preprocess_frame
from steering.udacity import FRAME_HEIGHT, FRAME_WIDTH

# name -> (H, W) its entry asks for, feature width computed by hand (what the seed head's first Linear takes)
FAMILIES = {
    # 32x128 -conv5-> 28x124 -pool-> 14x62 -conv5-> 10x58 -pool-> 5x29 -conv5-> 1x25 (x120 channels)
    "lenet5": ((32, 128), 120 * 1 * 25),
    # rows 66 -conv11/4 pad 2-> 15 -pool3/2-> 7 -conv5-> 7 -pool-> 3 -conv3 x3-> 3 -pool-> 1;
    # columns 200 -> 49 -> 24 -> 24 -> 11 -> 11 -> 5
    "alexnet": ((66, 200), 256 * 1 * 5),
    "vgg16_bn": ((66, 200), 512 * 2 * 6),  # five 2x2 pools: 66 -> 33 -> 16 -> 8 -> 4 -> 2, 200 -> ... -> 6
    "inception_v3": ((75, 320), 2048),  # Mixed_7c's channels, globally pooled
    "xception": ((75, 320), 2048),  # conv4's channels, globally pooled
    "vit_b_16": ((224, 224), 768),  # the class token's hidden width
}
BIG = {"vgg16_bn", "inception_v3", "xception", "vit_b_16"}

_built: dict[str, SteeringRegressor] = {}


def built(name: str) -> SteeringRegressor:
    """One seeded, eval-mode model per family for the whole module."""
    if name not in _built:
        torch.manual_seed(0)
        _built[name] = create_model(name, pretrained="none").eval()
    return _built[name]


@pytest.fixture(scope="module", autouse=True)
def _free_models():
    yield
    _built.clear()


def _param(name: str, slow_if_big: bool = False):
    marks = [pytest.mark.slow] if slow_if_big and name in BIG else []
    return pytest.param(name, marks=marks, id=name)


def test_every_seed_family_is_registered():
    assert set(FAMILIES) <= set(list_models())


@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("name", list(FAMILIES))
def test_family_returns_one_finite_value_per_image_at_its_input_size(name, batch):
    model = built(name)
    height, width = FAMILIES[name][0]
    torch.manual_seed(1)
    with torch.inference_mode():
        out = model(torch.randn(batch, 3, height, width))
    assert out.shape == (batch,)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", list(FAMILIES))
def test_family_input_size_is_what_its_preprocessing_produces(name):
    model, pre = built(name), default_preprocess(name)
    assert model.input_size == FAMILIES[name][0]
    assert (pre.height, pre.width) == model.input_size
    frame = np.full((FRAME_HEIGHT, FRAME_WIDTH, 3), 128, dtype=np.uint8)
    assert tuple(preprocess_frame(frame, pre).shape) == (3, *model.input_size)  # resized after the crop


@pytest.mark.parametrize("name", list(FAMILIES))
def test_family_gets_the_seed_head_sized_to_its_feature_width(name):
    model = built(name)
    height, width = FAMILIES[name][0]
    with torch.inference_mode():
        features = model.backbone(torch.zeros(1, 3, height, width)).flatten(1)
    assert features.shape == (1, FAMILIES[name][1])
    assert model.head[2].in_features == FAMILIES[name][1]
    assert model.head[-1].out_features == 1
    assert len(model.head) == 17  # the seed's layers (tests/test_model.py checks them one by one)


@pytest.mark.parametrize("name", [_param(n, slow_if_big=True) for n in FAMILIES])
def test_family_checkpoint_round_trip_gives_identical_outputs(name, tmp_path):
    model = built(name)
    path = save_checkpoint(tmp_path / f"{name}.pt", model, ModelConfig(name=name), default_preprocess(name))
    loaded, pre = load_model(path)
    assert loaded.input_size == model.input_size == (pre.height, pre.width)
    torch.manual_seed(2)
    x = torch.randn(2, *pre.input_shape)
    with torch.inference_mode():
        assert torch.equal(loaded(x), model(x))


@pytest.mark.parametrize("name", [_param(n, slow_if_big=True) for n in FAMILIES])
def test_family_exports_to_onnx_and_steers_as_in_torch(name):
    onnxruntime = pytest.importorskip("onnxruntime")
    from steering.inference.runtimes.onnx import onnx_bytes

    model, pre = built(name), default_preprocess(name)
    torch.manual_seed(4)
    x = torch.randn(1, *pre.input_shape)
    session = onnxruntime.InferenceSession(onnx_bytes(model, x), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"image": x.numpy()})
    with torch.inference_mode():
        expected = model(x).numpy()
    assert got.shape == expected.shape == (1,)
    # relative: a randomly initialised Inception-v3 steers in the millions (its BatchNorm running
    # statistics are still the initial 0 and 1); trained models steer in [-1, 1]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_lenet5_is_the_seeds_three_convolutions():
    convs = [m for m in built("lenet5").backbone.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [
        (3, 6, (5, 5)), (6, 16, (5, 5)), (16, 120, (5, 5))]


def test_lenet5_refuses_pretrained_weights():
    with pytest.raises(PretrainedWeightsError, match="from scratch"):
        create_model("lenet5", pretrained="imagenet")


def test_vit_refuses_an_input_it_has_no_position_embeddings_for():
    pre = dataclasses.replace(default_preprocess("vit_b_16"), height=66, width=200)
    with pytest.raises(ValueError, match="224x224"):
        create_model("vit_b_16", preprocess=pre)


@pytest.mark.parametrize("name, names_weights", [
    ("inception_v3", "Inception_V3_Weights.IMAGENET1K_V1"),  # its own network function (torchvision)
    ("xception", "legacy_xception"),  # timm's download
])
def test_offline_imagenet_download_gives_the_clear_message(name, names_weights, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # no cached weights to fall back on

    def no_network(url, *args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    with pytest.raises(PretrainedWeightsError) as info:
        create_model(name, pretrained="imagenet")
    message = str(info.value)
    assert "--pretrained none" in message and "--pretrained PATH" in message
    assert names_weights in message


def test_inception_loads_a_full_torchvision_state_dict_from_a_file(tmp_path):
    import torchvision

    torch.manual_seed(3)
    reference = torchvision.models.inception_v3(weights=None, init_weights=True)  # with its aux classifier
    path = tmp_path / "inception_v3.pth"
    torch.save(reference.state_dict(), path)
    model = create_model("inception_v3", pretrained=path)
    assert torch.equal(model.backbone.Mixed_7c.branch1x1.conv.weight, reference.Mixed_7c.branch1x1.conv.weight)
    assert not any(name.startswith("AuxLogits") for name, _ in model.backbone.named_parameters())
