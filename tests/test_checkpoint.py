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
    with pytest.raises(CheckpointError, match=r"model\.pt: the file is truncated or corrupt; copy it again") as info:
        load_model(path)
    assert info.value.kind == "corrupt"


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


# ---------------------------------------------------------------------------- one plain sentence per failure

UNSAFE_ADVICE = ("weights_only", "torch.load", "trusted source", "add_safe_globals", "arbitrary code")


def _assert_plain(error: CheckpointError, path, kind: str, advice: str) -> None:
    message = str(error)
    assert error.kind == kind, message
    assert message.startswith(f"{path}: ") and advice in message, message
    assert "\n" not in message and message.endswith("."), f"one sentence: {message!r}"
    assert not any(word in message for word in UNSAFE_ADVICE), f"relays PyTorch's advice: {message}"
    # Nothing chained either: an unhandled error's traceback must not show torch's text.
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__), "chained"


def _valid_payload() -> dict:
    model = create_model("pilotnet")
    return {"format_version": 1, "model": ModelConfig("pilotnet").to_dict(),
            "preprocess": default_preprocess("pilotnet").to_dict(), "state_dict": model.state_dict()}


def _load_error(path) -> CheckpointError:
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    return info.value


def test_missing_checkpoint_says_to_check_the_path(tmp_path):
    path = tmp_path / "nope.pt"
    _assert_plain(_load_error(path), path, "missing", "no such checkpoint file; check the path")


@pytest.mark.parametrize("damage", ["half", "empty", "text", "zeroed_end"])
def test_truncated_or_corrupt_file_says_copy_again_or_retrain(tmp_path, damage):
    path = tmp_path / "model.pt"
    torch.save(_valid_payload(), path)
    data = path.read_bytes()
    damaged = {"half": data[: len(data) // 2], "empty": b"", "text": b"version https://git-lfs.github.com/spec/v1\n",
               "zeroed_end": data[:-200] + bytes(200)}[damage]
    path.write_bytes(damaged)
    error = _load_error(path)
    _assert_plain(error, path, "corrupt", "copy it again from where it was trained")
    assert "or retrain." in str(error)
    assert ("(empty file)" in str(error)) == (damage == "empty")
    assert ("(a Git LFS pointer, not the file: run git lfs pull)" in str(error)) == (damage == "text")


def test_file_that_is_no_steering_checkpoint_says_use_train_py(tmp_path):
    path = tmp_path / "weights.pth"
    torch.save(create_model("pilotnet").state_dict(), path)
    _assert_plain(_load_error(path), path, "foreign", "not a steering checkpoint (no format_version/state_dict); "
                                                      "drive with a model.pt written by train.py")
    torch.save({**_valid_payload(), "format_version": "1"}, path)
    _assert_plain(_load_error(path), path, "foreign", "(format_version '1')")


def test_checkpoint_from_a_newer_version_says_update(tmp_path):
    path = tmp_path / "future.pt"
    torch.save({**_valid_payload(), "format_version": 2}, path)
    error = _load_error(path)
    _assert_plain(error, path, "newer", "written by a newer version of steering (checkpoint format 2; "
                                        "this one reads format 1); update steering")


class _Plain:
    """A harmless class: safe loading still refuses it, since it is not a tensor or a plain value."""


@pytest.mark.parametrize("payload", ["exploit", "numpy", "class"])
def test_objects_safe_loading_refuses_are_named_never_loaded_unsafely(tmp_path, payload):
    import numpy as np

    marker = tmp_path / "pwned"
    path = tmp_path / "model.pt"
    extra = {"exploit": _Exploit(str(marker)), "numpy": np.arange(3), "class": _Plain()}[payload]
    torch.save({**_valid_payload(), "extra": {"x": extra}}, path)
    error = _load_error(path)
    _assert_plain(error, path, "unsafe", "which are not loaded because loading them could run code; retrain")
    blocked = {"exploit": "posix.system", "numpy": "_reconstruct", "class": "test_checkpoint._Plain"}[payload]
    assert str(error).split(": holds Python objects (")[1].split(")")[0].endswith(blocked), str(error)
    assert not marker.exists()


def test_plain_pickle_is_refused_as_unsafe(tmp_path):
    path = tmp_path / "old.pt"
    path.write_bytes(pickle.dumps({"a": 1}))
    _assert_plain(_load_error(path), path, "unsafe", "holds Python objects beyond weights")


def test_a_folder_in_place_of_the_file_says_it_cannot_be_read(tmp_path):
    path = tmp_path / "model.pt"
    path.mkdir()
    _assert_plain(_load_error(path), path, "unreadable", "cannot be read (Is a directory)")
