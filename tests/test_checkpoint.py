"""model.pt: round trip, atomic writes, and refusal of corrupt or unsafe files."""
from __future__ import annotations

import os
import pickle

import pytest
import torch

from steering.checkpoint import CheckpointError, load_checkpoint, load_model, save_checkpoint
from steering.model import ModelConfig, create_model, default_preprocess
from steering.preprocess import PreprocessConfig


def _saved_resnet18(tmp_path):
    torch.manual_seed(7)
    model = create_model("resnet18").eval()
    pre = PreprocessConfig(height=80, width=160)
    path = save_checkpoint(tmp_path / "model.pt", model, ModelConfig("resnet18"), pre,
                           train_config={"lr": 3e-4}, metrics={"val_mse": 0.01})
    return model, pre, path


def test_round_trip_gives_bit_identical_outputs(tmp_path):
    model, pre, path = _saved_resnet18(tmp_path)
    x = torch.randn(4, *pre.input_shape)
    with torch.inference_mode():
        expected = model(x)
    loaded, loaded_pre = load_model(path)
    with torch.inference_mode():
        got = loaded(x)
    assert torch.equal(got, expected)
    assert loaded_pre == pre
    assert not loaded.training


def test_checkpoint_carries_everything_needed_to_drive(tmp_path):
    _, pre, path = _saved_resnet18(tmp_path)
    ckpt = load_checkpoint(path)
    assert ckpt.model_config == ModelConfig("resnet18")
    assert ckpt.preprocess == pre
    assert ckpt.train_config == {"lr": 3e-4}
    assert ckpt.metrics == {"val_mse": 0.01}


def test_save_leaves_no_temporary_files(tmp_path):
    _saved_resnet18(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]


def test_truncated_file_names_the_file(tmp_path):
    _, _, path = _saved_resnet18(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"model\.pt: not a readable steering checkpoint"):
        load_model(path)


class _Exploit:
    """Unpickling this would create a file: proof that code from a checkpoint ran."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_that_runs_code_is_refused_and_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format_version": 1, "state_dict": {}, "payload": _Exploit(str(marker))}, path)
    with pytest.raises(CheckpointError, match="evil.pt"):
        load_checkpoint(path)
    assert not marker.exists(), "code inside the checkpoint was executed"


def test_plain_pickle_is_refused(tmp_path):
    path = tmp_path / "old.pt"
    path.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(CheckpointError, match="old.pt"):
        load_checkpoint(path)


def test_foreign_state_dict_is_not_mistaken_for_a_checkpoint(tmp_path):
    path = tmp_path / "weights.pth"
    torch.save(create_model("pilotnet").state_dict(), path)
    with pytest.raises(CheckpointError, match="not a steering checkpoint"):
        load_checkpoint(path)


def test_missing_file_says_so(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_model(tmp_path / "nope.pt")


def test_weights_for_another_architecture_are_reported(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", create_model("pilotnet"), ModelConfig("resnet18"),
                           default_preprocess("pilotnet"))
    with pytest.raises(CheckpointError, match="do not match model 'resnet18'"):
        load_model(path)


def test_unknown_config_keys_are_named(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", create_model("pilotnet"), ModelConfig("pilotnet"),
                           default_preprocess("pilotnet"))
    raw = torch.load(path, weights_only=True)
    raw["preprocess"]["gamma"] = 2.2
    torch.save(raw, path)
    with pytest.raises(CheckpointError, match="unknown PreprocessConfig field.*gamma"):
        load_checkpoint(path)


def test_saving_unwraps_data_parallel(tmp_path):
    model = create_model("pilotnet").eval()
    path = save_checkpoint(tmp_path / "m.pt", torch.nn.DataParallel(model), ModelConfig("pilotnet"),
                           default_preprocess("pilotnet"))
    assert not any(k.startswith("module.") for k in load_checkpoint(path).state_dict)
