"""drive.py: help, clear start-up failures, and a real run stopped with Ctrl-C that flushes its recording."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # drive.py is a script at the repository root, not part of the package

from drive_wire import SimulatorSocket, real_center_frames, telemetry  # noqa: E402

import drive  # noqa: E402
from steering.data.reading import read_logs  # noqa: E402


def test_help_explains_every_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        drive.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--speed", "--max-throttle", "--turn-slowdown", "--smooth", "--device", "--backend", "--precision",
                 "--threads", "--host", "--port", "--stats-every", "--verbose", "record_dir"):
        assert flag in text, f"--help does not mention {flag}"
    for group in ("control:", "model runtime:", "server:"):
        assert group in text


def test_missing_model_fails_at_start_with_clear_message(tmp_path, capsys):
    assert drive.main([str(tmp_path / "model.pt"), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "cannot load the model" in err and "model.pt: no such checkpoint file" in err


def test_corrupt_model_fails_at_start_with_clear_message(tmp_path, capsys):
    corrupt = tmp_path / "model.pt"
    corrupt.write_bytes(b"definitely not a checkpoint, just text")
    assert drive.main([str(corrupt), "--port", "0"]) == 2
    assert "cannot load the model" in capsys.readouterr().err


def test_bad_option_value_fails_with_clear_message(make_checkpoint, capsys):
    assert drive.main([str(make_checkpoint("pilotnet")), "--port", "0", "--smooth", "1.5"]) == 2
    assert "smooth must be in [0, 1)" in capsys.readouterr().err


def test_default_runtime_is_auto_and_resolves_to_the_first_installed_of_the_measured_order(make_checkpoint):
    pytest.importorskip("onnxruntime")
    from steering.inference import InferenceConfig, Predictor, runtimes

    path = make_checkpoint("pilotnet")
    config = drive.config_from(drive.build_parser().parse_args([str(path)])).inference
    assert config == InferenceConfig() and config.backend == "auto" and config.precision == "auto"
    predictor = Predictor(path, InferenceConfig(device="cpu", backend=config.backend, warmup=0))
    expected = "openvino" if runtimes.RUNTIMES["openvino"].installed() else "onnx"
    assert predictor.backend == expected and f"backend {expected}" in predictor.describe()
    assert predictor.choice.startswith(f"{expected} ") and "gate 0.01" in predictor.choice


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_ctrl_c_prints_counters_and_flushes_the_recording(make_checkpoint, tmp_path):
    port = free_port()
    record = tmp_path / "run1"
    proc = subprocess.Popen(
        [sys.executable, "-W", "ignore", str(REPO / "drive.py"), str(make_checkpoint("pilotnet")), str(record),
         "--port", str(port), "--device", "cpu", "--stats-every", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
    try:
        lines = []
        for line in proc.stdout:  # wait for the server to listen
            lines.append(line)
            if line.startswith("listening on"):
                break
        else:
            pytest.fail("drive.py exited before listening:\n" + "".join(lines))
        assert any(line.startswith("model: ") and ", backend " in line for line in lines), lines
        jpegs = real_center_frames(5)
        sim = SimulatorSocket(port)
        sim.recv_event()
        for jpeg in jpegs:
            sim.send_telemetry(telemetry(jpeg, speed=10.0))
            assert sim.recv_event()[0] == "steer"
        sim.send_telemetry({"bad": "payload"})
        sim.recv_event()
        sim.close()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "latency p50/p99 ms: decode" in out and "steer 5" in out and "missing_field 1" in out, out
    assert "recorded 5 frames" in out, out
    images = sorted((record / "IMG").glob("center_*.jpg"))
    assert [p.read_bytes() for p in images] == jpegs, "the frames the simulator sent, byte for byte"
    log = read_logs(record / "driving_log.csv")
    assert len(log.rows) == 5 and (log.rows["speed"] == 10.0).all()
    assert log.rows["steering"].between(-1, 1).all() and (log.rows["throttle"] > 0).all()
    assert os.path.basename(log.rows["center"][0]).startswith("center_20")
