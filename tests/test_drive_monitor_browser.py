"""The monitor page in a real browser: drive.py --monitor in a subprocess, real frames over the
simulator's wire, headless Chromium (selenium + Debian's chromium-driver) reading the DOM.

The `browser` fixture (tests/conftest.py) skips only where Chromium is not installed; under CI
(CI=true) a missing Chromium fails, since .ci/run installs it.
STEERING_MONITOR_SCREENSHOT=docs/monitor.png also copies the screenshot there.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from drive_wire import SimulatorSocket, real_center_frames, telemetry  # noqa: E402

pytestmark = pytest.mark.slow


@contextlib.contextmanager
def _drive_py(checkpoint, record, *flags: str):
    """drive.py CHECKPOINT RECORD_DIR --monitor [flags] on free ports: yields (drive port, monitor URL)."""
    proc = subprocess.Popen(
        [sys.executable, "-W", "ignore", str(REPO / "drive.py"), str(checkpoint), str(record),
         "--port", "0", "--monitor", "--monitor-port", "0", "--device", "cpu", "--stats-every", "0", *flags],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
    lines: list[str] = []
    try:
        monitor_url = port = None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("monitor: "):
                monitor_url = line.split()[1]
            if line.startswith("listening on"):
                port = int(re.search(r":(\d+)/socket\.io", line).group(1))
                break
        if monitor_url is None or port is None:
            pytest.fail("drive.py --monitor did not start:\n" + "".join(lines))
        yield port, monitor_url
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture()
def drive_with_monitor(make_checkpoint, tmp_path):
    """drive.py MODEL RECORD_DIR --monitor on free ports: yields (drive port, monitor URL, record dir)."""
    record = tmp_path / "run1"
    with _drive_py(make_checkpoint("pilotnet"), record) as (port, url):
        yield port, url, record


def _wait(predicate, timeout: float = 20.0, what: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def _text(driver, element_id: str) -> str:
    return driver.find_element("id", element_id).text


def _drive(sim: SimulatorSocket, jpegs: list[bytes], speed: float) -> str:
    """Send each frame, wait for its reply; the last `steer` steering string."""
    last = ""
    for i, jpeg in enumerate(jpegs):
        # The car speeds up to `speed` over each call, so the speed chart has a shape.
        sim.send_telemetry(telemetry(jpeg, speed=speed * (i + 1) / len(jpegs)))
        name, data = sim.recv_event()
        assert name == "steer", (name, data)
        last = data["steering_angle"]
    return last


def test_page_shows_frames_steering_charts_and_switches(drive_with_monitor, browser, tmp_path):
    port, url, record = drive_with_monitor
    jpegs = real_center_frames(60)
    browser.get(url)
    assert browser.title.startswith("steering")
    sim = SimulatorSocket(port)
    try:
        sim.recv_event()  # the connect steer
        _drive(sim, jpegs[:20], speed=12.0)
        first = int(_wait(lambda: int(_text(browser, "frame-count") or 0), what="a first frame on the page"))
        last_steer = _drive(sim, jpegs[20:40], speed=12.0)
        _wait(lambda: int(_text(browser, "frame-count")) > first, what="the frame counter to advance")
        assert int(_text(browser, "frame-count")) <= 40
        # The page settles on the last command the simulator received, digit for digit.
        _wait(lambda: _text(browser, "steer-value") == last_steer,
              what=f"steering {last_steer} (page shows {_text(browser, 'steer-value')})")
        assert float(_text(browser, "speed-value")) == 12.0
        for chart in ("chart-steering", "chart-throttle", "chart-speed"):
            _wait(lambda chart=chart: int(browser.find_element("id", chart).get_attribute("data-points")) == 40,
                  what=f"{chart} to hold all 40 frames")
        assert _text(browser, "connection") == "driving"
        assert "backend" in _text(browser, "runtime")
        # Stats refresh once a second (MonitorConfig.stats_s): wait for the 40 frames' latency.
        _wait(lambda: "steer 40" in _text(browser, "counters").replace("\n", " "), what="the event counters")
        for cell in ("lat-total-p50", "lat-total-p99", "lat-infer-p50", "lat-infer-p99"):
            assert float(_text(browser, cell)) > 0, cell
        assert float(_text(browser, "lat-total-p50")) >= float(_text(browser, "lat-infer-p50"))
        assert _text(browser, "safe-count") == "0"

        # A malformed frame: the safe command, counted by kind on the page.
        sim.send_telemetry({"bad": "payload"})
        assert sim.recv_event()[0] == "steer"
        _wait(lambda: _text(browser, "safe-count") == "1", what="the safe-command counter")
        errors = browser.find_element("css selector", '#errors b[data-kind="missing_field"]')
        assert errors.text == "1"

        # Record switch: off, then 10 frames that must not reach run1/IMG.
        toggle = browser.find_element("id", "record-toggle")
        assert toggle.is_enabled() and toggle.is_selected()
        toggle.click()
        _wait(lambda: _text(browser, "record-status").startswith("paused"), what="recording paused")
        _drive(sim, jpegs[40:50], speed=12.0)
        toggle.click()
        _wait(lambda: _text(browser, "record-status").startswith("recording"), what="recording resumed")

        # Saliency overlay on: a 320x160 heat map appears over the camera.
        browser.find_element("id", "saliency-toggle").click()
        _wait(lambda: browser.execute_script(
            "const o = document.getElementById('saliency'); return !o.hidden && o.naturalWidth === 320;"),
            what="the saliency overlay")
        _drive(sim, jpegs[50:60], speed=12.0)
        _wait(lambda: int(_text(browser, "frame-count")) == 60, what="the last frame on the page")
        assert browser.execute_script("return document.getElementById('camera').naturalHeight") == 160
        time.sleep(1.2)  # one more overlay for the newest frame, for the screenshot
        shot = tmp_path / "monitor.png"
        assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
        if os.environ.get("STEERING_MONITOR_SCREENSHOT"):
            shutil.copyfile(shot, REPO / os.environ["STEERING_MONITOR_SCREENSHOT"])
    finally:
        sim.close()
    # 60 frames driven, 10 of them while recording was paused.
    _wait(lambda: len(list((record / "IMG").glob("center_*.jpg"))) == 50, timeout=10, what="50 recorded frames")


def test_alarm_chart_draws_the_score_threshold_and_alarm_periods(make_checkpoint, browser, tmp_path):
    from steering.monitors import fit_monitor, score_frames_with
    from steering.preprocess import decode_jpeg

    checkpoint = make_checkpoint("pilotnet", seed=5)
    jpegs = real_center_frames(26)
    monitor = fit_monitor("tta", [decode_jpeg(j) for j in jpegs[:6]], [checkpoint])
    scores = score_frames_with(monitor, [decode_jpeg(j) for j in jpegs[6:]], checkpoint)
    monitor.threshold = float(sorted(scores)[len(scores) // 2])  # half the driven frames alarm
    expected_alarms = int((scores > monitor.threshold).sum())
    path = monitor.save(tmp_path / "tta.pt")
    with _drive_py(checkpoint, tmp_path / "run1", "--alarm", "tta", "--alarm-file", str(path)) as (port, url):
        browser.get(url)
        sim = SimulatorSocket(port)
        try:
            sim.recv_event()
            _drive(sim, jpegs[6:], speed=12.0)
        finally:
            sim.close()
        chart = browser.find_element("id", "chart-alarm")
        _wait(lambda: chart.is_displayed() and chart.get_attribute("data-points") == "20",
              what="the alarm chart to hold all 20 scores")
        assert int(chart.get_attribute("data-alarms")) == expected_alarms > 0
        assert float(chart.get_attribute("data-threshold")) == pytest.approx(monitor.threshold, rel=1e-9)
        assert float(_text(browser, "alarm-threshold")) == pytest.approx(monitor.threshold, rel=1e-3)
        assert float(_text(browser, "alarm-value")) == pytest.approx(scores[-1], rel=1e-3)
        # drawn: the score line, the threshold line and the shaded alarm periods leave non-blank pixels
        def painted(rows: int) -> int:
            return browser.execute_script(
                "const c = document.getElementById('chart-alarm');"
                "const d = c.getContext('2d').getImageData(0, 0, c.width, arguments[0]).data;"
                "let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n += 1; return n;", rows)

        # The threshold's dashed line alone paints at most 640 px (2 antialiased rows, dashes on 4/7 of 560);
        # how much the score line and shading add depends on how the 20 frames' times spread over the chart's
        # window (1,098 px in all once on a loaded machine). The top 6 rows lie above the threshold (drawn at
        # most 1/1.5 of the way up): only the shading and the score's peak can paint there.
        assert painted(64) > 700
        assert painted(6) > 0
