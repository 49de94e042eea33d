"""Shared fixtures: the real simulator recordings in ../shared and small checkpoints."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _shared() -> Path:
    """../shared beside the repository; in a git worktree (`.git` is a file naming
    <main>/.git/worktrees/<name>), beside the main checkout when the worktree has none of its own."""
    beside = REPO.parent / "shared"
    git = REPO / ".git"
    if beside.is_dir() or not git.is_file():
        return beside
    gitdir = Path(git.read_text().split(":", 1)[1].strip())
    main_checkout = gitdir.parents[2] if len(gitdir.parents) > 2 else gitdir
    return main_checkout.parent / "shared" if (main_checkout.parent / "shared").is_dir() else beside


REAL_DATA = _shared() / "data" / "udacity-real"
WINDOWS_LOG = REAL_DATA / "self-recorded-windows-paths" / "driving_log.csv"
MACOS_LOG = REAL_DATA / "macos-paths-missing-images" / "driving_log.csv"


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
def real_data() -> Path:
    """The folder of real Unity recordings (`<name>/driving_log.csv` + IMG/ each; see their SOURCE.md)."""
    assert REAL_DATA.is_dir(), f"real recordings missing: {REAL_DATA} (../shared must sit beside the repo)"
    return REAL_DATA


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
