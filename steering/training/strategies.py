"""Transfer strategies: which backbone stages train in which epoch, and at which learning rate.

Each strategy is one entry of the registry `STRATEGIES` (name -> `StrategySpec`): its name, one
line of help (train.py's `--strategy` choices and help are built from these), where the study
lists it, and `plan`, which turns the run's settings and the backbone's stages into phases.
Adding a strategy is one `register(StrategySpec(...))` call. The built-in ones:

- frozen:    backbone frozen for the whole run, only the head learns (at `lr`).
- finetune:  everything learns from the start; backbone at `backbone_lr`, head at `lr`.
- two-phase: head only for `head_epochs`, then the top `unfreeze_stages` stages (layer4, layer3 for a
             ResNet) join at `backbone_lr`. A new head's large early gradients would otherwise wreck
             the pretrained features.
- gradual:   head only, then one more stage from the top every `unfreeze_every` epochs.

The optimizer holds every parameter from the start, in two groups ("head", "backbone"); freezing is
`requires_grad=False` plus `zero_grad(set_to_none=True)`, and AdamW skips parameters without a
gradient. So one optimizer (and one state_dict to resume) covers every phase.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import nn

from steering.model import SteeringRegressor

log = logging.getLogger(__name__)

ALL_STAGES = None  # Phase.stages value meaning "the whole backbone"


@dataclass(frozen=True)
class Phase:
    """From epoch `start` on, these backbone stages are trainable (None = all, () = none)."""

    start: int
    stages: tuple[str, ...] | None

    @property
    def backbone_frozen(self) -> bool:
        return self.stages == ()

    def describe(self) -> str:
        if self.stages is None:
            return "head + whole backbone"
        return "head only" if not self.stages else "head + " + ", ".join(self.stages)


class StrategySettings(Protocol):
    """The settings a strategy reads; TrainConfig has them all (a Protocol, so config.py can import this module)."""

    strategy: str
    head_epochs: int
    unfreeze_stages: int
    unfreeze_every: int


class OptimizerSettings(Protocol):
    """The settings `build_optimizer` reads (TrainConfig's)."""

    lr: float
    backbone_lr: float
    weight_decay: float


@dataclass(frozen=True)
class StrategySpec:
    name: str
    help: str  # one line for `train.py --help`
    # (settings, backbone stages top first) -> phases, the first starting at epoch 0
    plan: Callable[[StrategySettings, tuple[str, ...]], list[Phase]]
    needs_stages: bool = True  # the plan unfreezes named stages, so a model without them cannot use it
    study_rank: int = 100  # where the study lists it: its tables go from the frozen backbone to full fine-tuning


STRATEGIES: dict[str, StrategySpec] = {}


def register(spec: StrategySpec) -> StrategySpec:
    STRATEGIES[spec.name] = spec
    return spec


def unregister(name: str) -> StrategySpec:
    return STRATEGIES.pop(name)


def strategy_names() -> tuple[str, ...]:
    """The registered strategies in registration order (`--strategy` choices)."""
    return tuple(STRATEGIES)


def strategy_help() -> str:
    """`--strategy`'s help: every strategy with its line."""
    return "; ".join(f"{s.name}: {s.help}" for s in STRATEGIES.values())


def study_strategies() -> tuple[str, ...]:
    """The strategies in the study's order (by `study_rank`, then registration order)."""
    return tuple(sorted(STRATEGIES, key=lambda name: STRATEGIES[name].study_rank))


def plan_phases(config: StrategySettings, stages: tuple[str, ...]) -> list[Phase]:
    """The phases of a run for a backbone whose stages (top first) are `stages`."""
    spec = STRATEGIES[config.strategy]
    if spec.needs_stages and not stages:
        raise ValueError(f"strategy {config.strategy!r} needs named backbone stages; this model has none")
    return spec.plan(config, stages)


def _two_phase(config: StrategySettings, stages: tuple[str, ...]) -> list[Phase]:
    count = max(1, min(config.unfreeze_stages, len(stages)))
    return [Phase(0, ()), Phase(config.head_epochs, tuple(stages[:count]))]


def _gradual(config: StrategySettings, stages: tuple[str, ...]) -> list[Phase]:
    return [Phase(k * config.unfreeze_every, tuple(stages[:k])) for k in range(len(stages) + 1)]


register(StrategySpec("frozen", "head only", lambda config, stages: [Phase(0, ())],
                      needs_stages=False, study_rank=0))
register(StrategySpec("finetune", "all layers, backbone at --backbone-lr",
                      lambda config, stages: [Phase(0, ALL_STAGES)], needs_stages=False, study_rank=3))
register(StrategySpec("two-phase", "head for --head-epochs, then the top --unfreeze-stages stages", _two_phase,
                      study_rank=1))
register(StrategySpec("gradual", "one more stage every --unfreeze-every epochs", _gradual, study_rank=2))


def phase_at(phases: list[Phase], epoch: int) -> Phase:
    """The phase that governs `epoch` (0-based)."""
    current = phases[0]
    for phase in phases:
        if phase.start <= epoch:
            current = phase
    return current


def apply_phase(model: SteeringRegressor, phase: Phase) -> None:
    """Set requires_grad for `phase`: head always trains; the backbone as the phase says."""
    for p in model.head.parameters():
        p.requires_grad_(True)
    model.set_backbone_trainable(False)
    if phase.stages is None:
        model.set_backbone_trainable(True)
    elif phase.stages:
        model.set_backbone_trainable(True, stages=list(phase.stages))


def trainable_summary(model: nn.Module) -> str:
    """'12,345 of 23,456,789 parameters trainable: head (…), backbone.layer4 (…)', grouped by top module."""
    counts: dict[str, list[int]] = {}
    for name, p in model.named_parameters():
        parts = name.split(".")
        key = ".".join(parts[:2]) if parts[0] == "backbone" else parts[0]
        trainable, total = counts.setdefault(key, [0, 0])
        counts[key] = [trainable + (p.numel() if p.requires_grad else 0), total + p.numel()]
    trainable = sum(c[0] for c in counts.values())
    total = sum(c[1] for c in counts.values())
    parts = [f"{k} ({c[0]:,})" for k, c in counts.items() if c[0]]
    return f"{trainable:,} of {total:,} parameters trainable: {', '.join(parts) or 'none'}"


def build_optimizer(model: SteeringRegressor, config: OptimizerSettings) -> torch.optim.AdamW:
    """AdamW with a "head" group at `lr` and a "backbone" group at `backbone_lr`.

    Weight decay skips biases and normalisation weights (1-D tensors): decaying them only hurts.
    """
    groups = []
    for group_name, module, lr in (("head", model.head, config.lr), ("backbone", model.backbone, config.backbone_lr)):
        params = list(module.parameters())
        decay = [p for p in params if p.ndim > 1]
        no_decay = [p for p in params if p.ndim <= 1]
        groups.append({"params": decay, "lr": lr, "weight_decay": config.weight_decay, "name": group_name})
        groups.append({"params": no_decay, "lr": lr, "weight_decay": 0.0, "name": group_name})
    return torch.optim.AdamW(groups, lr=config.lr)


def group_learning_rates(optimizer: torch.optim.Optimizer) -> dict[str, float]:
    """{"head": lr, "backbone": lr} (the current values, after any scheduler reductions)."""
    return {g.get("name", str(i)): float(g["lr"]) for i, g in enumerate(optimizer.param_groups)}
