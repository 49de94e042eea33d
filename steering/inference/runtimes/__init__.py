"""The runtimes a checkpoint can steer with, behind one registry.

Each runtime is one module in this package that calls `register(RuntimeSpec(...))` at import: its
name, one line of help (drive.py's `--backend` help is built from these), the devices and
precisions it supports, the package it needs, where `auto` should prefer it, and `build`, which
turns an eval-mode torch model into a `Runtime` (a forward function plus what it really runs).
A runtime that runs a file of its own also carries its `ExportFormat`: how `python -m steering.export
--format NAME` writes that file and how `drive.py FILE` runs it (the format is named after the
runtime). Adding a runtime, exporting or not, is one new file here and its test.

Choice (`resolve`): an explicit `--backend` must support the device and precision or the error
says why; `auto` takes, among installed runtimes that support the pair, the one with the lowest
`preference` for it (measured order: docs/drive.md, figures in docs/benchmarks.md).
"""
from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from steering.preprocess import PreprocessConfig

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")
TOLERANCE = 0.01  # the accuracy gate: largest steering difference from eager fp32 a faster runtime may make


@dataclass(frozen=True)
class BuildContext:
    """What a runtime needs to know to build: where, how precise, how many threads, input shape."""

    device: torch.device
    precision: str  # resolved: fp32, bf16, fp16, or "auto" where the runtime chooses itself
    threads: int
    preprocess: PreprocessConfig
    checkpoint: Path
    # int8 only: () -> (preprocessed (3, H, W) frames, where they come from), read when needed
    calibration: Callable[[], tuple[list[np.ndarray], str]] | None = None

    def example(self) -> torch.Tensor:
        return torch.zeros(1, *self.preprocess.input_shape)  # (1, 3, H, W)


@dataclass
class Runtime:
    """A built model: `forward((B, 3, H, W) float32) -> (B,)`, and what it actually runs."""

    forward: Callable[[torch.Tensor], torch.Tensor]
    precision: str
    channels_last: bool = False


@dataclass(frozen=True)
class ExportFormat:
    """The file a runtime runs on its own: written by `python -m steering.export`, driven by `drive.py FILE`."""

    suffix: str  # written, and recognised when driving (".onnx", ".xml", ".ts")
    help: str  # one line for `python -m steering.export --format`'s help
    # (fp32 model copy, example (1, 3, H, W), target path, int8 calibration batch (N, 3, H, W) or None,
    # where that batch came from) -> how the file was made (the export record's `detail`)
    write: Callable[[torch.nn.Module, torch.Tensor, Path, np.ndarray | None, str], str]
    # (file, precision, threads, device) -> the file's own runtime; CheckpointError when it cannot be read
    load: Callable[[Path, str, int, torch.device], Runtime]
    int8: bool = False  # `--int8` can write it
    also_reads: tuple[str, ...] = ()  # more suffixes it may come as, told apart by `sniff` (TorchScript: .pt)
    sniff: Callable[[Path], bool] | None = None
    # the export record inside the file itself, where the format has room for it (ONNX metadata_props):
    # (file, record JSON, checkpoint SHA-256, how it was made)
    embed_record: Callable[[Path, str, str, str], None] | None = None
    embedded_record: Callable[[Path], str | None] | None = None

    def suffixes(self) -> tuple[str, ...]:
        return (self.suffix, *self.also_reads)

    def is_mine(self, path: Path) -> bool:
        if path.suffix == self.suffix:
            return True
        return path.suffix in self.also_reads and self.sniff is not None and self.sniff(path)


@dataclass(frozen=True)
class RuntimeSpec:
    name: str
    help: str  # one line for `drive.py --help`
    devices: tuple[str, ...]  # "cpu", "cuda"
    precisions: tuple[str, ...]  # explicit precisions it runs
    build: Callable[[torch.nn.Module, BuildContext], Runtime]
    requires: str | None = None  # importable module that must be installed
    extra: str | None = None  # the pip extra that installs it
    # (device, precision) -> rank; auto takes the lowest rank among installed runtimes
    preference: dict[tuple[str, str], int] = field(default_factory=dict)
    auto_precision: dict[str, str] = field(default_factory=dict)  # device -> precision when "auto"
    export: ExportFormat | None = None  # the file it writes and runs, if any (named like the runtime)

    def installed(self) -> bool:
        """Whether the package is there, without importing it: loading OpenVINO just to ask would
        start nothing, but it would put its libraries in every process that only lists runtimes."""
        if self.requires is None:
            return True
        try:
            return importlib.util.find_spec(self.requires) is not None
        except (ImportError, ValueError):
            return False

    def missing_message(self) -> str:
        return f"--backend {self.name} needs {self.requires}: pip install 'steering[{self.extra}]'"


