"""Shared fixtures: the real simulator recordings in ../shared and small checkpoints."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = REPO.parent / "shared" / "data" / "udacity-real"
WINDOWS_LOG = REAL_DATA / "self-recorded-windows-paths" / "driving_log.csv"
MACOS_LOG = REAL_DATA / "macos-paths-missing-images" / "driving_log.csv"
LAKE_LOG = REAL_DATA / "lake-two-laps-mouse" / "driving_log.csv"


@pytest.fixture(scope="session")
def windows_log() -> Path:
    """250 rows recorded on Windows: backslash paths, spaces after commas, E-notation."""
    assert WINDOWS_LOG.is_file(), f"real recording missing: {WINDOWS_LOG} (../shared must sit beside the repo)"
    return WINDOWS_LOG


@pytest.fixture(scope="session")
def macos_log() -> Path:
    """150 rows with macOS paths; only 98 center frames exist."""
    assert MACOS_LOG.is_file(), f"real recording missing: {MACOS_LOG}"
    return MACOS_LOG


@pytest.fixture(scope="session")
def lake_log() -> Path:
    """1,972 rows of two lake laps at ~30 mph, all three cameras, smooth mouse steering."""
    assert LAKE_LOG.is_file(), f"real recording missing: {LAKE_LOG}"
    return LAKE_LOG


@pytest.fixture()
def make_checkpoint(tmp_path):
    """Factory: save a freshly initialised model of `name` and return the checkpoint path."""
    import torch

    from steering.checkpoint import save_checkpoint
    from steering.model import ModelConfig, create_model, default_preprocess

    def make(name: str = "pilotnet", seed: int = 0, filename: str = "model.pt") -> Path:
        torch.manual_seed(seed)
        model = create_model(name).eval()
        return save_checkpoint(tmp_path / filename, model, ModelConfig(name=name), default_preprocess(name))

    return make
