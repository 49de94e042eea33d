"""`model.pt`: one file that carries everything needed to drive (and to resume training).

Layout (a plain dict of primitives and tensors, so `torch.load(weights_only=True)` reads it and no
code from a checkpoint is ever executed):

    format_version  int
    model           ModelConfig as dict (registry name + constructor arguments)
    preprocess      PreprocessConfig as dict (the pixels the model was trained on)
    state_dict      the unwrapped model's weights (never a DDP or compiled wrapper)
    train_config    dict or None
    metrics         dict or None (final validation metrics)
    extra           dict (optimizer/scheduler state, epoch, history, RNG state … for --resume)

Writes are atomic: a temp file in the same folder, fsync, then `os.replace`, so a crash mid-save
never leaves a half-written `best.pt`. A write that fails (disk full, no permission) removes its temp
file, leaves the previous file at that path byte for byte as it was, and raises CheckpointWriteError
naming the file and the reason. A process killed mid-write (SIGKILL, power loss) can leave only a
`.NAME.*.tmp` file behind; `remove_stale_temp_files` clears those when the run resumes.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import torch
from torch import nn

from steering.model import ModelConfig, SteeringRegressor, model_from_config
from steering.preprocess import PreprocessConfig
from steering.safe_load import SafeLoadError, load_weights_only

FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint is missing, truncated, corrupt, unsafe or not one of ours.

    `kind` says which: missing, unreadable, corrupt, unsafe, foreign, newer, malformed, mismatch
    (and "write" for CheckpointWriteError); the message is one sentence that names the file and what to do.
    """

    def __init__(self, message: str, kind: str = "invalid") -> None:
        super().__init__(message)
        self.kind = kind


# One sentence per way a checkpoint fails to load: (path, detail) -> message.
_ADVICE: dict[str, Callable[[Path, str], str]] = {
    "missing": lambda path, _: f"{path}: no such checkpoint file; check the path "
                               "(train.py writes best.pt in its output folder).",
    "unreadable": lambda path, why: f"{path}: cannot be read ({why}); check that it is a file you may read.",
    "corrupt": lambda path, why: f"{path}: the file is truncated or corrupt{f' ({why})' if why else ''}; copy it "
                                 "again from where it was trained (an interrupted copy leaves a short file), "
                                 "or retrain.",
    "unsafe": lambda path, name: f"{path}: holds Python objects{f' ({name})' if name else ''} beyond weights and "
                                 "plain values, which train.py never writes and which are not loaded because "
                                 "loading them could run code; retrain, or get the file again from whoever "
                                 "trained it.",
    "foreign": lambda path, what: f"{path}: not a steering checkpoint ({what or 'no format_version/state_dict'}); "
                                  "drive with a model.pt written by train.py, or retrain.",
    "newer": lambda path, version: f"{path}: written by a newer version of steering (checkpoint format {version}; "
                                   f"this one reads format {FORMAT_VERSION}); update steering, or retrain "
                                   "with this version.",
}


class CheckpointWriteError(CheckpointError, OSError):
    """A file could not be written (disk full, no permission…); the previous file at `path` is unchanged.

    Also an OSError, so callers that caught the raw write error still catch it.
    """

    def __init__(self, path: Path, cause: OSError, existed: bool) -> None:
        self.path, self.cause = path, cause
        reason = cause.strerror or str(cause) or type(cause).__name__
        kept = f"the previous {path.name} is unchanged" if existed else "nothing was written there"
        super().__init__(f"{path}: could not write ({reason}); {kept}", kind="write")
        self.errno, self.strerror, self.filename = cause.errno, cause.strerror, str(path)

    def __str__(self) -> str:  # OSError would format its own args
        return str(self.args[0])


