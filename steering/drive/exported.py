"""Exported model files (`python -m steering.export`) as steering functions: `.onnx`, `.xml`, `.ts`.

An exported file holds only the network; which pixels it expects is in its export record
(`ExportRecord`): the JSON sidecar `FILE.json` beside it (every format) and, for ONNX, the same JSON
in the model's metadata_props under `steering.export`, so a lone `.onnx` still drives. `load`
builds the file's own runtime (ONNX Runtime, OpenVINO, `torch.jit.load`) and returns it with the
record; `Predictor` uses it for any path `is_exported` recognises. No accuracy gate runs at load:
the runtime is fixed by the file, and its distance from eager fp32 was measured at export
(`record.verification`).
"""
from __future__ import annotations

import importlib.util
import json
import warnings
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from steering.checkpoint import CheckpointError
from steering.drive.runtimes import Runtime, derived
from steering.preprocess import PreprocessConfig

SUFFIXES = {"onnx": ".onnx", "openvino": ".xml", "torchscript": ".ts"}  # format -> file suffix written
FORMATS = {suffix: name for name, suffix in SUFFIXES.items()}  # suffix -> format read
METADATA_KEY = "steering.export"  # ONNX metadata_props key holding the record's JSON
RECORD_VERSION = 1
# format -> (importable package, pip extra)
PACKAGES = {"onnx": ("onnxruntime", "onnx"), "openvino": ("openvino", "openvino"), "torchscript": ("torch", None)}


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
    def from_dict(cls, values: dict[str, Any]) -> "ExportRecord":
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


def _is_torchscript_archive(path: Path) -> bool:
    """TorchScript archives hold `constants.pkl` (torch.save checkpoints do not)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("/constants.pkl") for name in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def format_of(path: str | Path) -> str | None:
    """The exported format of `path` by its suffix (a `.pt` only when it is a TorchScript archive)."""
    path = Path(path)
    if path.suffix == ".pt":
        return "torchscript" if _is_torchscript_archive(path) else None
    return FORMATS.get(path.suffix)


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
    if fmt == "onnx":
        text, source = derived.onnx_props(path.read_bytes()).get(METADATA_KEY), "its ONNX metadata"
    if text is None and sidecar_path(path).is_file():
        text, source = sidecar_path(path).read_text(encoding="utf-8"), sidecar_path(path).name
    if text is None:
        where = f"{sidecar_path(path).name} beside it" + (" nor in its ONNX metadata" if fmt == "onnx" else "")
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
    package, extra = PACKAGES[fmt]
    try:
        found = importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):  # a module set to None (tests) or a broken install
        found = False
    if not found:
        raise CheckpointError(f"{path}: an exported {fmt} file runs with {package}, which is not installed: "
                              f"pip install 'steering[{extra}]'")


def runtime_of(path: str | Path, fmt: str, precision: str, threads: int,
               device: torch.device | None = None) -> Runtime:
    """The file's own runtime, loaded from disk: ONNX Runtime, OpenVINO (CPU) or torch.jit.load."""
    path = Path(path)
    require_runtime(fmt, path)
    if fmt == "onnx":
        from steering.drive.runtimes import onnx

        return onnx.runtime_for(onnx.session(path.read_bytes(), threads, str(path)), precision)
    if fmt == "openvino":
        from steering.drive.runtimes import openvino

        try:
            ov_model = openvino.core().read_model(str(path))  # reads the .bin beside the .xml
        except Exception as exc:  # noqa: BLE001 - OpenVINO raises its own types
            raise CheckpointError(f"{path}: OpenVINO could not read the IR: {exc}") from exc
        return openvino.runtime_for(ov_model, threads, precision)  # fp32: f32 hint, not OpenVINO's bf16
    device = device or torch.device("cpu")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch's deprecation notice for TorchScript
            module = torch.jit.load(str(path), map_location=device).eval()
    except (RuntimeError, ValueError, OSError) as exc:
        raise CheckpointError(f"{path}: not a loadable TorchScript file: {exc}") from exc

    def forward(x: torch.Tensor) -> torch.Tensor:
        return module(x.to(device)).float()

    return Runtime(forward, precision)


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
    if record.format != "torchscript" and device == "cuda":
        raise ValueError(f"an exported {record.format} file runs on cpu only; use --device cpu or auto")
    where = torch.device("cpu") if record.format != "torchscript" or device != "cuda" else torch.device("cuda")
    runtime = runtime_of(path, record.format, record.precision, threads, where)
    check = record.verification
    verified = (f"verified {check['max_abs_diff']:.1e} at export (max |Δ| vs eager fp32 of {record.checkpoint} "
                f"on {check.get('frames', '?')}, gate {check.get('tolerance', '?')})" if check
                else "not verified at export")
    return Loaded(record, runtime, where, f"exported {record.format} {record.precision} file, {verified}")
