"""Every benchmark, in the order `python -m bench all` (`make bench`) runs them, and the record of a run.

`BENCHMARKS` is a plain dict, name -> `Benchmark`; a new benchmark is one new module ending in
`BENCHMARK = Benchmark(...)` and one line in `_MODULES`. Benchmarks run one after the other, never
in parallel (they would time each other); inside one, variants are interleaved (bench/timing.py).
A run's results (typed, per benchmark) go to bench/results.json and come back from it; the page is
`bench.page`'s job, the command line `bench.__main__`'s.
"""
from __future__ import annotations

import difflib
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import (
    alarm_wire,
    closed_loop,
    data_pipeline,
    elevation_cost,
    ensemble,
    input_size,
    latency,
    limits,
    monitor,
    perturb,
    render,
    replay,
    soak,
    tracks,
    training,
    training_speed,
    wire,
)
from bench.benchmark import Benchmark, from_jsonable, to_jsonable
from bench.machine import Machine, machine

log = logging.getLogger(__name__)

# Run order: the page's sections first, as `make bench` always ran them (data reads training's rates);
# then the figures that go to docs of their own, then the ones printed for docs written by hand.
_MODULES = (limits, wire, latency, training, data_pipeline, render, closed_loop, soak, input_size, monitor,
            ensemble, training_speed, tracks, elevation_cost, replay, perturb, alarm_wire)
BENCHMARKS: dict[str, Benchmark] = {module.BENCHMARK.name: module.BENCHMARK for module in _MODULES}


def get(name: str) -> Benchmark:
    """The benchmark called `name`; an unknown name's error lists the close ones."""
    if name not in BENCHMARKS:
        close = difflib.get_close_matches(name, BENCHMARKS, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"no benchmark {name!r}{hint} (`python -m bench` lists them all)")
    return BENCHMARKS[name]


@dataclass
class Separately:
    """Where a result measured apart from the rest of the run came from (`python -m bench NAME --update`)."""

    command: str
    date: str
    cpu: str
    cores: int
    loadavg: list[float]


@dataclass
class Run:
    """One run: the machine, each benchmark's typed result, how long each took."""

    machine: Machine
    command: str
    results: dict[str, Any] = field(default_factory=dict)  # benchmark name -> its result dataclass
    sections_s: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0
    loadavg_end: float = 0.0
    measured_separately: dict[str, Separately] = field(default_factory=dict)


def run(names: list[str], quick: bool = False, command: str = "", isolate: bool = False) -> Run:
    """Run the named benchmarks in registry order, each with its full (or `quick`) settings; with
    `isolate`, those marked `own_process` run in a fresh interpreter each (never set it in that one)."""
    record = Run(machine=machine(), command=command or command_line())
    started = time.perf_counter()
    for name in sorted(set(names), key=list(BENCHMARKS).index):
        entry = get(name)
        config = entry.quick() if quick else entry.config()
        if entry.feed is not None:
            config = entry.feed(config, record.results)
        start = time.perf_counter()
        log.info("bench: %s ...", name)
        record.results[name] = _in_own_process(name, quick) if isolate and entry.own_process else entry.run(config)
        record.sections_s[name] = time.perf_counter() - start
        log.info("bench: %s done in %.0f s (load average %.1f)", name, record.sections_s[name], os.getloadavg()[0])
    record.wall_s = time.perf_counter() - started
    record.loadavg_end = os.getloadavg()[0]
    return record


def _in_own_process(name: str, quick: bool) -> Any:
    """`python -m bench NAME --save FILE` in a fresh interpreter, its result read back (thread counts and
    OpenCV's settings of one benchmark must not leak into the next)."""
    with tempfile.TemporaryDirectory() as folder:
        saved = Path(folder) / f"{name}.json"
        command = [sys.executable, "-m", "bench", name, "--save", str(saved), "--no-docs", *(["--quick"] * quick)]
        subprocess.run(command, cwd=Path(__file__).resolve().parents[1], check=True)
        return load(saved).results[name]


def merge(into: Run, measured: Run) -> Run:
    """`into` with `measured`'s results in place of its own, each marked as measured separately."""
    for name, result in measured.results.items():
        into.results[name] = result
        into.sections_s[name] = measured.sections_s[name]
        into.measured_separately[name] = Separately(
            command=measured.command, date=measured.machine.date, cpu=measured.machine.cpu,
            cores=measured.machine.cores, loadavg=[measured.machine.loadavg_start or 0.0, measured.loadavg_end])
    return into


def save(record: Run, path: Path) -> None:
    """bench/results.json: the run's fields, then each result under its benchmark's name."""
    data = {"machine": to_jsonable(record.machine), "sections_s": record.sections_s,
            **{name: to_jsonable(result) for name, result in record.results.items()},
            "wall_s": record.wall_s, "loadavg_end": record.loadavg_end, "command": record.command}
    if record.measured_separately:
        data["measured_separately"] = {n: to_jsonable(s) for n, s in record.measured_separately.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, default=str))


def load(path: Path) -> Run:
    """A run saved by `save`, every result back in its dataclass."""
    data = json.loads(path.read_text())
    unknown = sorted(set(data) - set(BENCHMARKS) - {"machine", "sections_s", "wall_s", "loadavg_end", "command",
                                                     "measured_separately"})
    if unknown:
        raise ValueError(f"{path}: no benchmark called {', '.join(unknown)} (`python -m bench` lists them)")
    return Run(machine=from_jsonable(Machine, data["machine"]), command=data["command"],
               results={name: from_jsonable(entry.result, data[name]) for name, entry in BENCHMARKS.items()
                        if name in data},
               sections_s=data.get("sections_s", {}), wall_s=data.get("wall_s", 0.0),
               loadavg_end=data.get("loadavg_end", 0.0),
               measured_separately=from_jsonable(dict[str, Separately], data.get("measured_separately", {})))


def command_line() -> str:
    """How this run was started, as a reader would retype it (`make bench` sets BENCH_COMMAND)."""
    return os.environ.get("BENCH_COMMAND") or " ".join(["python -m bench"] + sys.argv[1:])
