"""A checkpoint as a file other runtimes load: ONNX, OpenVINO IR or TorchScript, verified, preprocessing recorded.

    from steering.export import ExportConfig, export_checkpoint
    result = export_checkpoint("runs/x/best.pt", ExportConfig("onnx", Path("best.onnx")))

`python -m steering.export` is the command line (`steering/export/__main__.py`). What is written:

- the model: `.onnx` (torch.onnx.export, opset 17, input "image" (1, 3, H, W), output "steering"),
  OpenVINO IR `.xml` + `.bin` (read from those ONNX bytes, saved in fp32), or TorchScript `.ts`
  (traced and frozen), each written by its runtime's `ExportFormat` (`steering.inference.runtimes`);
  `int8` (onnx, openvino): ONNX Runtime static quantization (`steering.inference.quantize`)
  calibrated on driving-log frames;
- its export record (`steering.inference.exported.ExportRecord`) in `FILE.json`, and for ONNX also in the
  model's metadata_props: preprocessing, model name, format, precision, the checkpoint's SHA-256
  and the verification.

Verification: the written file is loaded with its own runtime, exactly as drive.py loads it
(`exported.load`), and must steer within `runtimes.TOLERANCE` of the checkpoint's eager fp32 model
on the gate frames (`gate.gate_frames`: the training logs' frames, else the shipped ones). The
export is built in a temporary folder beside `--out` and moved into place only once verified, so a
failed export leaves nothing at `--out` (and an earlier file there untouched).
"""
from __future__ import annotations

import copy
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from steering.checkpoint import CheckpointError, load_checkpoint
from steering.inference import conversion_cache, exported, gate, runtimes
from steering.inference.exported import ExportRecord, sidecar_path
from steering.inference.predictor import cpu_threads

log = logging.getLogger(__name__)


class ExportError(RuntimeError):
    """The export cannot be made (nothing was kept)."""


class VerificationError(ExportError):
    """The written file steers too far from the checkpoint's eager fp32 (nothing was kept)."""


@dataclass(frozen=True)
class ExportConfig:
    format: str  # a runtime with an export format: onnx, openvino, torchscript (runtimes.export_formats())
    out: Path
    int8: bool = False
    calibration: Path | None = None  # int8: a driving_log.csv (default: the checkpoint's training logs)
    threads: int = 0  # CPU threads for the verification run; 0 = all this process may use

    def __post_init__(self) -> None:
        formats = runtimes.export_formats()
        if self.format not in formats:
            raise ValueError(f"format must be one of {', '.join(formats)}; got {self.format!r}")
        int8 = [name for name, spec in formats.items() if spec.export.int8]
        if self.int8 and self.format not in int8:
            raise ValueError(f"--int8 exports {' and '.join(int8)} only (not {self.format})")
        allowed = formats[self.format].export.suffixes()
        if Path(self.out).suffix not in allowed:
            raise ValueError(f"a {self.format} export is written as {' or '.join(allowed)}; got {self.out}")


@dataclass
class ExportResult:
    path: Path  # the model file (.onnx, .xml, .ts)
    files: list[Path]  # every file written, the sidecar last
    record: ExportRecord

    @property
    def max_diff(self) -> float:
        return float(self.record.verification["max_abs_diff"])


def export_model(model: torch.nn.Module) -> torch.nn.Module:
    """The module the file is made from: a copy, so no exporter's conversion touches the reference."""
    return copy.deepcopy(model).eval()


