"""The headless simulator's render rate per camera, plus the JPEG encoding of every telemetry.

`World.render(camera)` (texture remap, haze, sky, hood) on one track and `encode_jpeg(frame, 75)`,
interleaved. Every built-in track on one core is `bench.tracks`; the closed loop is `bench.closed_loop`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from bench.benchmark import Benchmark
from bench.markdown import num, table
from bench.timing import Stats, interleave
from steering.preprocess import encode_jpeg
from steering.sim import CAMERAS, World, WorldConfig


@dataclass
class RenderConfig:
    render_repeats: int = 60
    track: str = "lake"


@dataclass
class CameraRate:
    frames_per_s: float
    time: Stats


@dataclass
class RenderResult:
    track: str
    renderer_build_s: float
    per_camera: dict[str, CameraRate]  # each camera, and "JPEG encode (q75)"


def run(config: RenderConfig | None = None) -> RenderResult:
    config = config or RenderConfig()
    start = time.perf_counter()
    world = World(WorldConfig(track=config.track))
    world.render("center")  # builds the renderer: paints the texture, precomputes rays
    build_s = time.perf_counter() - start
    world.step(0.0, 1.0)
    variants = {camera: (lambda camera=camera: world.render(camera)) for camera in CAMERAS}
    frame = world.render("center")
    variants["JPEG encode (q75)"] = lambda: encode_jpeg(frame, 75)
    stats = interleave(variants, repeats=config.render_repeats, block=5)
    return RenderResult(track=config.track, renderer_build_s=build_s,
                        per_camera={name: CameraRate(frames_per_s=s.per_second, time=s) for name, s in stats.items()})


def quick_config() -> RenderConfig:
    return RenderConfig(render_repeats=2)


def section(r: RenderResult) -> str:
    rows = [[name, num(v.frames_per_s, 0), num(v.time.median_ms, 2), num(v.time.p99_ms, 2)]
            for name, v in r.per_camera.items()]
    return "\n".join([
        "## 6. Simulator render rate",
        "",
        f"`World.render(camera)` on the {r.track} track (one-off renderer build: {num(r.renderer_build_s, 1)} s).",
        "",
    ] + table(["camera", "frames/s", "median ms", "p99 ms"], rows))


BENCHMARK = Benchmark(
    name="render", help="the headless simulator's render rate per camera on one track, and the telemetry JPEG encode",
    config=RenderConfig, quick=quick_config, run=run, result=RenderResult, section=section, page=True)
