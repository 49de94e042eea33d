"""drive.py's exit summary read back by the benchmarks that run it as a process: stage times and event counts.

drive.py prints one line when it stops (`stopped by SIGINT. latency p50/p99 ms: decode 0.30/0.50 ... |
events: steer 200, ... | errors: none`); `bench.wire` (and through it `bench.alarm_wire`) reads it here.
"""
from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass
class StageTimes:
    """One stage of drive.py's exit summary, ms."""

    p50: float
    p99: float


_STAGE = re.compile(r"([a-z_]+) ([\d.]+)/([\d.]+)")


def parse_summary(text: str) -> dict[str, StageTimes]:
    """drive.py's exit summary (`... p50/p99 ms: decode 0.30/0.50  infer 1.20/2.00 | ...`) -> {stage: times}"""
    stages: dict[str, StageTimes] = {}
    for line in text.splitlines():
        if not line.startswith("stopped"):  # "stopped." or "stopped by SIGINT."
            continue
        for part in line.split("|"):
            if "p50/p99 ms:" in part:
                for name, p50, p99 in _STAGE.findall(part.split("p50/p99 ms:", 1)[1]):
                    stages[name] = StageTimes(p50=float(p50), p99=float(p99))
    return stages


_EVENT = re.compile(r"([a-z_]+) (\d+)")


def parse_events(text: str) -> dict[str, int]:
    """The exit summary's `events: alarm_skipped 3, steer 200 | ...` -> {name: count}."""
    for line in text.splitlines():
        if line.startswith("stopped") and "events: " in line:
            return {k: int(v) for k, v in _EVENT.findall(line.split("events: ", 1)[1].split("|", 1)[0])}
    return {}
