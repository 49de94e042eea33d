"""One simulated drive: a track, a car on it, its cameras, and where it is (CTE, progress, laps).

`World` is what both the expert recorder and the wire client (and later the evaluator) drive: call
`step(steering, throttle)` once per sample (1/15 s by default, the simulator's recording rate) and
read `cte_m`, `progress_m`, `laps_completed`, `off_road`, or `render(camera)`. It holds no clock of
its own beyond `time_s`, which advances by exactly `dt` per step, so results never depend on how
fast the machine is. `reset_to_centre()` puts the car back on the centre line (an intervention).

Perturbations (`WorldConfig.perturb`, a `steering.perturb.PerturbPlan`): `render` applies the ones in
force at the distance driven to every camera frame, so whatever encodes a frame (the wire client, the
recorder, the video) sees the same perturbed frame. Each frame's randomness is seeded by the world's
seed, the step and the camera: rendering the same step twice gives the same pixels.

Lap counting: progress along the centre line is unwrapped every step (the car moves far less than
half a lap per step), so `distance_along_m` grows by one track length per lap driven forwards and
shrinks when driving backwards; `laps_completed` is its whole number of laps.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from steering.perturb import PerturbPlan, Scene
from steering.sim.car import MPH, Car, CarConfig, CarState
from steering.sim.render import CameraConfig, Renderer
from steering.sim.tracks import Projection, Track, get_track
from steering.udacity import CAMERAS, FRAME_HEIGHT, FRAME_WIDTH, RECORD_PERIOD_S

SIM_DT = RECORD_PERIOD_S  # one step per telemetry frame the simulator sends (and records)


@dataclass(frozen=True)
class WorldConfig:
    """Which track, where to start, and the fixed time step."""

    track: str = "lake"
    dt: float = SIM_DT
    substeps: int = 4  # physics steps per sample: keeps the bicycle model accurate at 30 mph
    start_progress_m: float = 0.0
    start_speed_mph: float = 0.0
    texture_res_m: float = 0.1  # metres per texel of the painted ground
    seed: int = 0  # paints the textures; the same seed gives the same frames
    car: CarConfig = field(default_factory=CarConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    perturb: PerturbPlan = field(default_factory=PerturbPlan)  # corruptions and weather; empty = clean frames


@dataclass(frozen=True)
class StepInfo:
    """The state after one step, for logs and scoring."""

    time_s: float
    x: float
    y: float
    heading: float
    speed_mph: float
    steering: float  # wheel position, normalised, positive = right
    throttle: float
    brake: float
    cte_m: float  # positive = right of centre
    progress_m: float
    distance_along_m: float
    laps_completed: int
    off_road: bool


class World:
    """A car on a track with cameras. Deterministic: the same commands give the same states and frames."""

    def __init__(self, config: WorldConfig | None = None, track: Track | None = None) -> None:
        self.config = config or WorldConfig()
        self.track = track or get_track(self.config.track)
        self.car = Car(self.config.car)
        self._renderer: Renderer | None = None  # built on first render: physics-only runs skip painting
        self.reset()

    @property
    def renderer(self) -> Renderer:
        if self._renderer is None:
            self._renderer = Renderer(self.track, self.config.camera, self.config.texture_res_m, self.config.seed)
        return self._renderer

    def reset(self, progress_m: float | None = None, offset_m: float = 0.0, heading_error: float = 0.0,
              speed_mph: float | None = None) -> None:
        """Start again at `progress_m` (default: the configured start), `offset_m` right of centre."""
        progress = self.config.start_progress_m if progress_m is None else progress_m
        speed = self.config.start_speed_mph if speed_mph is None else speed_mph
        x, y, heading = self.track.pose_at(progress, offset_m)
        self.car.place(x, y, heading + heading_error, speed * MPH)
        self.time_s = 0.0
        self.steps = 0
        self._projection = self.track.project(x, y)
        self._start_progress = self._projection.progress_m
        self.distance_along_m = 0.0

    def reset_to_centre(self, speed_mph: float = 0.0) -> None:
        """Put the car back on the centre line where it is, facing along the track (time keeps running)."""
        proj = self._projection
        x, y, heading = self.track.pose_at(proj.progress_m)
        self.car.place(x, y, heading, speed_mph * MPH)
        self._projection = self.track.project(x, y, hint=proj.index)

    def step(self, steering: float, throttle: float, dt: float | None = None) -> StepInfo:
        """Advance one sample (`config.dt`, or `dt` seconds: the real-time client's partial steps, at most
        `config.dt`) with steering in [-1, 1] (positive = right) and throttle in [-1, 1]."""
        cfg = self.config
        dt = cfg.dt if dt is None else dt
        for _ in range(cfg.substeps):
            self.car.step(steering, throttle, dt / cfg.substeps)
        state = self.car.state
        before = self._projection
        self._projection = self.track.project(state.x, state.y, hint=before.index)
        delta = self._projection.progress_m - before.progress_m
        half = self.track.length_m / 2
        self.distance_along_m += (delta + half) % self.track.length_m - half  # unwrap across the start line
        self.time_s += dt
        self.steps += 1
        return self.info()

    def info(self) -> StepInfo:
        st: CarState = self.car.state
        return StepInfo(time_s=self.time_s, x=st.x, y=st.y, heading=st.heading, speed_mph=st.speed_mph,
                        steering=st.steering, throttle=st.throttle, brake=st.brake, cte_m=self.cte_m,
                        progress_m=self.progress_m, distance_along_m=self.distance_along_m,
                        laps_completed=self.laps_completed, off_road=self.off_road)

    @property
    def projection(self) -> Projection:
        return self._projection

    @property
    def cte_m(self) -> float:
        """Cross-track error in metres, positive = right of the centre line."""
        return self._projection.cte_m

    @property
    def progress_m(self) -> float:
        return self._projection.progress_m

    @property
    def heading_error(self) -> float:
        """Car heading minus track heading, radians in [-pi, pi); positive = pointing left of the track."""
        return math.remainder(self.car.state.heading - self._projection.heading, math.tau)

    @property
    def laps_completed(self) -> int:
        return max(0, int(math.floor(self.distance_along_m / self.track.length_m + 1e-9)))

    @property
    def off_road(self) -> bool:
        """The car's centre is beyond the road edge (|CTE| > half the road width there)."""
        return abs(self.cte_m) > self.track.half_width_at(self.progress_m)

    def restyle(self, track: Track) -> None:
        """Swap in `track`, the same centre line with another look (style randomisation between laps);
        the car, time and lap count carry on, the renderer is rebuilt on the next frame."""
        if track.spec.control_points != self.track.spec.control_points:
            raise ValueError(f"restyle needs the same centre line: {track.name!r} differs from {self.track.name!r}")
        self.track = track
        self._renderer = None

    def render(self, camera: str = "center") -> np.ndarray:
        """uint8 (160, 320, 3) RGB frame from `camera` ("center", "left" or "right"), perturbed as configured."""
        st, plan, renderer = self.car.state, self.config.perturb, self.renderer
        if not plan:
            return renderer.render(st.x, st.y, st.heading, camera)
        distance = self.distance_along_m
        depth = np.empty((FRAME_HEIGHT, FRAME_WIDTH), np.float32) if plan.needs_scene(distance) else None
        frame = renderer.render(st.x, st.y, st.heading, camera, depth=depth)
        scene = None if depth is None else Scene(depth, renderer.horizon_row, renderer.focal_px,
                                                 renderer.camera.pitch_deg, st.heading)
        return plan.apply(frame, distance, self.steps, CAMERAS.index(camera), self.config.seed, scene)

    def render_all(self) -> dict[str, np.ndarray]:
        """The three frames the simulator records: {"center", "left", "right"}."""
        return {name: self.render(name) for name in CAMERAS}
