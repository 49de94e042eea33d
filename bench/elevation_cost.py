"""What elevation (hills and crests that hide the road) would cost the renderer: a measured prototype.

    python -m bench.elevation_cost [--frames 200]

The flat renderer maps every pixel to a fixed ground point in the car's frame, so a frame is one affine
`cv2.remap` per mip band. With a height field that no longer holds: where a ray meets the ground depends
on the terrain along it. This prototype renders the lake track's painted texture over rolling hills
(+-6 m) the standard way for height fields (a column ray march, "voxel space"): per image column, 240
ground samples from 0.8 m to 160 m ahead; each is projected to a screen row from its height, a running
minimum over nearer samples gives occlusion (a crest hides what lies behind it), and each pixel takes
the colour of the first sample whose projection reaches its row. No sky, haze, hood or sprites: only the
part that replaces the flat remap. Times are the thread's CPU time per frame (one core), median of
interleaved runs against the flat renderer on the same poses.
"""
from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass

import cv2
import numpy as np

from bench.benchmark import Benchmark
from bench.machine import cpu_line, machine
from steering.preprocess import FRAME_HEIGHT, FRAME_WIDTH
from steering.sim.render import CameraConfig, Renderer
from steering.sim.tracks import get_track

DEPTHS = 240


class HeightFieldPrototype:
    """Column ray march over a height field sampled at the texture's resolution (bilinear)."""

    def __init__(self, renderer: Renderer, amplitude_m: float = 6.0) -> None:
        self.tex, self.cam = renderer.texture, renderer.camera
        h, w = self.tex.levels[0].shape[:2]
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32) * self.tex.res_m
        self.height = (amplitude_m * np.sin(xs / 60.0) * np.cos(ys / 45.0)).astype(np.float32)
        self.f = FRAME_HEIGHT / 2 / math.tan(math.radians(self.cam.vfov_deg) / 2)
        self.depth = (0.8 * (self.cam.max_distance_m / 0.8) ** (np.arange(DEPTHS) / (DEPTHS - 1))).astype(np.float32)
        u = (np.arange(FRAME_WIDTH) + 0.5 - FRAME_WIDTH / 2) / self.f
        self.azimuth = -np.arctan(u).astype(np.float32)  # left of the heading, per column
        self.rows = np.arange(FRAME_HEIGHT, dtype=np.float32)

    def render(self, x: float, y: float, heading: float) -> np.ndarray:
        tex, cam, pitch = self.tex, self.cam, math.radians(self.cam.pitch_deg)
        angle = heading + self.azimuth[None, :]  # (1, W)
        px = x + self.depth[:, None] * np.cos(angle)  # (D, W) world points along each column's ray
        py = y + self.depth[:, None] * np.sin(angle)
        u, v = (px - tex.x0) / tex.res_m, (tex.y1 - py) / tex.res_m
        ground = cv2.remap(self.height, u, v, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        colour = cv2.remap(
            tex.levels[0], u, v, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=tex.ground_far
        )
        eye = (
            float(
                cv2.remap(
                    self.height,
                    np.float32([[(x - tex.x0) / tex.res_m]]),
                    np.float32([[(tex.y1 - y) / tex.res_m]]),
                    cv2.INTER_LINEAR,
                )[0, 0]
            )
            + cam.height_m
        )
        # Screen row of each sample (pitched camera), then occlusion: only samples above all nearer ones show.
        forward = self.depth[:, None] * np.cos(self.azimuth[None, :])
        up = ground - eye
        row = FRAME_HEIGHT / 2 + self.f * (-forward * math.sin(pitch) - up * math.cos(pitch)) / (
            forward * math.cos(pitch) - up * math.sin(pitch))
        reach = np.minimum.accumulate(np.minimum(row, FRAME_HEIGHT), axis=0)  # (D, W), non-increasing with depth
        frame = np.zeros((FRAME_HEIGHT, FRAME_WIDTH, 3), np.uint8)
        for c in range(FRAME_WIDTH):  # per column: the first sample whose reach covers each row
            k = np.searchsorted(-reach[:, c], -self.rows, side="left")
            shown = k < DEPTHS
            frame[shown, c] = colour[k[shown], c]
        return frame


@dataclass
class ElevationConfig:
    frames: int = 200  # poses over the lap, each rendered by both


@dataclass
class CpuTime:
    median_ms: float  # the thread's CPU time per frame
    p99_ms: float

    @property
    def frames_per_s(self) -> float:
        return 1000 / self.median_ms


@dataclass
class ElevationResult:
    cpu: str
    frames: int
    variants: dict[str, CpuTime]


def run(config: ElevationConfig | None = None) -> ElevationResult:
    config = config or ElevationConfig()
    cv2.setNumThreads(1)
    track = get_track("lake")
    flat = Renderer(track, CameraConfig())
    hills = HeightFieldPrototype(flat)
    poses = [track.pose_at(i * track.length_m / config.frames) for i in range(config.frames)]
    times: dict[str, list[float]] = {"flat renderer (whole frame)": [], "height-field ground only": []}
    for block in range(0, config.frames, 10):
        for name, fn in (("flat renderer (whole frame)", flat.render), ("height-field ground only", hills.render)):
            for pose in poses[block : block + 10]:
                start = time.thread_time()
                fn(*pose)
                times[name].append(1000 * (time.thread_time() - start))
    variants = {name: CpuTime(median_ms=float(np.median(ms)), p99_ms=float(np.percentile(ms, 99)))
                for name, ms in times.items()}
    return ElevationResult(cpu=cpu_line(machine()), frames=config.frames, variants=variants)


def quick_config() -> ElevationConfig:
    return ElevationConfig(frames=2)


def section(result: ElevationResult) -> str:
    lines = [f"CPU: {result.cpu}; 1 thread; {result.frames} frames each, CPU time per frame"]
    lines += [f"{name:30s} median {t.median_ms:6.2f} ms  p99 {t.p99_ms:6.2f} ms  -> {t.frames_per_s:5.0f} frames/s"
              for name, t in result.variants.items()]
    return "\n".join(lines)


BENCHMARK = Benchmark(
    name="elevation_cost", help="what a height field (hills, crests) would cost the renderer: a measured prototype",
    config=ElevationConfig, quick=quick_config, run=run, result=ElevationResult, section=section,
    doc="printed, quoted in docs/tracks.md", own_process=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.elevation_cost", description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    args = parser.parse_args(argv)
    print(section(run(ElevationConfig(frames=args.frames))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
