"""The same train.py under torchrun: 2 CPU processes (gloo), DistributedSampler, rank 0 writes."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from steering.checkpoint import load_model
from steering.data.synthetic import write_line_recording

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_two_processes_train_one_model_and_only_rank_zero_writes(tmp_path):
    log = write_line_recording(tmp_path / "rec", count=60, seed=2)
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={free_port()}",
               str(REPO / "train.py"), str(log), "--model", "pilotnet", "--pretrained", "none",
               "--strategy", "two-phase", "--head-epochs", "1", "--unfreeze-stages", "1", "--epochs", "2",
               "--batch-size", "8", "--out", str(out), "--no-progress", "--device", "cpu"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("model to drive:") == 1, "only rank 0 prints the result"
    assert "rank 1 of 2" not in done.stderr  # rank 1 logs warnings only
    history = json.loads((out / "history.json").read_text())
    assert [h["cached"] for h in history] == [True, False]
    assert len(history) == 2 and all(h["val_loss"] > 0 for h in history)
    # 60 frames: 25 train after the block split; DistributedSampler pads to 2 x 13, one half per rank
    assert "25 train, 30 val" in done.stderr
    assert [h["train_images"] for h in history] == [26, 26]
    assert json.loads((out / "config.json").read_text())["epochs"] == 2
    model, preprocess = load_model(out / "best.pt")
    assert preprocess.colorspace == "yuv"
    assert not list(out.glob(".*.tmp")), "no half-written checkpoint left behind"
