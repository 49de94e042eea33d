"""The model a run starts from, built before any data is read.

Building first means a run that cannot get its weights (offline with `--pretrained imagenet`, a
missing weights file, an unknown model name) fails within a second, not after minutes of reading
and splitting logs. A download of ImageNet weights is announced through our logger, and torch's own
`Downloading: "..." to ...` line (printed to stdout by torch.hub whatever `progress` says) is kept
out of the output, so an offline failure shows one clear message and nothing before it.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
from pathlib import Path
from urllib.parse import urlparse

import torch

from steering.model import SteeringRegressor, create_model, get_spec
from steering.preprocess import PreprocessConfig
from steering.training.config import TrainConfig

log = logging.getLogger(__name__)


def build_model(config: TrainConfig, preprocess: PreprocessConfig) -> SteeringRegressor:
    """`config.model` with its starting weights: ImageNet, a local file, or random (also when resuming,
    since a resumed run takes every weight from its checkpoint). Raises PretrainedWeightsError."""
    pretrained = "none" if config.resume else config.pretrained
    if pretrained != "imagenet":
        return create_model(config.model, pretrained=pretrained, preprocess=preprocess)
    cached = imagenet_weights_file(config.model)
    if cached is None or cached.is_file():
        return create_model(config.model, pretrained=pretrained, preprocess=preprocess)
    log.info("downloading ImageNet weights for %s into %s (once)", config.model, cached.parent)
    with contextlib.redirect_stdout(io.StringIO()):  # torch.hub's "Downloading: ..." line
        return create_model(config.model, pretrained=pretrained, preprocess=preprocess)


def imagenet_weights_file(model: str) -> Path | None:
    """Where torch.hub keeps `model`'s ImageNet weights (honours TORCH_HOME), or None if it has none."""
    spec = get_spec(model)
    if not spec.weights:
        return None
    import torchvision

    url = torchvision.models.get_weight(spec.weights).url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)