def export_checkpoint(checkpoint: str | Path, config: ExportConfig) -> ExportResult:
    """Write, verify and record the export of `checkpoint` (see the module docstring).

    CheckpointError: the checkpoint cannot be read; ExportError: the export cannot be made or
    failed verification; nothing is left at `config.out` then."""
    checkpoint, out = Path(checkpoint), Path(config.out)
    if config.int8 and out.resolve() == conversion_cache.derived_path(checkpoint, ".int8.onnx").resolve():
        raise ExportError(f"{out.name} is the int8 cache drive.py keeps beside {checkpoint.name} (rebuilt "
                          "whenever its calibration differs); choose another --out name")
    stored = load_checkpoint(checkpoint)
    try:
        model = stored.build_model("cpu")
    except RuntimeError as exc:
        raise CheckpointError(f"{checkpoint}: weights do not match model {stored.model_config.name!r}: {exc}") from exc
    threads = cpu_threads(config.threads)
    logs = list((stored.train_config or {}).get("logs") or [])
    frames, source = gate.gate_frames(logs)
    inputs = gate.prepared(frames, stored.preprocess)
    reference = gate.steering_of(model, inputs)  # eager fp32, before any exporter sees a copy
    record = ExportRecord(format=config.format, precision="int8" if config.int8 else "fp32",
                          model=stored.model_config.name, preprocess=stored.preprocess, checkpoint=checkpoint.name,
                          checkpoint_sha256=conversion_cache.checkpoint_hash(checkpoint))
    if config.int8:
        batch, calibration = _calibration_batch(config.calibration, logs, stored.preprocess)
    else:
        batch, calibration = None, ""
    example = torch.zeros(1, *stored.preprocess.input_shape)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".export", dir=out.parent))
    except OSError as exc:
        raise ExportError(f"cannot write beside {out}: {exc}") from exc
    try:
        target = staging / out.name
        record = replace(record, detail=_write(export_model(model), example, config.format, target, batch, calibration))
        _write_record(target, record)  # unverified, in the staging folder only: the loader below reads it
        loaded = exported.load(target, "cpu", "auto", "auto", threads)
        got = gate.steering_of(loaded.runtime.forward, inputs)
        diff = float(np.max(np.abs(got - reference))) if np.isfinite(got).all() else float("inf")
        tolerance = runtimes.TOLERANCE
        log.debug("verification: max |Δ| %.3g vs eager fp32 on %s (gate %g)", diff, source, tolerance)
        if diff > tolerance:
            raise VerificationError(
                f"verification failed: the exported {config.format} {record.precision} file steers up to {diff:.3g} "
                f"away from the checkpoint's eager fp32 on {source} (gate {tolerance:g}); nothing written to {out}")
        record = replace(record, verification={"max_abs_diff": diff, "tolerance": tolerance, "frames": source})
        _write_record(target, record)
        return ExportResult(out, _move_into_place(staging, out), record)
    except (OSError, RuntimeError, ValueError) as exc:
        if isinstance(exc, (ExportError, CheckpointError)):
            raise
        raise ExportError(f"could not export {checkpoint.name} to {config.format}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _calibration_batch(calibration: Path | None, logs: list[str], preprocess) -> tuple[np.ndarray, str]:
    """(N, 3, H, W) float32 int8 calibration inputs, as drive.py's int8 runtimes pick them."""
    chosen = [str(calibration)] if calibration else logs
    if not chosen:
        raise ExportError("--int8 needs calibration frames: pass --calibration driving_log.csv (this checkpoint "
                          "records no training logs)")
    try:
        frames, source = gate.log_frames(chosen, gate.CALIBRATION_FRAMES)
    except (ValueError, OSError) as exc:
        raise ExportError(f"--int8: no calibration frames: {exc}") from exc
    return np.stack([x.numpy() for x in gate.prepared(frames, preprocess)]), source


def _write(model: torch.nn.Module, example: torch.Tensor, fmt: str, target: Path, batch: np.ndarray | None,
           calibration: str) -> str:
    """Write the model file(s) at `target`; returns how it was made (the record's `detail`)."""
    return runtimes.RUNTIMES[fmt].export.write(model, example, target, batch, calibration)


def _write_record(target: Path, record: ExportRecord) -> None:
    """The record in the sidecar, and inside the file where its format has room (ONNX metadata_props)."""
    text = record.to_json()
    embed = runtimes.RUNTIMES[record.format].export.embed_record
    if embed is not None:
        embed(target, text, record.checkpoint_sha256, record.detail)
    sidecar_path(target).write_text(text + "\n", encoding="utf-8")


def _move_into_place(staging: Path, out: Path) -> list[Path]:
    """Move the verified files next to `out` (same folder: each move is an atomic rename), sidecar last."""
    names = sorted((p.name for p in staging.iterdir()), key=lambda name: name.endswith(".json"))
    moved = []
    for name in names:
        os.replace(staging / name, out.parent / name)
        moved.append(out.parent / name)
    return moved
