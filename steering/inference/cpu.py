"""What the CPU can do in hardware, read from /proc/cpuinfo: the runtimes and int8 quantization ask it."""
from __future__ import annotations

from pathlib import Path


def cpu_flags() -> set[str]:
    """The CPU feature flags (/proc/cpuinfo; empty elsewhere)."""
    try:
        line = next(text for text in Path("/proc/cpuinfo").read_text().splitlines() if text.startswith("flags"))
    except (OSError, StopIteration):
        return set()
    return set(line.split(":", 1)[1].split())


def cpu_has_bf16() -> bool:
    """bf16 arithmetic in hardware (AVX512-BF16 or AMX): without it OpenVINO runs f32."""
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})
