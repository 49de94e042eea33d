"""TrainConfig: every setting of a training run, and the YAML file that can provide them.

`train.py` fills a TrainConfig from its command line (a `--config FILE.yaml` sets the defaults first,
timm's two-stage parse); the resolved config is written to the run folder as `config.json` and into
every checkpoint, so a run can always be repeated or resumed with the same settings.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from steering.cli import option
from steering.model import default_preprocess
from steering.perturb.splits import RENDERED, TRAINING
from steering.preprocess import PreprocessConfig, dataclass_from_dict
from steering.training.strategies import STRATEGIES, strategy_help, strategy_names

AUGMENT_MODES = ("auto", "full", "robust", "flip", "none")
LOSSES = ("mse", "huber")


class ConfigError(ValueError):
    """A training setting is out of range or a config file is malformed."""


@dataclass
class TrainConfig:
    """One training run. Learning rates follow the transfer-learning practice the project is built on:
    the new head learns at `lr`, pretrained backbone layers at the much lower `backbone_lr`."""

    logs: list[str] = field(default_factory=list)  # driving_log.csv files (train.py's positional LOG)
    # model
    model: str = option("resnet50", help="registered model name (steering.model.list_models()); "
                                         "`pilotnet --pretrained none` is the fast offline choice")
    pretrained: str = option("imagenet", metavar="imagenet|none|PATH",
                             help="backbone weights: 'imagenet' (download, needs internet once), 'none' (from "
                                  "scratch) or a local torchvision state_dict file")
    input_size: str = option("", metavar="HxW",
                             help="model input after cropping sky and hood, e.g. 66x200; empty: the model's own, "
                                  "66x200 for every registered model (docs/model.md shows the latency cost of larger "
                                  "inputs)")
    # choices and help come from the registry when the parser is built, so a registered strategy shows
    strategy: str = option("two-phase", choices=strategy_names, help=strategy_help)
    head_epochs: int = option(3, help="two-phase: head-only epochs before unfreezing")
    unfreeze_stages: int = option(2, help="two-phase: backbone stages unfrozen from the top (layer4, layer3)")
    unfreeze_every: int = option(2, help="gradual: epochs between unfreezing stages")
    # optimisation
    epochs: int = option(10, help="maximum epochs")
    batch_size: int = option(32, help="images per batch and process")
    lr: float = option(3e-4, help="head learning rate, AdamW")
    # pretrained layers take small steps so ImageNet features are not forgotten
    backbone_lr: float = option(1e-5, help="learning rate of the pretrained backbone layers")
    weight_decay: float = option(1e-4, help="AdamW weight decay")
    loss: str = option("mse", choices=LOSSES, help="training loss")
    huber_delta: float = option(0.1, help="--loss huber: errors above this (steering units, ~2.5 degrees) "
                                          "count linearly")
    grad_clip: float = option(1.0, help="max gradient norm, 0 = off")
    accumulate: int = option(1, metavar="N", help="gradient accumulation: one optimizer step every N batches "
                                                  "(effective batch = N * batch size * processes)")
    patience: int = option(5, help="early stopping: epochs without validation improvement (per phase), 0 = off")
    plateau_patience: int = option(2, help="epochs without improvement before the learning rate is reduced")
    plateau_factor: float = option(0.5, help="learning-rate factor on a plateau")
    # data
    cameras: str = option("center", choices=("center", "all"), help="cameras to train on")
    correction: float = option(0.2, help="steering added for the left camera, subtracted for the right")
    augment: str = option("auto", nargs="?", const="full", choices=AUGMENT_MODES,
                          help="augmentation: full (flip, shifts, brightness...), robust (full, then one camera "
                               "corruption of the training set, noise and digital: " + ", ".join(TRAINING) + ", at a "
                               "random severity 1-5 on --corruption-probability of the frames; blur and weather "
                               "stay held out for testing, see docs/robustness.md; the renderer's weather, "
                               + " ".join(RENDERED) + ", needs depth and cannot be applied to recorded frames), "
                               "flip, none, or auto = flip while the backbone is frozen (feature cache), full "
                               "otherwise; bare --augment means full")
    smooth_labels: float = option(0.0, metavar="SECONDS",
                                  help="train and validate on the steering averaged over this many seconds "
                                       "(centred, per session; frame times from the file names): keyboard and "
                                       "mouse drivers tap, so a recorded label is mostly zeros with spikes even in "
                                       "curves; 0 = the labels as recorded")
    flip_probability: float = option(0.5, help="share of training frames mirrored (steering negated)")
    corruption_probability: float = option(0.5, help="--augment robust: share of training frames put through a "
                                                     "random training-set corruption")
    balance: bool = option(False, help="cap over-represented steering bins (mostly straight driving) in the "
                                       "training set")
    val_fraction: float = option(0.2, help="share of frames for validation")
    # validation is split in blocks of consecutive frames (neighbours look alike)
    block_size: int = option(30, help="frames per contiguous validation block")
    lenient: bool = option(False, help="skip unreadable log rows instead of stopping")
    limit: int = option(0, help="use only the first N samples (quick checks); 0 = all")
    # runtime
    seed: int = option(0, help="seeds python, numpy, torch and the data order")
    out: str = option("runs/train", metavar="DIR", help="run folder")
    resume: str = option("", metavar="PATH", help="continue a run from its last.pt (same flags as the first run)")
    device: str = option("auto", help="auto, cpu or cuda")
    workers: int = option(0, help="data-loading worker processes")
    amp: bool = option(False, help="mixed precision: bfloat16 autocast where the backbone trains (CUDA: also "
                                   "channels_last); on CPUs with AVX512-BF16/AMX fine-tuning ran ~1.8-2.6x faster "
                                   "(docs/benchmarks.md)")
    cache: bool = option(True, help="cache frozen-backbone features (while the backbone is frozen and augmentation "
                                    "is flip-only)")
    cache_dir: str = option("", metavar="DIR", help="where feature caches live; empty: <out>/feature_cache")
    progress: bool = option(True, help="progress bars")
    tensorboard: str = option("", metavar="DIR",
                              help="also write TensorBoard events to DIR (tensorboard --logdir DIR): losses, metrics, "
                                   "learning rates, phases, images/s, validation frames with true vs predicted "
                                   "steering, head histograms. Off unless given: it needs the optional tensorboard "
                                   "package (pip install 'steering[tensorboard]') and history.json + loss_curve.png "
                                   "already record every run")

    def __post_init__(self) -> None:
        self.logs = [str(p) for p in self.logs]
        checks = [
            (self.strategy in STRATEGIES, f"strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}"),
            (self.augment in AUGMENT_MODES, f"augment must be one of {', '.join(AUGMENT_MODES)}, got {self.augment!r}"),
            (self.loss in LOSSES, f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}"),
            (self.cameras in ("center", "all"), f"cameras must be 'center' or 'all', got {self.cameras!r}"),
            (
                self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:"),
                f"device must be auto, cpu or cuda, got {self.device!r}",
            ),
            (self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}"),
            (self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}"),
            (self.accumulate >= 1, f"accumulate must be >= 1, got {self.accumulate}"),
            (
                self.lr > 0 and self.backbone_lr >= 0,
                f"learning rates must be positive (lr={self.lr}, backbone_lr={self.backbone_lr})",
            ),
            (0.0 < self.val_fraction < 1.0, f"val_fraction must be in (0, 1), got {self.val_fraction}"),
            (self.smooth_labels >= 0.0, f"smooth_labels must be >= 0 seconds, got {self.smooth_labels}"),
            (0.0 <= self.flip_probability <= 1.0, f"flip_probability must be in [0, 1], got {self.flip_probability}"),
            (
                0.0 <= self.corruption_probability <= 1.0,
                f"corruption_probability must be in [0, 1], got {self.corruption_probability}",
            ),
            (self.unfreeze_every >= 1, f"unfreeze_every must be >= 1, got {self.unfreeze_every}"),
            (self.head_epochs >= 0, f"head_epochs must be >= 0, got {self.head_epochs}"),
            (
                self.input_size == "" or re.fullmatch(r"[1-9]\d*x[1-9]\d*", self.input_size) is not None,
                f"input_size must look like 66x200 (height x width), got {self.input_size!r}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_given(cls, values: Mapping[str, Any]) -> TrainConfig:
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
    def from_dict(cls, values: Mapping[str, Any]) -> TrainConfig:
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
