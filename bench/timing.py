"""Timing primitives shared by every benchmark: repeated, interleaved measurement and its summary.

The machine is shared and noisy, so variants are never timed one after the other: `interleave`
runs them round-robin in short blocks, so a burst of load from elsewhere hits every variant alike.
Results are medians and p99 of per-call times, never means (one descheduled call would dominate).
"""
from __future__ import annotations

import gc
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Stats:
    """Summary of repeated timings, in milliseconds."""

    n: int
    median_ms: float
    p99_ms: float
    min_ms: float
    mean_ms: float

    @classmethod
    def of(cls, seconds: list[float] | np.ndarray) -> Stats:
        ms = np.asarray(seconds, dtype=np.float64) * 1000.0
        if ms.size == 0:
            raise ValueError("Stats.of needs at least one timing")
        return cls(n=int(ms.size), median_ms=float(np.median(ms)), p99_ms=float(np.percentile(ms, 99)),
                   min_ms=float(ms.min()), mean_ms=float(ms.mean()))

    @property
    def per_second(self) -> float:
        """Calls per second at the median time."""
        return 1000.0 / self.median_ms if self.median_ms > 0 else float("inf")


def interleave(variants: Mapping[str, Callable[[], Any]], repeats: int, block: int = 5,
               warmup: int = 3, budget_s: float | None = None, min_repeats: int = 20) -> dict[str, Stats]:
    """Time each variant `repeats` times, round-robin in blocks of `block` calls.

    With `budget_s`, rounds stop early once that many seconds have passed and every variant has
    `min_repeats` timings (a heavily loaded machine must not stretch a run to an hour); the
    summaries report the `n` actually timed.

    Garbage collection is paused during timed calls (a collection inside one call is noise from
    the benchmark's own allocations, not a property of the variant) and run between blocks.
    """
    for fn in variants.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in variants}
    rounds = max(1, -(-repeats // block))
    gc_was_enabled = gc.isenabled()
    started = time.perf_counter()
    try:
        for _ in range(rounds):
            if (budget_s is not None and time.perf_counter() - started > budget_s
                    and min(len(t) for t in times.values()) >= min(min_repeats, repeats)):
                break
            for name, fn in variants.items():
                gc.collect()
                gc.disable()
                for _ in range(min(block, repeats - len(times[name]))):
                    start = time.perf_counter()
                    fn()
                    times[name].append(time.perf_counter() - start)
                if gc_was_enabled:
                    gc.enable()
    finally:
        if gc_was_enabled:
            gc.enable()
    return {name: Stats.of(t) for name, t in times.items()}


def throughput(fn: Callable[[], int], seconds: float, min_calls: int = 2, warmup: int = 1) -> tuple[float, int]:
    """Items/s of `fn()` (which returns how many items it processed), run for about `seconds`."""
    for _ in range(warmup):
        fn()
    items, calls = 0, 0
    start = time.perf_counter()
    while calls < min_calls or time.perf_counter() - start < seconds:
        items += fn()
        calls += 1
    return items / (time.perf_counter() - start), items
