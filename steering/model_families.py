"""The seeds' other CNN families as steering backbones: LeNet-5, AlexNet, VGG-16, Inception-v3,
Xception and the Vision Transformer (ViT-B/16).

Each `Family` says how to get the network (torchvision, timm for Xception, or built here for
LeNet-5), which of its parts are the feature extractor, its stages for unfreezing, and the input it
expects (`PreprocessConfig`: size after the crop, colour space, normalisation). `steering.model`
registers every entry of `FAMILIES` with the seed's regression head sized to the feature width;
building, checkpoints and training are its business and the trainer's, not this module's.

Input sizes (the camera crop is 75x320 rows x columns):
- lenet5 32x128: the paper's 32 rows; the width keeps the crop's aspect, so lane position keeps its
  horizontal resolution (a 32x32 square would squeeze 10 columns into one).
- alexnet, vgg16_bn 66x200: the project's default input (docs/model.md), above both networks' minimum
  (AlexNet 63 px, VGG 32 px).
- inception_v3, xception 75x320: the crop itself, unresized; Inception-v3 needs >= 75 px (Keras' limit
  for it), Xception >= 71. The seeds' 299x299 would cost 3.7x the pixels.
- vit_b_16 224x224: its position embeddings are learnt for 14x14 patches of 16 px (seed 003: resize to
  224x224 after the crop).
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from steering.model_weights import (
    DOWNLOAD_ERRORS,
    PretrainedWeightsError,
    load_backbone_weights,
    offline_message,
    torchvision_network,
)
from steering.preprocess import IMAGENET_MEAN, IMAGENET_STD, PreprocessConfig

# (input config, full network or None) -> (feature extractor, stage names from the output side down)
Features = Callable[[PreprocessConfig, nn.Module | None], tuple[nn.Module, tuple[str, ...]]]

SYMMETRIC = (0.5, 0.5, 0.5)  # [-1, 1] scaling: Google's Inception/Xception weights; LeNet from scratch


@dataclass(frozen=True)
class Family:
    """One registered backbone family (see `steering.model.ModelSpec` for how it is built)."""

    name: str
    preprocess: PreprocessConfig
    features: Features
    weights: str | None = None  # torchvision weights enum entry (also where torch.hub caches them)
    torchvision_name: str | None = None  # built by torchvision (random, ImageNet or file weights)
    network: Callable[[str | Path | None], nn.Module] | None = None  # built here instead


def _children_features(drop: tuple[str, ...], stages: tuple[str, ...]) -> Features:
    """The network's children minus the named trailing ones (the classifier), names kept for hooks."""

    def features(pre: PreprocessConfig, net: nn.Module | None) -> tuple[nn.Module, tuple[str, ...]]:
        children = [(name, child) for name, child in net.named_children() if name not in drop]
        return nn.Sequential(OrderedDict(children)), stages

    return features


def _convnet_features(pre: PreprocessConfig, net: nn.Module | None) -> tuple[nn.Module, tuple[str, ...]]:
    """AlexNet, VGG: the convolutional `features`, flattened; every conv is a stage.

    torchvision's `avgpool` (adaptive, to the 6x6 or 7x7 of a 224x224 input) is dropped with the
    classifier: at 66x200 the map is 1x5 (AlexNet) or 2x6 (VGG), which it would only replicate, and
    ONNX (the export, OpenVINO and ONNX Runtime drive paths) cannot export a pool that does not divide.
    """
    stages = tuple(f"features.{i}" for i, m in reversed(list(enumerate(net.features))) if isinstance(m, nn.Conv2d))
    return nn.Sequential(OrderedDict([("features", net.features), ("flatten", nn.Flatten())])), stages


# ---------------------------------------------------------------------------------------------
# LeNet-5 (LeCun et al. 1998), as the seed lists it: ReLU and max pooling, three 5x5 convolutions.


def _lenet5_features(pre: PreprocessConfig, _net: nn.Module | None) -> tuple[nn.Module, tuple[str, ...]]:
    backbone = nn.Sequential(OrderedDict([
        ("conv1", nn.Sequential(nn.Conv2d(3, 6, 5), nn.ReLU(), nn.MaxPool2d(2))),  # (6, 14, 62) at 32x128
        ("conv2", nn.Sequential(nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2))),  # (16, 5, 29)
        ("conv3", nn.Sequential(nn.Conv2d(16, 120, 5), nn.ReLU())),  # (120, 1, 25): the paper's C5, one row
        ("flatten", nn.Flatten()),  # 3000
    ]))
    return backbone, ("conv3", "conv2", "conv1")


# ---------------------------------------------------------------------------------------------
# Inception-v3 (torchvision) and Xception (timm)


def _inception_v3_network(pretrained: str | Path | None) -> nn.Module:
    # transform_input=False: the preprocessing already gives Google's [-1, 1] input, which torchvision
    # would otherwise convert to from ImageNet's mean/std inside forward (our backbone skips forward).
    # The auxiliary classifier is built (a full torchvision state_dict loads) and then dropped: it only
    # serves ImageNet's 1000 classes during training.
    extra = {} if pretrained == "imagenet" else {"init_weights": True}  # torchvision's own when weighted
    net = torchvision_network("inception_v3", "inception_v3", INCEPTION_WEIGHTS, pretrained,
                              transform_input=False, **extra)
    net.aux_logits, net.AuxLogits = False, None
    return net


