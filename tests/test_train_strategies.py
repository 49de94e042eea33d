"""Transfer strategies: which parameters train in which phase, and at which learning rate."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import train as train_cli  # noqa: E402
from steering.model import create_model  # noqa: E402
from steering.study import full_plan  # noqa: E402
from steering.training.config import ConfigError, TrainConfig, load_config_file  # noqa: E402
from steering.training.strategies import (  # noqa: E402
    ALL_STAGES,
    STRATEGIES,
    Phase,
    StrategySpec,
    apply_phase,
    build_optimizer,
    group_learning_rates,
    phase_at,
    plan_phases,
    register,
    strategy_names,
    study_strategies,
    unregister,
)

RESNET_STAGES = ("layer4", "layer3", "layer2", "layer1")


@pytest.fixture(scope="module")
def resnet18():
    return create_model("resnet18", pretrained="none")


def trainable_prefixes(model) -> set[str]:
    """Top-level names ('head', 'backbone.layer4', …) that own at least one trainable parameter."""
    out = set()
    for name, p in model.named_parameters():
        if p.requires_grad:
            parts = name.split(".")
            out.add(".".join(parts[:2]) if parts[0] == "backbone" else parts[0])
    return out


def test_frozen_strategy_trains_only_the_head(resnet18):
    phases = plan_phases(TrainConfig(strategy="frozen"), resnet18.stages)
    assert len(phases) == 1 and phases[0].backbone_frozen
    apply_phase(resnet18, phases[0])
    assert trainable_prefixes(resnet18) == {"head"}
    # frozen BatchNorm stays in eval mode even when the model is put in train mode
    resnet18.train()
    assert not resnet18.backbone.bn1.training and resnet18.head[3].training


def test_finetune_trains_everything(resnet18):
    phases = plan_phases(TrainConfig(strategy="finetune"), resnet18.stages)
    apply_phase(resnet18, phases[0])
    assert all(p.requires_grad for p in resnet18.parameters())


def test_two_phase_unfreezes_layer4_and_layer3_after_head_epochs(resnet18):
    config = TrainConfig(strategy="two-phase", head_epochs=2, unfreeze_stages=2, epochs=5)
    phases = plan_phases(config, resnet18.stages)
    assert [p.start for p in phases] == [0, 2]
    apply_phase(resnet18, phase_at(phases, 1))
    assert trainable_prefixes(resnet18) == {"head"}
    apply_phase(resnet18, phase_at(phases, 2))
    assert trainable_prefixes(resnet18) == {"head", "backbone.layer4", "backbone.layer3"}
    assert not resnet18.backbone.layer2[0].conv1.weight.requires_grad
    assert not resnet18.backbone.conv1.weight.requires_grad


def test_gradual_unfreezes_one_stage_every_k_epochs(resnet18):
    phases = plan_phases(TrainConfig(strategy="gradual", unfreeze_every=3), resnet18.stages)
    expected = {0: set(), 3: {"layer4"}, 6: {"layer4", "layer3"}, 8: {"layer4", "layer3"},
                9: {"layer4", "layer3", "layer2"}, 12: set(RESNET_STAGES)}
    for epoch, stages in expected.items():
        apply_phase(resnet18, phase_at(phases, epoch))
        assert trainable_prefixes(resnet18) == {"head"} | {f"backbone.{s}" for s in stages}, f"epoch {epoch}"


def test_param_groups_give_backbone_the_lower_learning_rate(resnet18):
    optimizer = build_optimizer(resnet18, TrainConfig(lr=3e-4, backbone_lr=1e-5, weight_decay=0.01))
    assert group_learning_rates(optimizer) == {"head": 3e-4, "backbone": 1e-5}
    by_param = {id(p): g for g in optimizer.param_groups for p in g["params"]}
    assert by_param[id(resnet18.head[2].weight)]["lr"] == 3e-4
    assert by_param[id(resnet18.backbone.layer4[0].conv1.weight)]["lr"] == 1e-5
    assert by_param[id(resnet18.backbone.layer4[0].bn1.bias)]["weight_decay"] == 0.0  # no decay on 1-D params
    assert by_param[id(resnet18.head[2].weight)]["weight_decay"] == 0.01
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(list(resnet18.parameters()))


def test_frozen_parameters_do_not_move_in_an_optimizer_step():
    model = create_model("pilotnet")
    config = TrainConfig(strategy="two-phase", head_epochs=1, unfreeze_stages=1)
    apply_phase(model, plan_phases(config, model.stages)[0])
    optimizer = build_optimizer(model, config)
    before = model.backbone.conv5[0].weight.detach().clone()
    head_before = model.head[1].weight.detach().clone()
    model.train()
    optimizer.zero_grad(set_to_none=True)
    model(torch.randn(4, 3, 66, 200)).pow(2).mean().backward()
    optimizer.step()
    assert torch.equal(model.backbone.conv5[0].weight, before)
    assert not torch.equal(model.head[1].weight, head_before)


def test_config_file_rejects_unknown_keys_by_name(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("epochs: 3\nbackbone-lr: 2.0e-5\nlearning_rate: 1\n")
    with pytest.raises(ConfigError, match="learning_rate"):
        load_config_file(path)
    path.write_text("epochs: 3\nbackbone-lr: 2.0e-5\n")
    assert load_config_file(path) == {"epochs": 3, "backbone_lr": 2e-5}


def test_config_rejects_unknown_strategy():
    with pytest.raises(ConfigError, match="two-phase"):
        TrainConfig(strategy="partial")


def test_the_registry_lists_the_built_in_strategies_for_the_cli_and_the_study():
    assert strategy_names() == ("frozen", "finetune", "two-phase", "gradual")
    # the study's tables go from the frozen backbone to full fine-tuning
    assert study_strategies() == ("frozen", "two-phase", "gradual", "finetune")
    assert [e.name for e in full_plan()[:4]] == ["resnet50-imagenet-frozen", "resnet50-imagenet-two-phase",
                                                 "resnet50-imagenet-gradual", "resnet50-imagenet-finetune"]


def _help_text(capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        train_cli.main(["--help"])
    assert exit_info.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # argparse wraps the help


def test_a_strategy_registered_in_one_call_shows_in_train_help_trains_and_joins_the_study_plan(capsys):
    register(StrategySpec("head-then-all", "head for --head-epochs, then the whole backbone at once",
                          lambda config, stages: [Phase(0, ()), Phase(config.head_epochs, ALL_STAGES)]))
    try:
        text = _help_text(capsys)
        assert "{frozen,finetune,two-phase,gradual,head-then-all}" in text
        assert "head-then-all: head for --head-epochs, then the whole backbone at once" in text
        config, _ = train_cli.parse_config(["a.csv", "--strategy", "head-then-all", "--head-epochs", "2"])
        assert plan_phases(config, ("layer4", "layer3")) == [Phase(0, ()), Phase(2, None)]
        names = [e.name for e in full_plan()]
        assert names[:5] == ["resnet50-imagenet-frozen", "resnet50-imagenet-two-phase", "resnet50-imagenet-gradual",
                             "resnet50-imagenet-finetune", "resnet50-imagenet-head-then-all"]
        assert "efficientnet_lite0-imagenet-head-then-all" in names
    finally:
        unregister("head-then-all")
    assert "head-then-all" not in STRATEGIES and "head-then-all" not in _help_text(capsys)
    assert not any("head-then-all" in e.name for e in full_plan())
    with pytest.raises(ConfigError, match="head-then-all"):
        TrainConfig(strategy="head-then-all")
