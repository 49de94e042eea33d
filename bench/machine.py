"""The machine a figure was measured on: CPU model, the flags that decide bf16/int8 speed, versions.

Every benchmark's output carries this header (docs/benchmarks.md's Machine table, the CPU line of
the standalone tables), so a figure never travels without the CPU that produced it.
"""
from __future__ import annotations

import datetime as dt
import os
import platform
from dataclasses import dataclass
from pathlib import Path

import torch

FLAGS_OF_INTEREST = ("avx512_bf16", "amx_bf16", "amx_tile", "amx_int8", "avx512f", "avx512_vnni", "avx_vnni", "avx2")
KEY_FLAGS = ("avx512_bf16", "amx_bf16", "amx_int8", "avx512_vnni", "avx_vnni")  # named when missing


@dataclass
class Machine:
    cpu: str
    cores: int
    bf16_flags: list[str]
    versions: dict[str, str]
    gpu: str
    date: str
    loadavg_start: float | None = None


def machine() -> Machine:
    """CPU model, cores, flags that matter for bf16, library versions, GPU, date, load average now."""
    model, flags = platform.processor() or "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model in ("unknown", "x86_64", ""):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    versions = {"torch": torch.__version__, "python": platform.python_version()}
    for module in ("onnxruntime", "openvino", "cv2", "numpy"):
        try:
            versions[module] = getattr(__import__(module), "__version__", "?")
        except ImportError:
            versions[module] = "not installed"
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return Machine(
        cpu=model, cores=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        bf16_flags=sorted(f for f in flags if f in FLAGS_OF_INTEREST), versions=versions, gpu=gpu,
        date=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        loadavg_start=os.getloadavg()[0] if hasattr(os, "getloadavg") else None)


def cpu_line(m: Machine) -> str:
    """`AMD EPYC; flags: avx2; lacks avx512_bf16, ...` (the flags that decide bf16/int8 speed)."""
    lacks = [f for f in KEY_FLAGS if f not in m.bf16_flags]
    text = f"{m.cpu}; flags: {', '.join(m.bf16_flags) or 'none of interest'}"
    return text + (f"; lacks {', '.join(lacks)}" if lacks else "")
