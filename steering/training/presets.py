"""Named training recipes: `train.py --preset NAME` (one YAML file per preset in `presets/`).

A preset is a YAML file of TrainConfig settings, the same format as `--config`, shipped with the
package; the comment at its top says what it is for and the measurement that chose it
(docs/realdata.md, docs/demo.md). Precedence: preset < `--config FILE.yaml` < flags on the command line.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from steering.training.config import ConfigError, load_config_file

PRESET_DIR = Path(__file__).parent / "presets"


def preset_names() -> list[str]:
    """Every shipped preset, sorted."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def load_preset(name: str) -> dict[str, Any]:
    """The settings of preset `name`; an unknown name is a ConfigError that lists the known ones."""
    if name not in preset_names():
        raise ConfigError(f"unknown preset {name!r}; known: {', '.join(preset_names())}")
    return load_config_file(PRESET_DIR / f"{name}.yaml")


def preset_help() -> str:
    """One line per preset for train.py's --help: its name and the first line of its comment."""
    lines = []
    for name in preset_names():
        first = (PRESET_DIR / f"{name}.yaml").read_text().splitlines()[0].lstrip("# ").strip()
        lines.append(f"{name}: {first}")
    return "; ".join(lines)
