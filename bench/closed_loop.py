"""The closed loop through the real socket: the headless simulator driving the drive server.

`steering.drive.running_server` (the drive server of `drive.py`, Socket.IO over a real loopback
WebSocket, inference in its own thread) driven by `steering.sim.client.SimClient` with the Unity
simulator's quirks on (double open, lock step, JPEG q75 telemetry), in one process. Frames/s = world
steps the car got per wall-clock second; the server's own per-frame latency percentiles come from
`server.stats`. (The render rate alone is `bench.render`.)
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from bench import inputs
from bench.benchmark import Benchmark
from bench.markdown import num, table
from steering.drive import DriveConfig, TransportConfig, running_server
from steering.inference import InferenceConfig
from steering.sim import World, WorldConfig
from steering.sim.client import ClientConfig, SimClient

log = logging.getLogger(__name__)


@dataclass
class ClosedLoopConfig:
    track: str = "lake"
    loop_steps: int = 150
    # (model, backend, precision) driven through the socket
    loops: tuple[tuple[str, str, str], ...] = (("pilotnet", "torch", "auto"), ("resnet50", "torch", "auto"),
                                               ("resnet50", "onnx", "auto"))
    threads: int = 2


@dataclass
class StagePercentiles:
    """One stage of the server's own latency, ms."""

    p50: float
    p99: float
    n: int


@dataclass
class Loop:
    model: str
    backend: str
    precision: str
    steps: int
    wall_s: float
    frames_per_s: float
    server_latency_ms: dict[str, StagePercentiles]  # decode, preprocess, infer, total
    superseded: int
    telemetry_sent: int
    client_max_in_flight: int
    max_newer_at_reply: int | None = None


@dataclass
class ClosedLoopResult:
    loops: list[Loop]


def closed_loop(model: str, backend: str, precision: str, config: ClosedLoopConfig) -> Loop:
    checkpoint = inputs.checkpoint(model)
    drive = DriveConfig(transport=TransportConfig(port=0), stats_every=0,
                        inference=InferenceConfig(device="cpu", backend=backend, precision=precision,
                                                  threads=config.threads))
    world = World(WorldConfig(track=config.track))
    world.render("center")  # paint before the clock starts
    with running_server(checkpoint, drive) as server:
        client = SimClient(world, ClientConfig(port=server.port, pacing="fixed"))
        result = client.run(max_steps=config.loop_steps)
        stats = server.stats
    steps = len(result.steps)
    latency = {stage: StagePercentiles(p50=v["p50"], p99=v["p99"], n=v["n"])
               for stage, v in stats.get("latency_ms", {}).items()}
    return Loop(model=model, backend=backend, precision=precision, steps=steps, wall_s=result.wall_s,
                frames_per_s=steps / result.wall_s if result.wall_s > 0 else 0.0,
                server_latency_ms=latency, superseded=stats["counters"].get("superseded", 0),
                telemetry_sent=result.telemetry_sent, client_max_in_flight=result.max_in_flight,
                max_newer_at_reply=stats.get("max_newer_at_reply"))


def run(config: ClosedLoopConfig | None = None) -> ClosedLoopResult:
    config = config or ClosedLoopConfig()
    result = ClosedLoopResult(loops=[])
    for model, backend, precision in config.loops:
        log.info("closed loop: %s %s %s", model, backend, precision)
        result.loops.append(closed_loop(model, backend, precision, config))
    return result


def quick_config() -> ClosedLoopConfig:
    return ClosedLoopConfig(loop_steps=3, loops=(("pilotnet", "torch", "auto"),))


def section(sim: ClosedLoopResult) -> str:
    rows = []
    for loop in sim.loops:
        lat = loop.server_latency_ms
        get = lambda s, p, lat=lat: num(getattr(lat[s], p)) if s in lat else "–"  # noqa: E731
        rows.append([loop.model, f"{loop.backend} / {loop.precision}", num(loop.frames_per_s),
                     str(loop.steps), get("total", "p50"), get("total", "p99"), get("infer", "p50"),
                     get("decode", "p50"), get("preprocess", "p50"), str(loop.superseded)])
    return "\n".join(["## 2. Closed loop through the real socket", "",
                      "Headless simulator (`SimClient`, Unity quirks on: double open, lock step, JPEG q75 telemetry) "
                      "against the drive server (`running_server`, real loopback WebSocket, inference thread), one "
                      "process. Frames/s = world steps the car got per second; latencies are the server's own "
                      "(`server.stats`), from telemetry received to `steer` emitted.", ""] + table(
        ["model", "backend / precision", "frames/s", "steps", "server p50 ms", "server p99 ms", "infer p50",
         "decode p50", "preprocess p50", "superseded"], rows))


def findings(sim: ClosedLoopResult) -> list[str]:
    out = []
    for loop in sim.loops:
        period = 1000.0 / loop.frames_per_s if loop.frames_per_s else float("inf")
        total, infer = loop.server_latency_ms.get("total"), loop.server_latency_ms.get("infer")
        if not (total and infer and total.p50 and infer.p50):
            continue
        total, infer = total.p50, infer.p50
        if total > 1.5 * period:
            # Lock step with one chain cannot answer a frame later than one step period: more chains are alive.
            out.append(
                f"- closed loop {loop.model} ({loop.backend}): the server answers each frame "
                f"{total:.1f} ms after it arrived (p50) while the car gets a reply every {period:.1f} ms and "
                f"inference takes {infer:.1f} ms: about {total / period:.1f} request chains stay alive "
                f"({loop.telemetry_sent} telemetry for {loop.steps} steps, {loop.superseded} superseded). "
                "Each frame waits for another chain's inference before its own starts, so every command "
                "steers on a frame about two inferences old (steering/server.py `_handle_telemetry`: a frame "
                "is dropped only if a newer one arrives while it *waits*; the simulator's double open leaves "
                "a second chain whose frames always arrive while the other is *inferring*)."
            )
        else:
            out.append(f"- closed loop {loop.model} ({loop.backend}): {loop.frames_per_s:.1f} frames/s = "
                       f"{period:.1f} ms per step; the server's handling is {total:.1f} ms of it (p50), the rest is "
                       "the client's render, JPEG encode, base64 and the socket round trip in the same process.")
    return out


BENCHMARK = Benchmark(
    name="closed_loop", help="the headless simulator driving the drive server through a real socket: frames/s, latency",
    config=ClosedLoopConfig, quick=quick_config, run=run, result=ClosedLoopResult, section=section, findings=findings,
    page=True)
