"""drive.py stops cleanly on SIGTERM and on SIGINT, also when SIGINT was ignored at start.

A clean stop: the connected simulator gets `steer 0,0`, the summary is printed, the recording is
flushed (every answered frame on disk byte for byte, one log row each) and the exit status is 0.
"""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import websocket
from drive_wire import SimulatorSocket, real_center_frames, steer_values, telemetry

from steering.data.reading import read_logs

REPO = Path(__file__).resolve().parents[1]
FRAMES = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ignore_sigint() -> None:
    """What a non-interactive shell does to a job it starts with `&`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def drive_then_signal(checkpoint: Path, record: Path, sig: int, preexec=None) -> tuple[int, str, list, list]:
    """Start drive.py recording, drive FRAMES frames lock-step, send `sig` with the simulator still
    connected. Returns (exit status, output, commands answered, what the simulator got last)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-W", "ignore", str(REPO / "drive.py"), str(checkpoint), str(record), "--port", str(port),
         "--device", "cpu", "--backend", "torch", "--stats-every", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO, preexec_fn=preexec)
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("listening on"):
                break
        else:
            pytest.fail("drive.py exited before listening:\n" + "".join(lines))
        sim = SimulatorSocket(port)
        assert sim.recv_event() == ("steer", {"steering_angle": "0", "throttle": "0"})
        commands = []
        for jpeg in real_center_frames(FRAMES):
            sim.send_telemetry(telemetry(jpeg, speed=5.0))
            name, data = sim.recv_event()
            assert name == "steer"
            commands.append(steer_values(data))
        proc.send_signal(sig)  # at once: the last frames may still be in the recorder's queue
        last = []
        try:
            while True:
                last.append(sim.recv_event())
        except (OSError, websocket.WebSocketException):
            pass  # the server closed the connection
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, "".join(lines) + out, commands, last


def assert_clean_stop(returncode: int, out: str, commands: list, last: list, record: Path, name: str) -> None:
    assert returncode == 0, out
    assert f"stopped by {name}." in out and f"steer {FRAMES}" in out and "latency p50/p99 ms: decode" in out, out
    assert f"recorded {FRAMES} frames" in out and "(0 dropped)" in out, out
    assert last == [("steer", {"steering_angle": "0.000000", "throttle": "0.000000"})], \
        f"the simulator must be left with wheels straight and no throttle, got {last}"
    images = sorted((record / "IMG").glob("center_*.jpg"))
    assert [p.read_bytes() for p in images] == real_center_frames(FRAMES), "every answered frame, byte for byte"
    rows = read_logs(record / "driving_log.csv").rows
    assert len(rows) == FRAMES
    assert rows["steering"].tolist() == pytest.approx([s for s, _ in commands], abs=1e-6)
    assert rows["throttle"].tolist() == pytest.approx([t for _, t in commands], abs=1e-6)
    assert [Path(p).name for p in rows["center"]] == [p.name for p in images]


@pytest.mark.slow
def test_sigterm_stops_cleanly_and_flushes_the_recording(make_checkpoint, tmp_path):
    record = tmp_path / "run"
    result = drive_then_signal(make_checkpoint("pilotnet"), record, signal.SIGTERM)
    assert_clean_stop(*result, record, "SIGTERM")


@pytest.mark.slow
def test_sigint_stops_cleanly_even_when_ignored_at_start(make_checkpoint, tmp_path):
    record = tmp_path / "run"
    result = drive_then_signal(make_checkpoint("pilotnet"), record, signal.SIGINT, preexec=ignore_sigint)
    assert_clean_stop(*result, record, "SIGINT")
