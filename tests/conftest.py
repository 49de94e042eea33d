"""Shared fixtures: the real simulator recordings in ../shared, small checkpoints, headless Chromium."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from steering.inference.gate import log_frames

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
def windows_frames(windows_log: Path) -> list:
    """The first 24 readable centre frames of the Windows recording (uint8 RGB), read once per session."""
    frames, _ = log_frames([windows_log], 24)
    assert len(frames) == 24, "24 readable frames expected in the Windows recording"
    return frames


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


def _browser_paths() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium and driver:
        return chromium, driver
    message = "headless Chromium missing: apt-get install -y chromium chromium-driver"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (.ci/run installs them; CI must not skip the browser test)")
    pytest.skip(message)


@pytest.fixture()
def browser():
    """Headless Chromium through selenium and Debian's chromium-driver."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = _browser_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1120,880",
                # evil.example stands for a domain an attacker rebound to this machine (DNS rebinding tests)
                "--host-resolver-rules=MAP evil.example 127.0.0.1"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
