"""OpenVINO beside training in one process: the sequence that killed a full test run with SIGSEGV
(OpenVINO predictors built and run, then DataLoader workers started, then OpenVINO again) must
finish cleanly, and once OpenVINO is loaded DataLoader workers no longer fork this process."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

SEQUENCE = textwrap.dedent("""
    import sys, threading
    import torch
    from steering.checkpoint import save_checkpoint
    from steering.data import SteeringDataset, make_loader, read_logs, samples_from_log
    from steering.data.dataset import worker_start_method
    from steering.inference import InferenceConfig, Predictor
    from steering.inference.predictor import blank_frame
    from steering.model import ModelConfig, create_model, default_preprocess

    folder, log = sys.argv[1], sys.argv[2]
    torch.manual_seed(0)
    path = save_checkpoint(folder + "/model.pt", create_model("pilotnet").eval(), ModelConfig(name="pilotnet"),
                           default_preprocess("pilotnet"))
    first = Predictor(path, InferenceConfig(device="cpu", backend="openvino"))
    x = first.prepare(blank_frame())
    worker = threading.Thread(target=lambda: [first.infer(x) for _ in range(50)])  # the server's model thread
    worker.start(); worker.join()
    print("start method", worker_start_method(), flush=True)
    samples = samples_from_log(read_logs(log).rows, cameras="center").iloc[:16].reset_index(drop=True)
    loader = make_loader(SteeringDataset(samples, first.preprocess), batch_size=4, shuffle=True, workers=2)
    for epoch in range(2):
        batches = [images.shape[0] for images, _ in loader]
        assert batches == [4, 4, 4, 4], batches
    steering = [first.infer(x) for _ in range(20)]
    second = Predictor(path, InferenceConfig(device="cpu", backend="openvino"))
    assert abs(second.infer(x) - steering[-1]) < 1e-6
    del loader
    print("done", flush=True)
""")


def test_openvino_then_dataloader_workers_then_openvino_exits_cleanly(tmp_path, windows_log):
    pytest.importorskip("openvino")
    proc = subprocess.run([sys.executable, "-X", "faulthandler", "-c", SEQUENCE, str(tmp_path), str(windows_log)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr[-4000:]}"
    assert "start method forkserver" in proc.stdout and proc.stdout.rstrip().endswith("done"), proc.stdout


def test_dataloader_workers_fork_when_no_fork_unsafe_library_is_loaded(monkeypatch):
    from steering.data.dataset import FORK_UNSAFE_MODULES, worker_start_method

    for name in FORK_UNSAFE_MODULES:
        monkeypatch.delitem(sys.modules, name, raising=False)
    assert worker_start_method() is None
    monkeypatch.setitem(sys.modules, "openvino", object())
    assert worker_start_method() == "forkserver"
