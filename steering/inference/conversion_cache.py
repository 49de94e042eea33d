"""Model files derived from a checkpoint (ONNX export, OpenVINO IR, INT8 models) that cannot go stale.

A derived file beside `model.pt` is used only if it carries `model.pt`'s content hash (SHA-256 of
the checkpoint's bytes): in ONNX `metadata_props`, in OpenVINO IR as `rt_info`. A file without it,
or with another checkpoint's, is rebuilt, and one log line says why. A file's modification time
proves nothing: copying a checkpoint over an old one, or an `.onnx` from another run, keeps or
sets any mtime. Writing the rebuilt file is best effort: a read-only folder only costs the rebuild
at every start.
"""
from __future__ import annotations

import hashlib
import logging
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

HASH_KEY = "steering.checkpoint_sha256"  # ONNX metadata_props key; rt_info path in OpenVINO IR
RECORD_KEY = "steering.export"  # ONNX metadata_props key holding an exported file's record (JSON)
DETAIL_KEY = "steering.derived"  # what the file is (e.g. "int8 static, 64 calibration frames from x.csv")


def checkpoint_hash(path: str | Path) -> str:
    """SHA-256 (hex) of the checkpoint file's bytes; cached per (path, size, mtime) in this process."""
    stat = Path(path).stat()
    return _hash(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=32)
def _hash(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def derived_path(checkpoint: str | Path, suffix: str) -> Path:
    """`runs/x/best.pt` + `.onnx` -> `runs/x/best.onnx`; + `.int8.onnx` -> `runs/x/best.int8.onnx`."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.stem + suffix)


def stale_reason(path: Path, carried: str | None, wanted: str) -> str | None:
    """None when `carried` (the hash a derived file holds) is `wanted`; else why it is not used."""
    if carried is None:
        return f"{path.name} carries no checkpoint hash (not written by this version, or by another tool)"
    if carried != wanted:
        return f"{path.name} was derived from another checkpoint (hash {carried[:12]}, this one is {wanted[:12]})"
    return None


def announce_rebuild(path: Path, reason: str) -> None:
    log.info("not using %s: %s; rebuilding it", path, reason)


def write_atomically(path: Path, data: bytes) -> bool:
    """Write `data` to `path` through a temp file; False (logged at debug) if the folder is read-only."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
        return True
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        log.debug("could not write %s (%s); it is rebuilt at every start", path, exc)
        return False


# ---------------------------------------------------------------- ONNX

def onnx_props(data: bytes) -> dict[str, str]:
    """An ONNX model's metadata_props ({} for bytes that are no ONNX model)."""
    import onnx

    try:
        model = onnx.load_model_from_string(data)
    except Exception:  # noqa: BLE001 - an unreadable file is as good as a missing one
        return {}
    return {p.key: p.value for p in model.metadata_props}


def stamp_onnx(data: bytes, checkpoint_sha256: str, detail: str, extra: dict[str, str] | None = None) -> bytes:
    """The ONNX model `data` with the checkpoint hash (and what it is) in its metadata_props; `extra`
    adds or replaces further keys (an exported file's record, `steering.inference.exported`)."""
    import onnx

    model = onnx.load_model_from_string(data)
    stamped = {HASH_KEY: checkpoint_sha256, DETAIL_KEY: detail, **(extra or {})}
    for key in stamped:
        for prop in [p for p in model.metadata_props if p.key == key]:
            model.metadata_props.remove(prop)
    onnx.helper.set_model_props(model, {**{p.key: p.value for p in model.metadata_props}, **stamped})
    return model.SerializeToString()


def load_onnx(path: Path, checkpoint_sha256: str, detail: str | None = None) -> bytes | None:
    """The bytes of `path` if it exists and was derived from this checkpoint (and, with `detail`,
    in that way, e.g. from the same calibration frames); else None, with one log line why."""
    if not path.is_file():
        return None
    data = path.read_bytes()
    return data if _derived_as_wanted(path, onnx_props(data), checkpoint_sha256, detail) else None


def _derived_as_wanted(path: Path, stamps: dict[str, str], checkpoint_sha256: str, detail: str | None) -> bool:
    """Whether a cached file's stamps say it comes from this checkpoint (and, with `detail`, was built that
    way); a stale one is announced for rebuilding."""
    reason = stale_reason(path, stamps.get(HASH_KEY), checkpoint_sha256)
    if reason is None and detail is not None and stamps.get(DETAIL_KEY) != detail:
        reason = f"{path.name} was built differently ({stamps.get(DETAIL_KEY)!r}, wanted {detail!r})"
    if reason is None:
        log.debug("using %s (derived from this checkpoint)", path)
        return True
    announce_rebuild(path, reason)
    return False


# ---------------------------------------------------------------- OpenVINO IR

def stamp_ir(ov_model: Any, checkpoint_sha256: str, detail: str) -> None:
    """Put the checkpoint hash and what the model is into an `openvino.Model`'s rt_info (saved with the IR)."""
    ov_model.set_rt_info(checkpoint_sha256, HASH_KEY)
    ov_model.set_rt_info(detail, DETAIL_KEY)


def ir_info(ov_model: Any) -> dict[str, str]:
    """The stamps `stamp_ir` put into a model's rt_info ({} where there are none)."""
    return {key: ov_model.get_rt_info(key).astype(str) for key in (HASH_KEY, DETAIL_KEY) if ov_model.has_rt_info(key)}


def load_ir(path: Path, checkpoint_sha256: str, detail: str, core: Any) -> Any | None:
    """The `openvino.Model` that `core` (an `openvino.Core`) reads from `path` (.xml, its .bin beside
    it) if it was derived from this checkpoint in this way; else None, with one log line why."""
    if not (path.is_file() and path.with_suffix(".bin").is_file()):
        return None
    try:
        ov_model = core.read_model(str(path))
    except Exception as exc:  # noqa: BLE001 - OpenVINO raises its own types; unreadable = missing
        announce_rebuild(path, f"OpenVINO cannot read it ({str(exc).splitlines()[0] if str(exc) else exc})")
        return None
    return ov_model if _derived_as_wanted(path, ir_info(ov_model), checkpoint_sha256, detail) else None


def write_ir(path: Path, ov_model: Any) -> bool:
    """Save an `openvino.Model` as `path` (.xml) + .bin, weights as they are, each file swapped in whole
    (the .bin first: a reader that finds the new .xml finds its weights); False if the folder is read-only."""
    import openvino as ov  # optional package (steering[openvino]): only for IR files

    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.xml")
    try:
        ov.save_model(ov_model, str(tmp), compress_to_fp16=False)
        os.replace(tmp.with_suffix(".bin"), path.with_suffix(".bin"))
        os.replace(tmp, path)
        return True
    except (OSError, RuntimeError) as exc:
        for leftover in (tmp, tmp.with_suffix(".bin")):
            leftover.unlink(missing_ok=True)
        log.debug("could not write %s (%s); it is rebuilt at every start", path, exc)
        return False
