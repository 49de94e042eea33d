"""train.py end to end: --help, config files, the offline message, a real learning check, the real log."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import train as train_cli  # noqa: E402
from steering.checkpoint import load_checkpoint, load_model  # noqa: E402
from steering.data.synthetic import write_line_recording  # noqa: E402
from steering.model import default_preprocess  # noqa: E402

RUN_FILES = ("best.pt", "last.pt", "config.json", "history.json", "loss_curve.png", "val_pred_vs_true.png",
             "steering_hist.png")


def test_help_explains_every_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        train_cli.main(["--help"])
    assert exit_info.value.code == 0
    for action in train_cli.build_parser()._actions:
        assert action.help, f"flag {action.option_strings} has no help text"
    text = capsys.readouterr().out
    for flag in ("--strategy", "--backbone-lr", "--resume", "--accumulate", "--no-cache", "--amp", "--config"):
        assert flag in text


def test_command_line_overrides_config_file(tmp_path):
    config_file = tmp_path / "run.yaml"
    config_file.write_text("model: pilotnet\nepochs: 7\nlr: 0.002\nstrategy: frozen\nlogs: [a.csv]\n")
    config, _ = train_cli.parse_config(["--config", str(config_file), "--epochs", "2", "--no-augment"])
    assert (config.model, config.epochs, config.lr, config.strategy, config.augment) == (
        "pilotnet",
        2,
        0.002,
        "frozen",
        "none",
    )
    assert config.logs == ["a.csv"]
    config, _ = train_cli.parse_config(["a.csv", "--loss", "huber", "--huber-delta", "0.05"])
    assert (config.loss, config.huber_delta) == ("huber", 0.05)


def test_missing_pretrained_weights_give_one_clear_line_and_nonzero_exit(windows_log, tmp_path, capsys):
    code = train_cli.main([str(windows_log), "--model", "resnet18", "--pretrained", str(tmp_path / "nope.pth"),
                           "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert "nope.pth: no such weights file" in err and "Traceback" not in err


def test_offline_imagenet_fails_before_reading_logs_with_one_clear_line(tmp_path, monkeypatch, capsys):
    # No network: torch.hub's download raises as urllib does offline. The log does not exist, so a run
    # that read its logs before building the model would fail with a different message.
    import urllib.error

    import torch.hub

    def offline(url, dst, *args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    code = train_cli.main([str(tmp_path / "never-read" / "driving_log.csv"), "--model", "resnet18",
                           "--pretrained", "imagenet", "--out", str(tmp_path / "run"), "--no-progress"])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out == "", f"nothing on stdout (torch.hub prints 'Downloading: ...' there): {captured.out!r}"
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("train.py: could not download ImageNet weights for resnet18")
    assert "Temporary failure in name resolution" in lines[0] and "--pretrained none" in lines[0]
    assert "never-read" not in lines[0] and not (tmp_path / "run").exists()


def test_training_beats_the_mean_baseline_on_frames_whose_line_sets_the_steering(tmp_path, capsys):
    log = write_line_recording(tmp_path / "rec", count=120, seed=3)
    config_file = tmp_path / "c.yaml"
    config_file.write_text("block_size: 10\nval_fraction: 0.25\n")
    out = tmp_path / "run"
    code = train_cli.main([str(log), "--config", str(config_file), "--model", "pilotnet", "--pretrained", "none",
                           "--strategy", "finetune", "--epochs", "8", "--batch-size", "16", "--lr", "1e-3",
                           "--backbone-lr", "1e-3", "--no-augment", "--out", str(out), "--no-progress", "--seed", "1"])
    printed = capsys.readouterr().out
    assert code == 0
    assert f"model to drive: {out / 'best.pt'}" in printed and "mean baseline" in printed
    for name in RUN_FILES:
        assert (out / name).is_file(), f"{name} missing from the run folder"
    metrics = load_checkpoint(out / "best.pt").metrics
    history = json.loads((out / "history.json").read_text())
    baseline_mae = metrics["baseline_mae"]
    # steering is 0.6 sin(t/7) + noise: always predicting the mean is off by about 0.38 on average
    assert 0.2 < baseline_mae < 0.6
    assert metrics["mae"] < 0.5 * baseline_mae, f"model MAE {metrics['mae']:.3f} vs baseline {baseline_mae:.3f}"
    assert len(history) == 8 and history[0]["val_loss"] > min(h["val_loss"] for h in history)
    assert json.loads((out / "config.json").read_text())["block_size"] == 10


@pytest.mark.slow
def test_one_short_epoch_on_the_real_log_writes_a_loadable_best_model(windows_log, tmp_path):
    out = tmp_path / "run"
    code = train_cli.main([str(windows_log), "--model", "resnet18", "--pretrained", "none", "--strategy", "finetune",
                           "--epochs", "1", "--batch-size", "16", "--limit", "120", "--out", str(out), "--no-progress"])
    assert code == 0
    model, preprocess = load_model(out / "best.pt")
    assert preprocess == default_preprocess("resnet18")
    import torch

    assert model(torch.zeros(2, *preprocess.input_shape)).shape == (2,)
    assert load_checkpoint(out / "best.pt").train_config["model"] == "resnet18"


def test_input_size_flag_reaches_the_checkpoint_preprocessing(tmp_path):
    log = write_line_recording(tmp_path / "rec", count=40, seed=0)
    out = tmp_path / "run"
    code = train_cli.main([str(log), "--model", "pilotnet", "--pretrained", "none", "--strategy", "finetune",
                           "--input-size", "80x160", "--epochs", "1", "--batch-size", "8",
                           "--out", str(out), "--no-progress"])
    assert code == 0
    model, preprocess = load_model(out / "best.pt")
    assert (preprocess.height, preprocess.width) == (80, 160)
    assert preprocess.colorspace == default_preprocess("pilotnet").colorspace  # only the size changed
    import torch

    assert model(torch.zeros(3, 3, 80, 160)).shape == (3,)


@pytest.mark.parametrize("bad", ["66", "66x", "0x200", "66*200"])
def test_malformed_input_size_is_refused(bad):
    from steering.training.config import ConfigError, TrainConfig

    with pytest.raises(ConfigError, match="input_size must look like 66x200"):
        TrainConfig(input_size=bad)


def test_from_scratch_trains_everything_at_the_head_rate_unless_told_otherwise(tmp_path):
    config, _ = train_cli.parse_config(["log.csv", "--model", "pilotnet", "--pretrained", "none", "--lr", "1e-3"])
    assert (config.strategy, config.backbone_lr) == ("finetune", 1e-3)
    config, _ = train_cli.parse_config(["log.csv", "--pretrained", "none", "--strategy", "frozen",
                                        "--backbone-lr", "1e-5"])
    assert (config.strategy, config.backbone_lr) == ("frozen", 1e-5)
    config, _ = train_cli.parse_config(["log.csv"])  # pretrained weights: the transfer-learning defaults
    assert (config.pretrained, config.strategy, config.backbone_lr) == ("imagenet", "two-phase", 1e-5)
