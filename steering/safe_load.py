"""`torch.load(weights_only=True)` with its failures sorted into a few plain kinds.

PyTorch's own error text for a refused file advises re-running `torch.load` with
`weights_only=False`, which would run whatever code the file carries. The project never passes
that on: `load_weights_only` raises `SafeLoadError` with a kind and a short detail of its own
(the name of the refused object, the OS's reason), chained to nothing, and each caller turns the
kind into one sentence saying what to do (`steering.checkpoint`, `steering.model`).
"""
from __future__ import annotations

import logging
import pickle
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

MISSING, UNREADABLE, CORRUPT, UNSAFE = "missing", "unreadable", "corrupt", "unsafe"
_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")  # "Unsupported global: GLOBAL numpy...._reconstruct was not ..."


class SafeLoadError(Exception):
    """A file `torch.load(weights_only=True)` cannot read; `kind` is one of MISSING, UNREADABLE, CORRUPT, UNSAFE.

    `detail` is plain and ours: the refused object's name, the OS's reason, "empty file", or "".
    """

    def __init__(self, path: Path, kind: str, detail: str = "") -> None:
        super().__init__(f"{path}: {kind}{f' ({detail})' if detail else ''}")
        self.path, self.kind, self.detail = path, kind, detail


def load_weights_only(path: str | Path) -> Any:
    """The object in `path`, read with PyTorch's safe unpickler on the CPU; SafeLoadError otherwise."""
    path = Path(path)
    if not path.exists():
        raise SafeLoadError(path, MISSING)
    try:
        with warnings.catch_warnings():  # torch warns about a bare pickle's protocol before refusing it
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location="cpu", weights_only=True)
    except OSError as exc:  # a directory, no permission, an I/O error
        failure = SafeLoadError(path, UNREADABLE, exc.strerror or type(exc).__name__)
    except pickle.UnpicklingError as exc:
        found = _GLOBAL.search(str(exc))
        if found or (_is_pickle(path) and "weights only load failed" in str(exc).lower()):
            failure = SafeLoadError(path, UNSAFE, found.group(1) if found else "")
        else:  # bytes the unpickler choked on that are no pickle at all
            failure = SafeLoadError(path, CORRUPT, _corrupt_detail(path))
    except (zipfile.BadZipFile, EOFError, RuntimeError, ValueError, KeyError, IndexError, TypeError,
            AttributeError) as exc:
        # What torch raises for truncated or damaged archives and for bytes that are no pickle at all
        # (a text file ends in KeyError, an empty one in EOFError).
        log.debug("%s: torch.load failed: %s: %s", path, type(exc).__name__, str(exc)[:200])
        failure = SafeLoadError(path, CORRUPT, _corrupt_detail(path))
    raise failure from None  # never chain torch's text: it advises loading the file unsafely


def _head(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(64)


def _is_pickle(path: Path) -> bool:
    """A torch zip archive or a bare pickle (protocol 2+ starts with PROTO, 0x80): well-formed, just refused."""
    return zipfile.is_zipfile(path) or _head(path).startswith(b"\x80")


def _corrupt_detail(path: Path) -> str:
    head = _head(path)
    if not head:
        return "empty file"
    if head.startswith(b"version https://git-lfs"):
        return "a Git LFS pointer, not the file: run git lfs pull"
    return ""
