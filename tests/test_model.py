"""The seed regressor, the registry, freezing, hooks and pretrained-weight loading."""
from __future__ import annotations

import dataclasses
import urllib.error

import pytest
import torch
import torchvision
from torch import nn

from steering.model import (
    PretrainedWeightsError,
    capture_activations,
    create_model,
    default_preprocess,
    list_models,
    regression_head,
)

INPUT = (3, 66, 200)

# The head the seed document specifies, layer by layer: (type, constructor arguments).
SEED_HEAD = [
    (nn.Flatten, None), (nn.Dropout, 0.5),
    (nn.Linear, (2048, 256)), (nn.BatchNorm1d, 256), (nn.ReLU, None), (nn.Dropout, 0.3),
    (nn.Linear, (256, 100)), (nn.BatchNorm1d, 100), (nn.ReLU, None), (nn.Dropout, 0.3),
    (nn.Linear, (100, 50)), (nn.BatchNorm1d, 50), (nn.ReLU, None), (nn.Dropout, 0.2),
    (nn.Linear, (50, 10)), (nn.ReLU, None),
    (nn.Linear, (10, 1)),
]


@pytest.fixture(scope="module")
def resnet50() -> nn.Module:
    torch.manual_seed(0)
    return create_model("resnet50", pretrained="none")


def test_head_matches_the_seed_layer_by_layer(resnet50):
    layers = list(resnet50.head)
    assert len(layers) == len(SEED_HEAD)
    for i, (layer, (kind, arg)) in enumerate(zip(layers, SEED_HEAD, strict=False)):
        assert type(layer) is kind, f"head[{i}] is {type(layer).__name__}, expected {kind.__name__}"
        if kind is nn.Dropout:
            assert layer.p == arg, f"head[{i}] dropout p={layer.p}"
        elif kind is nn.Linear:
            assert (layer.in_features, layer.out_features) == arg, f"head[{i}] size"
        elif kind is nn.BatchNorm1d:
            assert layer.num_features == arg


def test_head_parameter_count_is_hand_computed(resnet50):
    linear = (2048 * 256 + 256) + (256 * 100 + 100) + (100 * 50 + 50) + (50 * 10 + 10) + (10 * 1 + 1)
    batchnorm = 2 * (256 + 100 + 50)  # weight and bias; running stats are buffers
    assert linear + batchnorm == 556_627
    assert sum(p.numel() for p in resnet50.head.parameters()) == 556_627


def test_backbone_is_resnet50_without_its_fc(resnet50):
    reference = torchvision.models.resnet50(weights=None)
    expected = [name for name, _ in reference.named_children()][:-1]
    assert [name for name, _ in resnet50.backbone.named_children()] == expected
    features = resnet50.eval().backbone(torch.zeros(2, *INPUT))
    assert features.shape == (2, 2048, 1, 1)


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("batch", [1, 8])
def test_forward_returns_one_value_per_image(resnet50, mode, batch):
    resnet50.train(mode == "train")
    out = resnet50(torch.randn(batch, *INPUT))
    assert out.shape == (batch,), f"{mode} mode, B={batch}: got {tuple(out.shape)}"
    assert torch.isfinite(out).all()


def test_frozen_backbone_is_untouched_by_an_optimizer_step():
    torch.manual_seed(0)
    model = create_model("resnet18", pretrained="none", freeze_features=True).train()
    backbone_before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    head_before = {k: v.clone() for k, v in model.head.state_dict().items()}
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    loss = (model(torch.randn(4, *INPUT)) - 1.0).pow(2).mean()
    loss.backward()
    optimizer.step()
    for key, value in model.backbone.state_dict().items():  # weights *and* BN running statistics
        assert torch.equal(value, backbone_before[key]), f"frozen backbone tensor {key} changed"
    changed = [k for k, v in model.head.state_dict().items() if not torch.equal(v, head_before[k])]
    assert "2.weight" in changed and "16.weight" in changed, f"head did not train: {changed}"
    assert all(not p.requires_grad for p in model.backbone.parameters())


def test_unfreezing_a_stage_makes_only_that_stage_trainable():
    model = create_model("resnet18", pretrained="none", freeze_features=True)
    model.set_backbone_trainable(True, stages=["layer4"])
    trainable = {n.split(".")[0] for n, p in model.backbone.named_parameters() if p.requires_grad}
    assert trainable == {"layer4"}
    model.train()
    assert model.backbone.layer4[0].bn1.training and not model.backbone.layer3[0].bn1.training


def test_hooks_capture_named_outputs_and_are_removed(resnet50):
    resnet50.eval()
    with capture_activations(resnet50, ["backbone.layer4", "head.3"]) as acts:
        resnet50(torch.zeros(2, *INPUT))
    assert acts["backbone.layer4"].shape == (2, 2048, 3, 7)
    assert acts["head.3"].shape == (2, 256)
    assert not acts["head.3"].requires_grad
    assert len(resnet50.backbone.layer4._forward_hooks) == 0
    assert len(resnet50.head[3]._forward_hooks) == 0


