"""TrainConfig: every setting of a training run, and the YAML file that can provide them.

`train.py` fills a TrainConfig from its command line (a `--config FILE.yaml` sets the defaults first,
timm's two-stage parse); the resolved config is written to the run folder as `config.json` and into
every checkpoint, so a run can always be repeated or resumed with the same settings.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from steering.model import default_preprocess
from steering.preprocess import PreprocessConfig, dataclass_from_dict

STRATEGIES = ("frozen", "finetune", "two-phase", "gradual")
AUGMENT_MODES = ("auto", "full", "flip", "none")
LOSSES = ("mse", "huber")


class ConfigError(ValueError):
    """A training setting is out of range or a config file is malformed."""


@dataclass
class TrainConfig:
    """One training run. Learning rates follow the transfer-learning practice the project is built on:
    the new head learns at `lr`, pretrained backbone layers at the much lower `backbone_lr`."""

    logs: list[str] = field(default_factory=list)  # driving_log.csv files
    # model
    model: str = "resnet50"  # the seed model; `pilotnet --pretrained none` is the fast offline choice
    pretrained: str = "imagenet"  # "imagenet", "none" or a local torchvision state_dict file
    input_size: str = ""  # "HxW" model input after cropping; "" = the model's default (66x200, docs/model.md)
    strategy: str = "two-phase"
    head_epochs: int = 3  # two-phase: epochs of head-only training before unfreezing
    unfreeze_stages: int = 2  # two-phase: how many backbone stages from the top to unfreeze (layer4, layer3)
    unfreeze_every: int = 2  # gradual: unfreeze one more stage from the top every K epochs
    # optimisation
    epochs: int = 10
    batch_size: int = 32
    lr: float = 3e-4  # head
    backbone_lr: float = 1e-5  # pretrained layers: small steps so ImageNet features are not forgotten
    weight_decay: float = 1e-4
    loss: str = "mse"
    huber_delta: float = 0.1  # steering units; errors above ~2.5 degrees count linearly
    grad_clip: float = 1.0  # max gradient norm; 0 turns clipping off
    accumulate: int = 1  # optimizer step every N batches (effective batch = N * batch_size * world size)
    patience: int = 5  # early stopping: epochs without validation improvement (per phase); 0 = off
    plateau_patience: int = 2  # ReduceLROnPlateau: epochs without improvement before lr *= plateau_factor
    plateau_factor: float = 0.5
    # data
    cameras: str = "center"
    correction: float = 0.2  # steering added for the left camera, subtracted for the right
    augment: str = "auto"  # auto: flip only while the backbone is frozen (feature cache), full otherwise
    flip_probability: float = 0.5
    balance: bool = False
    val_fraction: float = 0.2
    block_size: int = 30  # validation is split in blocks of consecutive frames (neighbours look alike)
    lenient: bool = False  # skip unreadable log rows instead of stopping
    limit: int = 0  # use only the first N samples (quick checks); 0 = all
    # runtime
    seed: int = 0
    out: str = "runs/train"
    resume: str = ""
    device: str = "auto"
    workers: int = 0
    amp: bool = False
    cache: bool = True  # frozen-feature cache while the backbone is frozen and augmentation allows it
    cache_dir: str = ""  # default: <out>/feature_cache
    progress: bool = True

    def __post_init__(self) -> None:
        self.logs = [str(p) for p in self.logs]
        checks = [
            (self.strategy in STRATEGIES, f"strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}"),
            (self.augment in AUGMENT_MODES, f"augment must be one of {', '.join(AUGMENT_MODES)}, got {self.augment!r}"),
            (self.loss in LOSSES, f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}"),
            (self.cameras in ("center", "all"), f"cameras must be 'center' or 'all', got {self.cameras!r}"),
            (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:"),
             f"device must be auto, cpu or cuda, got {self.device!r}"),
            (self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}"),
            (self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}"),
            (self.accumulate >= 1, f"accumulate must be >= 1, got {self.accumulate}"),
            (self.lr > 0 and self.backbone_lr >= 0, f"learning rates must be positive (lr={self.lr}, backbone_lr={self.backbone_lr})"),
            (0.0 < self.val_fraction < 1.0, f"val_fraction must be in (0, 1), got {self.val_fraction}"),
            (0.0 <= self.flip_probability <= 1.0, f"flip_probability must be in [0, 1], got {self.flip_probability}"),
            (self.unfreeze_every >= 1, f"unfreeze_every must be >= 1, got {self.unfreeze_every}"),
            (self.head_epochs >= 0, f"head_epochs must be >= 0, got {self.head_epochs}"),
            (self.input_size == "" or re.fullmatch(r"[1-9]\d*x[1-9]\d*", self.input_size) is not None,
             f"input_size must look like 66x200 (height x width), got {self.input_size!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_given(cls, values: Mapping[str, Any]) -> "TrainConfig":
        """A config from the settings a user gave, filling the rest with defaults that fit them.

        A backbone trained from scratch (`pretrained: none`) has no ImageNet features to protect:
        the pretrained-weights defaults (two-phase with a frozen first phase, backbone_lr 1e-5)
        would freeze random filters. Unless given, it trains everything at the head's rate.
        """
        values = dict(values)
        if values.get("pretrained") == "none":
            values.setdefault("strategy", "finetune")
            values.setdefault("backbone_lr", values.get("lr", cls.lr))
        return cls.from_dict(values)

    def preprocess(self) -> PreprocessConfig:
        """The model's default preprocessing, resized to `input_size` when one is given."""
        pre = default_preprocess(self.model)
        if not self.input_size:
            return pre
        height, width = (int(v) for v in self.input_size.split("x"))
        return dataclasses.replace(pre, height=height, width=width)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "TrainConfig":
        try:
            return dataclass_from_dict(cls, values)
        except TypeError as exc:
            raise ConfigError(f"bad TrainConfig values: {exc}") from exc

    @property
    def feature_cache_dir(self) -> Path:
        return Path(self.cache_dir) if self.cache_dir else Path(self.out) / "feature_cache"


def load_config_file(path: str | Path) -> dict[str, Any]:
    """A YAML file of TrainConfig fields (dashes or underscores) -> dict; unknown keys are an error."""
    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of settings (key: value), found {type(values).__name__}")
    normalised = {str(k).replace("-", "_"): v for k, v in values.items()}
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(normalised) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return normalised
