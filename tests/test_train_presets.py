"""train.py --preset: shipped recipes load, the demo trains with its preset, and config files and flags override it."""
from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import train as train_cli  # noqa: E402
from steering.demo import DemoConfig  # noqa: E402
from steering.training.config import ConfigError, TrainConfig  # noqa: E402
from steering.training.presets import load_preset, preset_help, preset_names  # noqa: E402


def test_every_preset_is_a_valid_training_config():
    assert {"rendered-laps", "unity-recordings"} <= set(preset_names())
    for name in preset_names():
        values = load_preset(name)
        assert values, f"preset {name} sets nothing"
        config = TrainConfig.from_given({**values, "logs": ["a.csv"]})
        for key, value in values.items():
            assert getattr(config, key) == value, (name, key)


def test_demo_trains_with_the_rendered_laps_preset():
    demo = asdict(DemoConfig().train_config(Path("demo/data/driving_log.csv")))
    for key, value in load_preset("rendered-laps").items():
        assert demo[key] == value, key


def test_unity_recordings_preset_smooths_the_human_labels():
    values = load_preset("unity-recordings")
    assert values["smooth_labels"] > 0  # mouse and keyboard taps: the recipe is measured on smoothed labels
    assert values["pretrained"] == "none"  # ImageNet weights cannot be downloaded offline


def test_flags_override_config_file_which_overrides_preset(tmp_path):
    config_file = tmp_path / "run.yaml"
    config_file.write_text("cameras: center\nepochs: 9\n")
    config, _ = train_cli.parse_config(["a.csv", "--preset", "rendered-laps", "--config", str(config_file),
                                        "--epochs", "2"])
    assert (config.model, config.augment, config.cameras, config.epochs) == ("pilotnet", "robust", "center", 2)


def test_unknown_preset_is_refused_with_the_known_names(capsys):
    with pytest.raises(SystemExit) as exit_info:
        train_cli.parse_config(["a.csv", "--preset", "nope"])
    assert exit_info.value.code == 2
    assert "rendered-laps" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="unity-recordings"):
        load_preset("nope")


def test_help_names_each_preset_with_its_purpose():
    text = preset_help()
    for name in preset_names():
        assert f"{name}: " in text
    assert "headless simulator" in text