INCEPTION_WEIGHTS = "Inception_V3_Weights.IMAGENET1K_V1"
_INCEPTION_STAGES = ("Mixed_7c", "Mixed_7b", "Mixed_7a", "Mixed_6e", "Mixed_6d", "Mixed_6c", "Mixed_6b",
                     "Mixed_6a", "Mixed_5d", "Mixed_5c", "Mixed_5b", "Conv2d_4a_3x3", "Conv2d_3b_1x1",
                     "Conv2d_2b_3x3", "Conv2d_2a_3x3", "Conv2d_1a_3x3")

XCEPTION = "legacy_xception"  # timm's name for Chollet's original Xception (the seeds' Keras model)


def _xception_network(pretrained: str | Path | None) -> nn.Module:
    import timm  # start-up time: timm imports hundreds of model definitions

    if pretrained == "imagenet":
        try:
            return timm.create_model(XCEPTION, pretrained=True)
        except DOWNLOAD_ERRORS as exc:
            raise PretrainedWeightsError(
                offline_message("xception", f"timm {XCEPTION}", exc, f"timm's {XCEPTION}")) from exc
    net = timm.create_model(XCEPTION, pretrained=False)
    if pretrained not in (None, "none"):
        load_backbone_weights(net, Path(pretrained))
    return net


def _xception_features(pre: PreprocessConfig, net: nn.Module | None) -> tuple[nn.Module, tuple[str, ...]]:
    net.reset_classifier(0)  # timm: global average pooling stays, fc becomes Identity -> (B, 2048)
    blocks = tuple(f"block{i}" for i in range(12, 0, -1))
    return net, ("conv4", "conv3", *blocks, "conv2", "conv1")


# ---------------------------------------------------------------------------------------------
# ViT-B/16 (torchvision)


class ViTFeatures(nn.Module):
    """torchvision's VisionTransformer with its heads removed: (B, 3, 224, 224) -> (B, 768), the class token."""

    def __init__(self, vit: nn.Module) -> None:
        super().__init__()
        vit.heads = nn.Identity()
        self.vit = vit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.onnx.is_in_onnx_export():
            return self.vit(x)  # (B, 768)
        # Eager inference takes PyTorch's fused attention kernel, which ONNX has no operator for: the
        # export (and OpenVINO/ONNX Runtime behind it) records the plain attention instead.
        enabled = torch.backends.mha.get_fastpath_enabled()
        torch.backends.mha.set_fastpath_enabled(False)
        try:
            return self.vit(x)
        finally:
            torch.backends.mha.set_fastpath_enabled(enabled)


def _vit_features(pre: PreprocessConfig, net: nn.Module | None) -> tuple[nn.Module, tuple[str, ...]]:
    if (pre.height, pre.width) != (net.image_size, net.image_size):
        raise ValueError(f"vit_b_16 takes {net.image_size}x{net.image_size} input (its position embeddings "
                         f"are learnt for that grid), got {pre.height}x{pre.width}")
    layers = tuple(f"vit.encoder.layers.encoder_layer_{i}" for i in range(len(net.encoder.layers) - 1, -1, -1))
    return ViTFeatures(net), ("vit.encoder.ln", *layers, "vit.conv_proj")


FAMILIES: tuple[Family, ...] = (
    Family("lenet5", PreprocessConfig(height=32, width=128, mean=SYMMETRIC, std=SYMMETRIC), _lenet5_features),
    Family("alexnet", PreprocessConfig(mean=IMAGENET_MEAN, std=IMAGENET_STD),
           _convnet_features,
           weights="AlexNet_Weights.IMAGENET1K_V1", torchvision_name="alexnet"),
    # VGG-16 with batch norm: the plain one does not train from scratch at this depth (its authors
    # started VGG-16 from a trained VGG-11), and the study trains every family from scratch.
    Family("vgg16_bn", PreprocessConfig(mean=IMAGENET_MEAN, std=IMAGENET_STD),
           _convnet_features,
           weights="VGG16_BN_Weights.IMAGENET1K_V1", torchvision_name="vgg16_bn"),
    Family("inception_v3", PreprocessConfig(height=75, width=320, mean=SYMMETRIC, std=SYMMETRIC),
           _children_features(("dropout", "fc"), _INCEPTION_STAGES),  # the head brings its own dropout
           weights=INCEPTION_WEIGHTS, network=_inception_v3_network),
    Family("xception", PreprocessConfig(height=75, width=320, mean=SYMMETRIC, std=SYMMETRIC),
           _xception_features, network=_xception_network),
    Family("vit_b_16", PreprocessConfig(height=224, width=224, mean=IMAGENET_MEAN, std=IMAGENET_STD),
           _vit_features, weights="ViT_B_16_Weights.IMAGENET1K_V1", torchvision_name="vit_b_16"),
)