@dataclass
class Checkpoint:
    model_config: ModelConfig
    preprocess: PreprocessConfig
    state_dict: dict[str, torch.Tensor]
    train_config: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def build_model(self, device: str | torch.device = "cpu") -> SteeringRegressor:
        """The model in eval mode with the stored weights, on `device`."""
        model = model_from_config(self.model_config, self.preprocess)
        model.load_state_dict(self.state_dict)
        return model.to(device).eval()


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside a DDP / DataParallel / torch.compile wrapper."""
    while True:
        if hasattr(model, "module") and isinstance(model.module, nn.Module):
            model = model.module
        elif hasattr(model, "_orig_mod"):  # torch.compile
            model = model._orig_mod
        else:
            return model


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    model_config: ModelConfig,
    preprocess: PreprocessConfig,
    train_config: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format_version": FORMAT_VERSION,
        "model": model_config.to_dict(),
        "preprocess": preprocess.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in unwrap(model).state_dict().items()},
        "train_config": train_config,
        "metrics": metrics,
        "extra": extra or {},
    }
    return atomic_torch_save(payload, path)


def atomic_torch_save(payload: Any, path: str | Path) -> Path:
    """`torch.save` to a temp file in the same folder, then `os.replace`: readers never see half a file."""
    return atomic_write(path, lambda handle: torch.save(payload, handle))


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write a text file (history.json, config.json) atomically, like a checkpoint."""
    return atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


class _RecordingFile:
    """A binary file that remembers the first OSError of a write.

    torch.save reports a failed write (ENOSPC included) only as RuntimeError('[enforce fail at
    inline_container.cc] unexpected pos …'); the recorded error keeps the real reason.
    """

    def __init__(self, handle: IO[bytes]):
        self.handle, self.error = handle, None

    def write(self, data: bytes) -> int:
        try:
            return self.handle.write(data)
        except OSError as exc:
            self.error = self.error or exc
            raise

    def flush(self) -> None:
        try:
            self.handle.flush()
        except OSError as exc:
            self.error = self.error or exc
            raise


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call `write(handle)` on a temp file beside `path`, fsync, then `os.replace` it onto `path`.

    Any failure removes the temp file and leaves `path` as it was; OS-level failures (ENOSPC, EACCES,
    EIO…, also when torch.save hides them) raise CheckpointWriteError naming `path` and the reason.
    """
    path = Path(path)
    existed = path.exists()
    tmp: str | None = None
    recorder: _RecordingFile | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            recorder = _RecordingFile(handle)
            write(recorder)
            recorder.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        cause = recorder.error if recorder and recorder.error else exc
        if isinstance(cause, OSError) and not isinstance(exc, (KeyboardInterrupt, CheckpointWriteError)):
            raise CheckpointWriteError(path, cause, existed) from exc
        raise
    return path


def remove_stale_temp_files(folder: str | Path, names: Iterable[str]) -> list[Path]:
    """Delete the temp files a killed `atomic_write` of `folder/NAME` left (`.NAME.*.tmp`); returns them."""
    removed = []
    for name in names:
        for stale in Path(folder).glob(f".{name}.*.tmp"):
            stale.unlink(missing_ok=True)
            removed.append(stale)
    return removed


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint safely (weights_only). Every failure is a CheckpointError naming the file,
    with `kind` (see `_ADVICE`) and one sentence saying what to do; never advice to load it unsafely."""
    path = Path(path)
    try:
        raw = load_weights_only(path)
    except SafeLoadError as exc:
        raise CheckpointError(_ADVICE[exc.kind](path, exc.detail), kind=exc.kind) from None
    if not isinstance(raw, dict) or "format_version" not in raw or "state_dict" not in raw:
        raise CheckpointError(_ADVICE["foreign"](path, ""), kind="foreign")
    version = raw["format_version"]
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        raise CheckpointError(_ADVICE["newer"](path, str(version)), kind="newer")
    if version != FORMAT_VERSION:
        raise CheckpointError(_ADVICE["foreign"](path, f"format_version {version!r}"), kind="foreign")
    try:
        return Checkpoint(
            model_config=ModelConfig.from_dict(raw["model"]),
            preprocess=PreprocessConfig.from_dict(raw["preprocess"]),
            state_dict=raw["state_dict"],
            train_config=raw.get("train_config"),
            metrics=raw.get("metrics"),
            extra=raw.get("extra") or {},
            path=path,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: malformed checkpoint: {exc}", kind="malformed") from exc


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[SteeringRegressor, PreprocessConfig]:
    """The one call drive.py needs: model (eval mode) and the preprocessing it was trained with."""
    ckpt = load_checkpoint(path)
    try:
        model = ckpt.build_model(device)
    except RuntimeError as exc:  # load_state_dict: keys or shapes differ from the architecture
        raise CheckpointError(f"{path}: weights do not match model {ckpt.model_config.name!r}: {exc}",
                              kind="mismatch") from exc
    return model, ckpt.preprocess
