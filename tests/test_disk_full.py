"""A checkpoint write that runs out of space: the previous file stays intact, no temp files, one clear line.

A real full disk makes torch.save fail with RuntimeError('[enforce fail at inline_container.cc] unexpected
pos …'); `_FillingFile` reproduces that by raising ENOSPC partway through a write, as the kernel does.
"""
from __future__ import annotations

import errno
import json
import os
import re
import sys
from pathlib import Path

import pytest
import torch

from steering.checkpoint import load_checkpoint
from steering.data.synthetic import write_line_recording

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # train.py


class _FillingFile:
    """A binary file that takes `room` more bytes, writes part of the next chunk, then raises ENOSPC."""

    def __init__(self, handle, room: int):
        self.handle, self.room = handle, room

    def write(self, data) -> int:
        data = bytes(data)
        if len(data) > self.room:
            self.handle.write(data[: self.room])  # part of the chunk reaches the file, as on a real disk
            self.room = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.handle.write(data)

    def __getattr__(self, name):
        return getattr(self.handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.handle.close()


def fill_disk(monkeypatch, room: int, when=lambda: True) -> None:
    """Files opened with os.fdopen (the atomic writes' temp files) take `room` bytes, once `when()` holds."""
    real_fdopen = os.fdopen

    def fdopen(fd, *args, **kwargs):
        handle = real_fdopen(fd, *args, **kwargs)
        return _FillingFile(handle, room) if when() else handle

    monkeypatch.setattr(os, "fdopen", fdopen)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two oversubscribe a busy 2-core machine several-fold
    yield
    torch.set_num_threads(threads)


def _model_file(tmp_path, seed: int) -> tuple[Path, torch.nn.Module]:
    from steering.checkpoint import save_checkpoint
    from steering.model import ModelConfig, create_model, default_preprocess

    torch.manual_seed(seed)
    model = create_model("pilotnet").eval()
    return save_checkpoint(tmp_path / "model.pt", model, ModelConfig("pilotnet"), default_preprocess("pilotnet")), model


@pytest.mark.parametrize("step, code", [("write", errno.ENOSPC), ("fsync", errno.ENOSPC), ("replace", errno.EACCES)])
def test_failed_checkpoint_write_keeps_the_previous_file_byte_for_byte(tmp_path, monkeypatch, step, code):
    from steering.checkpoint import CheckpointError, CheckpointWriteError, save_checkpoint
    from steering.model import ModelConfig, create_model, default_preprocess

    path, old_model = _model_file(tmp_path, seed=0)
    before = path.read_bytes()
    error = OSError(code, os.strerror(code))
    if step == "write":
        fill_disk(monkeypatch, room=10_000)  # the checkpoint is ~1 MB: the disk fills partway

    def fail(*args, **kwargs):
        raise error

    if step in ("fsync", "replace"):
        monkeypatch.setattr(os, step, fail)
    torch.manual_seed(1)
    with pytest.raises(CheckpointWriteError) as info:
        save_checkpoint(path, create_model("pilotnet"), ModelConfig("pilotnet"), default_preprocess("pilotnet"))
    monkeypatch.undo()
    assert str(info.value) == f"{path}: could not write ({os.strerror(code)}); the previous model.pt is unchanged"
    assert isinstance(info.value, CheckpointError) and isinstance(info.value, OSError)
    assert (info.value.errno, info.value.path) == (code, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"], "temp file left behind"
    kept = load_checkpoint(path).state_dict
    for key, tensor in old_model.state_dict().items():
        assert torch.equal(kept[key], tensor), key


def test_failed_first_write_leaves_nothing(tmp_path, monkeypatch):
    from steering.checkpoint import CheckpointWriteError, atomic_write_text

    fill_disk(monkeypatch, room=3)
    with pytest.raises(CheckpointWriteError, match=r"history\.json: could not write \(No space left on device\); "
                                                   r"nothing was written there"):
        atomic_write_text(tmp_path / "history.json", "[1, 2, 3]\n")
    assert list(tmp_path.iterdir()) == []


def test_trainer_out_of_space_stops_with_one_line_and_keeps_the_last_epoch(tmp_path, monkeypatch, capsys):
    import train as train_cli

    log = write_line_recording(tmp_path / "rec", count=40, seed=0)
    out = tmp_path / "run"
    snapshot: dict[str, bytes] = {}

    def disk_full() -> bool:  # the disk fills up once epoch 1 is on it
        if not (out / "history.json").is_file():
            return False
        if not snapshot:
            snapshot.update({name: (out / name).read_bytes() for name in ("best.pt", "last.pt", "history.json")})
        return True

    fill_disk(monkeypatch, room=50_000, when=disk_full)
    code = train_cli.main([str(log), "--model", "pilotnet", "--pretrained", "none", "--strategy", "finetune",
                           "--epochs", "3", "--batch-size", "8", "--out", str(out), "--no-progress", "--seed", "2"])
    monkeypatch.undo()
    captured = capsys.readouterr()
    assert code == 1 and "model to drive" not in captured.out
    assert "Traceback" not in captured.err
    lines = [line for line in captured.err.splitlines() if line.startswith("train.py:")]
    assert len(lines) == 1, captured.err
    failed = re.fullmatch(
        rf"train\.py: {re.escape(str(out))}/(best|last)\.pt: could not write \(No space left on device\); the "
        rf"previous \1\.pt is unchanged\. Training stopped: {re.escape(str(out / 'last.pt'))} and history\.json hold "
        rf"epoch 1 of 3; free some space, then continue with --resume {re.escape(str(out / 'last.pt'))}", lines[0])
    assert failed, lines[0]
    assert set(snapshot) == {"best.pt", "last.pt", "history.json"}
    for name, data in snapshot.items():
        assert (out / name).read_bytes() == data, f"{name} changed"
    assert not list(out.glob(".*.tmp")), "temp files left in the run folder"
    assert load_checkpoint(out / "last.pt").extra["epoch"] == 1
    assert len(json.loads((out / "history.json").read_text())) == 1
