"""Renderer + perturbation speed per camera on one core, for every perturbation (docs/robustness.md).

    python -m bench.perturb                      # every perturbation at severity 3, markdown table
    python -m bench.perturb --severity 5 --names glass_blur distance_fog

Per perturbation: the perturbation alone on a rendered 320x160 frame, and `World.render("center")`
with the perturbation on (render, depth buffer where needed, perturbation), i.e. what every camera
costs before its JPEG encoding; the clean render is the first row. OpenCV is held to one thread, so
frames/s is per camera per core (the goal: >= 200). Variants are timed round-robin (`bench.timing`),
medians; the machine's load average is printed, since a shared machine slows every row alike.
"""
from __future__ import annotations

import argparse
import os
import sys

import cv2
import numpy as np

from bench.report import cpu_line, machine
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
        context = (lambda: FrameContext(np.random.default_rng([0, next(counter)]), 0, scene))
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


def table(rows: list[dict], severity: int) -> str:
    lines = [f"| perturbation (severity {severity}) | kind | implementation | alone, frames/s | render + it, "
             "frames/s per camera per core | >= 200 |", "|---|---|---|---:|---:|:---:|"]
    for row in rows:
        alone = "-" if row["alone"] is None else f"{row['alone']:,.0f}"
        ok = "yes" if row["render"] >= GOAL_FRAMES_PER_S else "no"
        lines.append(f"| {row['name']} | {row['kind']} | {row['source']} | {alone} | {row['render']:,.0f} | {ok} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.perturb", description=__doc__.splitlines()[0])
    parser.add_argument("--severity", type=int, default=3, choices=range(1, 6))
    parser.add_argument("--names", nargs="+", default=None, help="perturbations to time (default: every one)")
    parser.add_argument("--repeats", type=int, default=60, help="timed calls per variant (fewer under --budget-s)")
    parser.add_argument("--budget-s", type=float, default=120.0, help="stop timing after this long (min 10 calls)")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)  # per core, as the goal is stated
    names = args.names or list_perturbations()
    m = machine()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    rows = measure(names, args.severity, args.repeats, args.budget_s)
    print(f"CPU: {cpu_line(m)}; {m['cores']} cores, OpenCV on 1 thread; load average {load:.1f} at the start, "
          f"{os.getloadavg()[0]:.1f} at the end; {m['date']}")
    print(table(rows, args.severity))
    slow = [r["name"] for r in rows if r["render"] < GOAL_FRAMES_PER_S]
    print(f"below {GOAL_FRAMES_PER_S:.0f} frames/s with the render: {', '.join(slow) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