RUNTIMES: dict[str, RuntimeSpec] = {}


def register(spec: RuntimeSpec) -> RuntimeSpec:
    """Add (or replace) a runtime; drive.py's `--backend` and, with `export`, `--format` list it from then on."""
    RUNTIMES[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    RUNTIMES.pop(name, None)


def export_formats() -> dict[str, RuntimeSpec]:
    """format name -> the runtime that writes and runs it."""
    return {name: spec for name, spec in RUNTIMES.items() if spec.export is not None}


def export_help() -> str:
    return "; ".join(f"{name}: {spec.export.help}" for name, spec in export_formats().items())


def backends() -> tuple[str, ...]:
    return ("auto", *RUNTIMES)


def backend_help() -> str:
    auto = "auto: the fastest installed runtime for the device and precision ({})".format(
        ", ".join(f"{d} {p}: {' > '.join(order)}" for (d, p), order in auto_orders().items()))
    return "; ".join([auto, *(f"{s.name}: {s.help}" for s in RUNTIMES.values())])


def auto_orders() -> dict[tuple[str, str], list[str]]:
    """For each (device, precision), the runtimes auto tries, best first."""
    pairs = sorted({pair for spec in RUNTIMES.values() for pair in spec.preference})
    return {pair: sorted((s.name for s in RUNTIMES.values() if pair in s.preference),
                         key=lambda name: RUNTIMES[name].preference[pair]) for pair in pairs}


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda asked for, but torch sees no CUDA GPU; use --device cpu or auto")
    return torch.device(device)


def check_precision(precision: str, device: torch.device) -> None:
    """ValueError for a precision no runtime runs on this device."""
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("fp16 runs only on CUDA; on CPU use --precision bf16, int8 or fp32")
    if precision == "int8" and device.type != "cpu":
        names = ", ".join(n for n, spec in RUNTIMES.items() if "int8" in spec.precisions)
        raise ValueError(f"int8 runs on CPU only ({names}); on CUDA use fp16, bf16 or fp32")


def _requested_precision(precision: str, device: torch.device) -> str:
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("fp16 runs only on CUDA; on CPU use --precision bf16 or fp32")
    if precision != "auto":
        return precision
    return "fp16" if device.type == "cuda" else "fp32"


def resolve(backend: str, device: torch.device, precision: str) -> tuple[RuntimeSpec, str]:
    """(runtime, precision to build with) for the request; ValueError/RuntimeError say what does not fit."""
    if backend == "auto":
        wanted = _requested_precision(precision, device)
        pair = (device.type, wanted)
        order = auto_orders().get(pair, [])
        spec = next((RUNTIMES[name] for name in order if RUNTIMES[name].installed()), None)
        if spec is None:
            raise ValueError(f"no installed runtime runs {wanted} on {device.type}")
        return spec, wanted if precision != "auto" else spec.auto_precision.get(device.type, wanted)
    spec = RUNTIMES[backend]
    if device.type not in spec.devices:
        raise ValueError(f"the {spec.name} backend runs on {', '.join(spec.devices)} only; "
                         f"use --backend torch on {device.type}")
    if precision == "auto":
        precision = spec.auto_precision.get(device.type) or _requested_precision("auto", device)
    else:
        _requested_precision(precision, device)
        if precision not in spec.precisions:
            raise ValueError(f"the {spec.name} backend runs {', '.join(spec.precisions)} only (got {precision})")
    if not spec.installed():
        raise RuntimeError(spec.missing_message())
    return spec, precision


def _load_all() -> None:
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


_load_all()
