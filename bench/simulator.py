"""The headless simulator's render rate per camera, and the closed loop through the real socket.

Render: `World.render(camera)` (texture remap, haze, sky, hood) plus the JPEG encoding the wire
client does for every telemetry. Closed loop: `steering.drive.running_server` (the drive server of
`drive.py`, Socket.IO over a real loopback WebSocket, inference in its own thread) driven by
`steering.sim.client.SimClient` with the Unity simulator's quirks on (double open, lock step), in
one process. Frames/s = world steps the car got per wall-clock second; the server's own per-frame
latency percentiles come from `server.stats`.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from bench import inputs
from bench.timing import interleave
from steering.drive import DriveConfig, TransportConfig, running_server
from steering.inference import InferenceConfig
from steering.preprocess import encode_jpeg
from steering.sim import CAMERAS, World, WorldConfig
from steering.sim.client import ClientConfig, SimClient

log = logging.getLogger(__name__)


@dataclass
class SimulatorConfig:
    render_repeats: int = 60
    track: str = "lake"
    loop_steps: int = 150
    # (model, backend, precision) driven through the socket
    loops: tuple[tuple[str, str, str], ...] = (("pilotnet", "torch", "auto"), ("resnet50", "torch", "auto"),
                                               ("resnet50", "onnx", "auto"))
    threads: int = 2


def render_rates(config: SimulatorConfig) -> dict[str, Any]:
    start = time.perf_counter()
    world = World(WorldConfig(track=config.track))
    world.render("center")  # builds the renderer: paints the texture, precomputes rays
    build_s = time.perf_counter() - start
    world.step(0.0, 1.0)
    variants = {camera: (lambda camera=camera: world.render(camera)) for camera in CAMERAS}
    frame = world.render("center")
    variants["JPEG encode (q75)"] = lambda: encode_jpeg(frame, 75)
    stats = interleave(variants, repeats=config.render_repeats, block=5)
    return {"track": config.track, "renderer_build_s": build_s,
            "per_camera": {name: {"frames_per_s": s.per_second, "time": s.to_dict()} for name, s in stats.items()}}


def closed_loop(model: str, backend: str, precision: str, config: SimulatorConfig) -> dict[str, Any]:
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
    return {"model": model, "backend": backend, "precision": precision, "steps": steps, "wall_s": result.wall_s,
            "frames_per_s": steps / result.wall_s if result.wall_s > 0 else 0.0,
            "server_latency_ms": stats.get("latency_ms", {}), "superseded": stats["counters"].get("superseded", 0),
            "telemetry_sent": result.telemetry_sent, "client_max_in_flight": result.max_in_flight,
            "max_newer_at_reply": stats.get("max_newer_at_reply")}


def run(config: SimulatorConfig | None = None) -> dict[str, Any]:
    config = config or SimulatorConfig()
    results: dict[str, Any] = {"render": render_rates(config), "loops": []}
    for model, backend, precision in config.loops:
        log.info("closed loop: %s %s %s", model, backend, precision)
        results["loops"].append(closed_loop(model, backend, precision, config))
    return results


if __name__ == "__main__":
    import pprint

    from steering.cli import setup_logging

    setup_logging()
    pprint.pprint(run(SimulatorConfig(render_repeats=10, loop_steps=30, loops=(("pilotnet", "torch", "auto"),))))
