"""Renderer + perturbation speed per camera on one core, for every perturbation (docs/robustness.md).

    python -m bench.perturb                      # every perturbation at severity 3, markdown table
    python -m bench.perturb --severity 5 --names glass_blur distance_fog
    python -m bench.perturb --imagecorruptions   # also the imagecorruptions package, where it runs

Per perturbation: the perturbation alone on a rendered 320x160 frame, and `World.render("center")`
with the perturbation on (render, depth buffer where needed, perturbation), i.e. what every camera
costs before its JPEG encoding; the clean render is the first row. OpenCV is held to one thread, so
frames/s is per camera per core (the goal: >= 200). Variants are timed round-robin (`bench.timing`),
medians; the machine's load average is printed, since a shared machine slows every row alike.

`--imagecorruptions` adds a column for the `imagecorruptions` package itself (install it by hand with
`pip install --no-deps imagecorruptions scikit-image`: it is not a dependency, steering.perturb.imagenet_c
says why). It needs `pkg_resources`, gone from setuptools >= 81; a stand-in giving `resource_filename`
is put in its place for this measurement only. A function that fails shows its error instead of a rate.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from bench.benchmark import Benchmark
from bench.machine import cpu_line, machine
from bench.timing import interleave
from steering.perturb import FrameContext, PerturbPlan, Scene, get_perturbation, list_perturbations
from steering.sim.world import World, WorldConfig
from steering.udacity import FRAME_HEIGHT, FRAME_WIDTH

GOAL_FRAMES_PER_S = 200.0


def measure(names: list[str], severity: int, repeats: int, budget_s: float, track: str = "lake") -> list[dict]:
    """One row per perturbation (and "clean"): frames/s of the perturbation alone and of render + it."""
    clean = World(WorldConfig(track=track))
    for _ in range(30):  # a few metres in: the car is on the road, scenery in view
        clean.step(0.0, 0.6)
    state, renderer = clean.car.state, clean.renderer
    depth = np.empty((FRAME_HEIGHT, FRAME_WIDTH), np.float32)
    frame = renderer.render(state.x, state.y, state.heading, "center", depth=depth)
    scene = Scene(depth, renderer.horizon_row, renderer.focal_px, renderer.camera.pitch_deg, state.heading)
    rows = [{"name": "clean", "kind": "", "source": "renderer", "alone": None,
             "render": lambda: clean.render("center")}]
    for name in names:
        perturbation = get_perturbation(name)
        world = World(WorldConfig(track=track, perturb=PerturbPlan.parse(f"{name}:{severity}")), track=clean.track)
        world._renderer = renderer  # the same painted world: only the perturbation differs
        world.car.place(state.x, state.y, state.heading, state.speed_mph * 0.44704)
        counter = iter(range(10**9))
        context = (lambda counter=counter: FrameContext(np.random.default_rng([0, next(counter)]), 0, scene))
        perturbation.apply(frame, severity, context())  # caches (plasma bank, streak layers) outside the clock
        rows.append({"name": name, "kind": perturbation.kind, "source": perturbation.source,
                     "alone": (lambda p=perturbation, c=context: p.apply(frame, severity, c())),
                     "render": (lambda w=world: w.render("center"))})
    variants = {f"{row['name']}|{part}": row[part] for row in rows for part in ("alone", "render") if row[part]}
    stats = interleave(variants, repeats=repeats, block=3, budget_s=budget_s, min_repeats=10)
    for row in rows:
        for part in ("alone", "render"):
            key = f"{row['name']}|{part}"
            row[part] = stats[key].per_second if key in stats else None
    return rows


def imagecorruptions_rates(names: list[str], severity: int, repeats: int, budget_s: float) -> dict[str, str]:
    """name -> frames/s of `imagecorruptions.corrupt` on a rendered frame (or its error), for its own names."""
    if "pkg_resources" not in sys.modules and importlib.util.find_spec("pkg_resources") is None:
        stand_in = types.ModuleType("pkg_resources")
        stand_in.resource_filename = lambda package, name: str(Path(sys.modules[package].__file__).parent / name)
        sys.modules["pkg_resources"] = stand_in
    try:
        library = importlib.import_module("imagecorruptions")
    except ImportError as exc:
        return {name: f"does not import: {exc}" for name in names}
    frame = World(WorldConfig(track="lake")).render("center")
    own = set(library.get_corruption_names("all"))
    results, variants = {}, {}
    for name in (n for n in names if n in own):
        try:
            library.corrupt(frame, severity, name)
            variants[name] = (lambda n=name: library.corrupt(frame, severity, n))
        except Exception as exc:  # noqa: BLE001 - the point is to show which functions fail, and how
            results[name] = f"fails: {type(exc).__name__}: {str(exc)[:60]}"
    stats = interleave(variants, repeats=repeats, block=2, budget_s=budget_s, min_repeats=5) if variants else {}
    results.update({name: f"{s.per_second:,.0f}" for name, s in stats.items()})
    return results


@dataclass(frozen=True)
class PerturbBenchConfig:
    severity: int = 3
    names: tuple[str, ...] = ()  # empty: every registered perturbation
    repeats: int = 60  # timed calls per variant (fewer under budget_s)
    budget_s: float = 120.0  # stop timing after this long (at least 10 calls each)
    imagecorruptions: bool = False  # also time the imagecorruptions package, where it is installed and runs


@dataclass
class PerturbRow:
    name: str
    kind: str
    source: str
    alone: float | None  # frames/s of the perturbation alone (None: the clean render's row)
    render: float  # frames/s of World.render with it, per camera per core


@dataclass
class PerturbBenchResult:
    cpu: str
    cores: int
    date: str
    load_start: float
    load_end: float
    severity: int
    rows: list[PerturbRow] = field(default_factory=list)
    library: dict[str, str] | None = None  # name -> imagecorruptions' own frames/s, or its error


def run(config: PerturbBenchConfig) -> PerturbBenchResult:
    cv2.setNumThreads(1)  # per core, as the goal is stated
    names = list(config.names) or list_perturbations()
    m = machine()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    rows = [PerturbRow(**row) for row in measure(names, config.severity, config.repeats, config.budget_s)]
    library = (imagecorruptions_rates(names, config.severity, max(5, config.repeats // 4), config.budget_s / 2)
               if config.imagecorruptions else None)
    return PerturbBenchResult(cpu_line(m), m.cores, m.date, load, os.getloadavg()[0], config.severity, rows, library)


def section(result: PerturbBenchResult) -> str:
    lines = [f"CPU: {result.cpu}; {result.cores} cores, OpenCV on 1 thread; load average {result.load_start:.1f} "
             f"at the start, {result.load_end:.1f} at the end; {result.date}", table(result)]
    slow = [r.name for r in result.rows if r.render < GOAL_FRAMES_PER_S]
    lines.append(f"below {GOAL_FRAMES_PER_S:.0f} frames/s with the render: {', '.join(slow) or 'none'}")
    return "\n".join(lines)


def table(result: PerturbBenchResult) -> str:
    library = result.library
    extra = " imagecorruptions 1.1.2 alone, frames/s |" if library is not None else ""
    lines = [f"| perturbation (severity {result.severity}) | kind | implementation | alone, frames/s |{extra} "
             "render + it, frames/s per camera per core | >= 200 |",
             "|---|---|---|---:|" + ("---:|" if extra else "") + "---:|:---:|"]
    for row in result.rows:
        alone = "-" if row.alone is None else f"{row.alone:,.0f}"
        theirs = f" {library.get(row.name, '-')} |" if library is not None else ""
        ok = "yes" if row.render >= GOAL_FRAMES_PER_S else "no"
        lines.append(f"| {row.name} | {row.kind} | {row.source} | {alone} |{theirs} {row.render:,.0f} | {ok} |")
    return "\n".join(lines)


def quick_config() -> PerturbBenchConfig:
    return PerturbBenchConfig(names=("gaussian_noise", "distance_fog"), repeats=10, budget_s=5.0)


BENCHMARK = Benchmark(
    name="perturb", help="renderer + camera perturbation frames/s per camera per core, every perturbation",
    config=PerturbBenchConfig, quick=quick_config, run=run, result=PerturbBenchResult, section=section,
    doc="printed, quoted in docs/robustness.md", own_process=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.perturb", description=__doc__.splitlines()[0])
    parser.add_argument("--severity", type=int, default=3, choices=range(1, 6))
    parser.add_argument("--names", nargs="+", default=None, help="perturbations to time (default: every one)")
    parser.add_argument("--repeats", type=int, default=60, help="timed calls per variant (fewer under --budget-s)")
    parser.add_argument("--budget-s", type=float, default=120.0, help="stop timing after this long (min 10 calls)")
    parser.add_argument("--imagecorruptions", action="store_true",
                        help="also time the imagecorruptions package (installed by hand), where it runs")
    args = parser.parse_args(argv)
    print(section(run(PerturbBenchConfig(args.severity, tuple(args.names or ()), args.repeats, args.budget_s,
                                         args.imagecorruptions))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
