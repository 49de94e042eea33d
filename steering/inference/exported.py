"""Exported model files (`python -m steering.export`) as steering functions: `.onnx`, `.xml`, `.ts`.

An exported file holds only the network; which pixels it expects is in its export record
(`ExportRecord`): the JSON sidecar `FILE.json` beside it (every format) and, for ONNX, the same JSON
in the model's metadata_props under `steering.export`, so a lone `.onnx` still drives. `load`
builds the file's own runtime (the runtime registry's `ExportFormat.load` for the format: ONNX
Runtime, OpenVINO, `torch.jit.load`) and returns it with the record; `Predictor` uses it for any
path `is_exported` recognises. No accuracy gate runs at load: the runtime is fixed by the file,
and its distance from eager fp32 was measured at export (`record.verification`).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from steering.checkpoint import CheckpointError
from steering.inference import conversion_cache, runtimes
from steering.inference.runtimes import Runtime
from steering.preprocess import PreprocessConfig

METADATA_KEY = conversion_cache.RECORD_KEY  # ONNX metadata_props key holding the record's JSON
RECORD_VERSION = 1


@dataclass(frozen=True)
class ExportRecord:
    """What an exported file is: its runtime and precision, the preprocessing, where it came from."""

    format: str  # onnx, openvino, torchscript
    precision: str  # fp32, int8
    model: str  # the checkpoint's model name (ModelConfig.name)
    preprocess: PreprocessConfig
    checkpoint: str  # the source checkpoint's file name
    checkpoint_sha256: str
    detail: str = ""  # how it was made (exporter, opset, calibration)
    # {"max_abs_diff", "tolerance", "frames"}: steering vs the checkpoint's eager fp32 at export
    verification: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"steering_export": RECORD_VERSION, **asdict(self), "preprocess": self.preprocess.to_dict()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ExportRecord:
        values = dict(values)
        version = values.pop("steering_export", None)
        if version != RECORD_VERSION:
            raise ValueError(f"export record version {version!r} is not {RECORD_VERSION}")
        values["preprocess"] = PreprocessConfig.from_dict(values["preprocess"])
        check = values.get("verification")
        if check is not None and not (isinstance(check, dict) and isinstance(check.get("max_abs_diff"), (int, float))):
            raise ValueError(f"verification must be null or hold a number max_abs_diff, got {check!r}")
        return cls(**values)


def sidecar_path(path: str | Path) -> Path:
    """`model.onnx` -> `model.onnx.json`."""
    return Path(f"{path}.json")


def format_of(path: str | Path) -> str | None:
    """The exported format of `path` by its suffix (a `.pt` only when it is a TorchScript archive)."""
    path = Path(path)
    return next((name for name, spec in runtimes.export_formats().items() if spec.export.is_mine(path)), None)


def model_suffixes() -> tuple[str, ...]:
    """Every suffix a model file may have: checkpoints (.pt) and each export format's."""
    return tuple(dict.fromkeys((".pt", *(s for spec in runtimes.export_formats().values()
                                         for s in spec.export.suffixes()))))


def is_exported(path: str | Path) -> bool:
    return format_of(path) is not None


def read_record(path: str | Path) -> ExportRecord:
    """The export record of `path`: the ONNX metadata (it travels with the file), else the sidecar.

    CheckpointError when there is none or it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such exported model file")
    fmt = format_of(path)
    text, source = None, ""
    embedded = runtimes.RUNTIMES[fmt].export.embedded_record if fmt else None
    if embedded is not None:
        text, source = embedded(path), f"its {fmt} metadata"
    if text is None and sidecar_path(path).is_file():
        text, source = sidecar_path(path).read_text(encoding="utf-8"), sidecar_path(path).name
    if text is None:
        where = f"{sidecar_path(path).name} beside it" + (f" nor in its {fmt} metadata" if embedded else "")
        raise CheckpointError(
            f"{path}: no export record (neither {where}), so the preprocessing it expects is unknown; "
            f"export the checkpoint with `python -m steering.export MODEL.pt --format {fmt} --out {path.name}`, "
            f"or keep the .json sidecar written with it")
    try:
        record = ExportRecord.from_dict(json.loads(text))
    except (ValueError, TypeError, KeyError) as exc:
        raise CheckpointError(f"{path}: unreadable export record in {source}: {exc}") from exc
    if record.format != fmt:
        raise CheckpointError(f"{path}: the export record in {source} describes a {record.format} file, "
                              f"not {fmt}")
    return record


def require_runtime(fmt: str, path: str | Path) -> None:
    """CheckpointError naming the package to install when `fmt`'s runtime is missing."""
    spec = runtimes.RUNTIMES[fmt]
    if not spec.installed():
        raise CheckpointError(f"{path}: an exported {fmt} file runs with {spec.requires}, which is not installed: "
                              f"pip install 'steering[{spec.extra}]'")


def runtime_of(path: str | Path, fmt: str, precision: str, threads: int,
               device: torch.device | None = None) -> Runtime:
    """The file's own runtime, loaded from disk (the format's `ExportFormat.load`)."""
    path = Path(path)
    require_runtime(fmt, path)
    return runtimes.RUNTIMES[fmt].export.load(path, precision, threads, device or torch.device("cpu"))


@dataclass
class Loaded:
    record: ExportRecord
    runtime: Runtime
    device: torch.device
    reason: str  # one line for `Predictor.choice`


def load(path: str | Path, device: str, backend: str, precision: str, threads: int) -> Loaded:
    """An exported file ready to steer. `device`/`backend`/`precision` are drive.py's requests: an
    exported file fixes its runtime and precision, so only `auto` or the file's own are accepted."""
    path = Path(path)
    record = read_record(path)
    if backend not in ("auto", record.format):
        raise ValueError(f"{path.name} is an exported {record.format} file: it runs with {record.format}, "
                         f"not --backend {backend} (drive the checkpoint to choose the runtime)")
    if precision not in ("auto", record.precision):
        raise ValueError(f"{path.name} is an exported {record.precision} file; --precision {precision} needs "
                         f"another export (or the checkpoint)")
    devices = runtimes.RUNTIMES[record.format].devices
    if device == "cuda" and "cuda" not in devices:
        raise ValueError(f"an exported {record.format} file runs on {', '.join(devices)} only; "
                         "use --device cpu or auto")
    where = torch.device("cuda" if device == "cuda" else "cpu")
    runtime = runtime_of(path, record.format, record.precision, threads, where)
    check = record.verification
    verified = (f"verified {check['max_abs_diff']:.1e} at export (max |Δ| vs eager fp32 of {record.checkpoint} "
                f"on {check.get('frames', '?')}, gate {check.get('tolerance', '?')})" if check
                else "not verified at export")
    return Loaded(record, runtime, where, f"exported {record.format} {record.precision} file, {verified}")
