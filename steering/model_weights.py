"""Starting weights for a backbone: torchvision's ImageNet download, a local state_dict, or none.

Every way of getting weights fails with `PretrainedWeightsError` and a message that says what to do
instead (offline: `--pretrained none` or `--pretrained PATH`). `steering.model` and
`steering.model_families` build their networks through here; which network a name means is theirs.
"""
from __future__ import annotations

import urllib.error
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from steering.safe_load import SafeLoadError, load_weights_only

# What a failed download raises: torch.hub's urllib errors, socket errors, a bad hash (RuntimeError).
DOWNLOAD_ERRORS = (urllib.error.URLError, OSError, RuntimeError)


class PretrainedWeightsError(RuntimeError):
    """Pretrained weights could not be obtained or do not fit the backbone."""


def offline_message(model: str, weights: str, exc: BaseException, what: str) -> str:
    """The one message for ImageNet weights that could not be downloaded."""
    return (f"could not download ImageNet weights for {model} ({weights}): {exc}. "
            f"Offline? Use --pretrained none (train from scratch) or --pretrained PATH "
            f"(a local state_dict file of {what}, e.g. copied from "
            f"~/.cache/torch/hub/checkpoints/ on a machine with internet).")


def torchvision_network(model: str, torchvision_name: str, weights: str | None,
                        pretrained: str | Path | None, **kwargs: Any) -> nn.Module:
    """torchvision's `torchvision_name` network: random ("none"), ImageNet ("imagenet") or from a file."""
    import torchvision  # start-up time: only the processes that build a network pay for it

    constructor = getattr(torchvision.models, torchvision_name)
    if pretrained in (None, "none"):
        return constructor(weights=None, **kwargs)
    if pretrained == "imagenet":
        if weights is None:
            raise PretrainedWeightsError(f"{model} has no ImageNet weights; use --pretrained none or PATH")
        try:
            return constructor(weights=torchvision.models.get_weight(weights), **kwargs)
        except DOWNLOAD_ERRORS as exc:
            raise PretrainedWeightsError(
                offline_message(model, weights, exc, f"torchvision's {torchvision_name}")) from exc
    net = constructor(weights=None, **kwargs)
    load_backbone_weights(net, Path(pretrained))
    return net


def load_backbone_weights(net: nn.Module, path: Path,
                          convert: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None) -> None:
    """Load a local state_dict (weights_only) into `net`, reporting mismatches by name.

    Every tensor must fit: none missing, none unexpected, every shape equal. `convert` renames the
    file's keys to `net`'s first (a layout from another implementation).
    """
    if not path.is_file():
        raise PretrainedWeightsError(f"{path}: no such weights file (expected 'imagenet', 'none' or a file path)")
    try:
        state = load_weights_only(path)
    except SafeLoadError as exc:  # its kinds, in words; never torch's advice to load the file unsafely
        detail = f" ({exc.detail})" if exc.detail else ""
        reason = {"unsafe": f"holds Python objects{detail} beyond tensors, which are not loaded because loading "
                            "them could run code; save the state_dict alone with torch.save",
                  "corrupt": f"the file is truncated or corrupt{detail}; download or copy it again"}.get(
                      exc.kind, f"cannot be read{detail}")
        raise PretrainedWeightsError(f"{path}: not a readable weights file: {reason}") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise PretrainedWeightsError(f"{path}: expected a state_dict, found {type(state).__name__}")
    if convert is not None:
        state = convert(state)
    own = net.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong_shape = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    if missing or unexpected or wrong_shape:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong_shape)):
            if keys:
                parts.append(f"{label}: {', '.join(keys[:5])}{' …' if len(keys) > 5 else ''} ({len(keys)})")
        raise PretrainedWeightsError(f"{path}: weights do not fit {type(net).__name__}: " + "; ".join(parts))
    net.load_state_dict(state)