def test_hooks_are_removed_after_an_exception(resnet50):
    with pytest.raises(RuntimeError):
        with capture_activations(resnet50, ["backbone.layer1"]):
            raise RuntimeError("boom")
    assert len(resnet50.backbone.layer1._forward_hooks) == 0


# The seeds' families are tested in tests/test_model_families.py, which builds each once for all its
# tests: building VGG-16 or ViT-B/16 again here would add ~5-10 s each on a 2-core CPU.
TESTED_WITH_THE_FAMILIES = {"lenet5", "alexnet", "vgg16_bn", "inception_v3", "xception", "vit_b_16"}


@pytest.mark.parametrize("name", [n for n in list_models() if n not in TESTED_WITH_THE_FAMILIES])
def test_every_registered_model_builds_and_returns_b_values(name):
    torch.manual_seed(0)
    pre = default_preprocess(name)
    model = create_model(name, pretrained="none").eval()
    assert model.input_size == (pre.height, pre.width)
    with torch.inference_mode():
        out = model(torch.randn(3, *pre.input_shape))
    assert out.shape == (3,)
    assert torch.isfinite(out).all()


def test_families_left_out_above_are_registered():
    assert TESTED_WITH_THE_FAMILIES <= set(list_models())


def test_input_size_follows_the_preprocessing_it_was_built_for():
    pre = dataclasses.replace(default_preprocess("pilotnet"), height=80, width=240)
    model = create_model("pilotnet", preprocess=pre)
    assert model.input_size == (80, 240)
    assert model(torch.zeros(2, 3, 80, 240)).shape == (2,)


def test_pilotnet_matches_the_paper_at_66x200():
    model = create_model("pilotnet")
    convs = [m for m in model.backbone.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [24, 36, 48, 64, 64]
    assert [c.kernel_size for c in convs] == [(5, 5)] * 3 + [(3, 3)] * 2
    linears = [m for m in model.head.modules() if isinstance(m, nn.Linear)]
    assert [(lin.in_features, lin.out_features) for lin in linears] == [(1152, 100), (100, 50), (50, 10), (10, 1)]
    assert default_preprocess("pilotnet").colorspace == "yuv"


def test_unknown_model_name_suggests_close_matches():
    with pytest.raises(ValueError, match=r"resnet50.*list_models\(\)"):
        create_model("resnet05")


def test_pretrained_weights_load_from_a_local_file(tmp_path):
    torch.manual_seed(123)
    reference = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    model = create_model("resnet18", pretrained=path)
    assert torch.equal(model.backbone.conv1.weight, reference.conv1.weight)
    assert torch.equal(model.backbone.layer4[1].bn2.running_var, reference.layer4[1].bn2.running_var)


def test_mismatched_local_weights_are_reported_by_name(tmp_path):
    state = torchvision.models.resnet18(weights=None).state_dict()
    del state["layer2.0.conv1.weight"]
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(PretrainedWeightsError, match=r"missing: layer2\.0\.conv1\.weight.*unexpected: extra\.weight"):
        create_model("resnet18", pretrained=path)


def test_weights_file_with_objects_safe_loading_refuses_never_advises_loading_it_unsafely(tmp_path):
    import numpy as np

    path = tmp_path / "weights.pth"
    torch.save({"conv1.weight": np.zeros(3)}, path)
    with pytest.raises(PretrainedWeightsError) as info:
        create_model("resnet18", pretrained=path)
    message = str(info.value)
    assert message.startswith(f"{path}: not a readable weights file: holds Python objects (")
    assert "_reconstruct" in message, message
    assert "weights_only" not in message and "torch.load" not in message and info.value.__cause__ is None
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(PretrainedWeightsError, match="the file is truncated or corrupt; download or copy it again"):
        create_model("resnet18", pretrained=path)


def test_offline_imagenet_download_gives_the_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # no cached weights to fall back on

    def no_network(url, *args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    with pytest.raises(PretrainedWeightsError) as info:
        create_model("resnet50", pretrained="imagenet")
    message = str(info.value)
    assert "--pretrained none" in message and "--pretrained PATH" in message
    assert "ResNet50_Weights.IMAGENET1K_V2" in message


def test_pilotnet_refuses_pretrained_weights():
    with pytest.raises(PretrainedWeightsError, match="from scratch"):
        create_model("pilotnet", pretrained="imagenet")


def test_regression_head_sizes_its_first_layer_to_the_backbone():
    head = regression_head(960)
    assert head[2].in_features == 960 and head[-1].out_features == 1
