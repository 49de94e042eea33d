"""Tracks of the headless simulator: closed centre lines, road width, look, and projection onto them.

A track is a `TrackSpec` (a name, a few control points, a road width and a `TrackStyle`) turned into
a `Track`: a periodic cubic B-spline through the control polygon, resampled every `SAMPLE_SPACING_M`
metres of arc length. The B-spline is C2, so curvature (and the expert's steering) has no jumps.

World frame: x east, y north, metres; heading in radians counter-clockwise from +x. The centre line
runs in the direction of increasing progress `s` (the driving direction).

Sign conventions (used everywhere in `steering.sim`):
- cross-track error (CTE) is **positive when the car is right of the centre line** (in the driving
  direction), negative when left; in metres.
- a lateral `offset_m` given to `Track.pose_at` follows the same sign: positive = right.

Rendering the track lives in `render.py`; the car and lap counting in `car.py` / `world.py`.
"""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass

import numpy as np

SAMPLE_SPACING_M = 0.25  # centre-line resolution; projection error is well below 1 cm at this spacing


@dataclass(frozen=True)
class TrackStyle:
    """Colours (RGB) and markings, so held-out tracks look different from the training track."""

    asphalt: tuple[int, int, int] = (105, 105, 108)
    ground: tuple[int, int, int] = (150, 120, 80)  # off-road
    ground_alt: tuple[int, int, int] = (95, 120, 60)  # second off-road colour, mixed in as patches
    edge_line: tuple[int, int, int] | None = (215, 190, 40)  # solid line near each edge; None = none
    centre_line: tuple[int, int, int] | None = None  # dashed centre marking; None = none
    curb_a: tuple[int, int, int] | None = (200, 40, 40)  # alternating curb blocks; None = no curbs
    curb_b: tuple[int, int, int] = (235, 235, 235)
    shoulder: tuple[int, int, int] | None = (190, 190, 185)  # a pale strip outside the road on one side
    sky_top: tuple[int, int, int] = (70, 120, 200)
    sky_horizon: tuple[int, int, int] = (175, 200, 230)
    hills: tuple[int, int, int] = (70, 100, 60)  # distant silhouette on the panorama
    hill_height_deg: float = 6.0


@dataclass(frozen=True)
class TrackSpec:
    """A named track: control polygon of a periodic cubic B-spline (metres), road width, look."""

    name: str
    control_points: tuple[tuple[float, float], ...]
    road_width_m: float
    style: TrackStyle
    description: str = ""


@dataclass(frozen=True)
class Projection:
    """Where a point lies relative to the centre line."""

    progress_m: float  # arc length of the closest centre-line point, in [0, length)
    cte_m: float  # signed cross-track error: positive = right of centre
    index: int  # index of the closest centre-line sample (pass back as `hint` to project faster)
    heading: float  # centre-line heading at that point (radians)


def _periodic_bspline(control: np.ndarray, samples_per_span: int = 200) -> np.ndarray:
    """Points (M, 2) of the closed uniform cubic B-spline of `control` (K, 2)."""
    k = len(control)
    t = np.linspace(0.0, 1.0, samples_per_span, endpoint=False)
    # Uniform cubic B-spline basis: each span blends four consecutive control points.
    basis = np.stack([(1 - t) ** 3, 3 * t**3 - 6 * t**2 + 4, -3 * t**3 + 3 * t**2 + 3 * t + 1, t**3], axis=1) / 6.0
    spans = []
    for i in range(k):
        quad = control[[(i - 1) % k, i, (i + 1) % k, (i + 2) % k]]  # (4, 2)
        spans.append(basis @ quad)  # (samples_per_span, 2)
    return np.concatenate(spans)


class Track:
    """A closed track resampled by arc length, with projection, poses and curvature."""

    def __init__(self, spec: TrackSpec):
        self.spec = spec
        self.name = spec.name
        self.style = spec.style
        self.road_width_m = float(spec.road_width_m)
        self.half_width_m = self.road_width_m / 2.0
        dense = _periodic_bspline(np.asarray(spec.control_points, dtype=np.float64))
        seg = np.linalg.norm(np.diff(dense, axis=0, append=dense[:1]), axis=1)
        arc = np.concatenate([[0.0], np.cumsum(seg)])  # arc[-1] = closed length
        self.length_m = float(arc[-1])
        count = int(round(self.length_m / SAMPLE_SPACING_M))
        self.spacing_m = self.length_m / count
        s = np.arange(count) * self.spacing_m
        closed = np.vstack([dense, dense[:1]])
        self.s = s  # (N,)
        self.points = np.stack([np.interp(s, arc, closed[:, 0]), np.interp(s, arc, closed[:, 1])], axis=1)  # (N, 2)
        # Central differences on the closed loop give the tangent at each sample.
        delta = np.roll(self.points, -1, axis=0) - np.roll(self.points, 1, axis=0)
        self.tangents = delta / np.linalg.norm(delta, axis=1, keepdims=True)  # (N, 2) unit, driving direction
        self.normals_left = np.stack([-self.tangents[:, 1], self.tangents[:, 0]], axis=1)  # (N, 2) unit, to the left
        self.headings = np.arctan2(self.tangents[:, 1], self.tangents[:, 0])
        turn = np.angle(np.exp(1j * (np.roll(self.headings, -1) - np.roll(self.headings, 1))))
        self.curvature = turn / (2 * self.spacing_m)  # (N,) 1/m, positive = turning left

    def __repr__(self) -> str:
        return f"Track({self.name!r}, length={self.length_m:.0f} m, width={self.road_width_m:.1f} m)"

    def wrap(self, progress_m: float) -> float:
        """Progress folded into [0, length)."""
        return float(progress_m % self.length_m)

    def index_at(self, progress_m: float) -> int:
        return int(round(self.wrap(progress_m) / self.spacing_m)) % len(self.s)

    def pose_at(self, progress_m: float, offset_m: float = 0.0) -> tuple[float, float, float]:
        """(x, y, heading) on the centre line at `progress_m`, shifted `offset_m` to the right."""
        s = self.wrap(progress_m)
        i = int(s // self.spacing_m) % len(self.s)
        j = (i + 1) % len(self.s)
        frac = s / self.spacing_m - int(s // self.spacing_m)
        point = self.points[i] * (1 - frac) + self.points[j] * frac
        normal = self.normals_left[i] * (1 - frac) + self.normals_left[j] * frac
        normal /= np.linalg.norm(normal)
        x, y = point - offset_m * normal
        heading = math.atan2(*(self.tangents[i] * (1 - frac) + self.tangents[j] * frac)[::-1])
        return float(x), float(y), heading

    def curvature_at(self, progress_m: float) -> float:
        """Centre-line curvature (1/m, positive = left turn) at `progress_m`."""
        return float(self.curvature[self.index_at(progress_m)])

    def max_curvature_ahead(self, progress_m: float, distance_m: float) -> float:
        """Largest |curvature| on the next `distance_m` metres (for choosing a safe speed)."""
        start = self.index_at(progress_m)
        count = max(1, int(distance_m / self.spacing_m))
        idx = (start + np.arange(count)) % len(self.s)
        return float(np.abs(self.curvature[idx]).max())

    def project(self, x: float, y: float, hint: int | None = None, window_m: float = 30.0) -> Projection:
        """Closest centre-line point to (x, y). With `hint` (last index) only a window around it is searched."""
        n = len(self.s)
        if hint is None:
            idx = np.arange(n)
        else:
            half = int(window_m / self.spacing_m)
            idx = (hint + np.arange(-half, half + 1)) % n
        d = self.points[idx] - (x, y)
        i = int(idx[np.argmin(np.einsum("ij,ij->i", d, d))])
        rel = np.array([x, y]) - self.points[i]
        along = float(rel @ self.tangents[i])  # sub-sample refinement along the local tangent
        lateral_left = float(rel @ self.normals_left[i])
        return Projection(progress_m=self.wrap(self.s[i] + along), cte_m=-lateral_left, index=i,
                          heading=float(self.headings[i]))

    def bounds(self, margin_m: float) -> tuple[float, float, float, float]:
        """(x_min, y_min, x_max, y_max) of the centre line grown by `margin_m`."""
        lo = self.points.min(axis=0) - margin_m
        hi = self.points.max(axis=0) + margin_m
        return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])


LAKE_STYLE = TrackStyle()

MOUNTAIN_STYLE = TrackStyle(
    asphalt=(62, 62, 66),
    ground=(120, 110, 100),
    ground_alt=(60, 85, 45),
    edge_line=(235, 235, 235),
    centre_line=(240, 240, 240),
    curb_a=None,
    shoulder=None,
    sky_top=(120, 130, 150),
    sky_horizon=(215, 205, 190),
    hills=(95, 95, 110),
    hill_height_deg=14.0,
)

# Control polygons in metres. The lake track is a long, gentle loop (radii >= ~35 m) for training;
# the mountain track is shorter-radius and twisty (S-bends, a near-hairpin) and looks different, so
# it measures generalisation. `tests/test_sim_tracks.py` checks radii and that the road never overlaps.
TRACKS: dict[str, TrackSpec] = {
    "lake": TrackSpec(
        name="lake",
        control_points=((0, 0), (60, -8), (120, 0), (165, 30), (170, 80), (130, 110), (80, 100),
                        (40, 125), (-10, 120), (-45, 85), (-50, 35), (-35, 5)),
        road_width_m=9.0,
        style=LAKE_STYLE,
        description="training track: gentle loop, grey asphalt, yellow edge lines, red/white curbs",
    ),
    "mountain": TrackSpec(
        name="mountain",
        control_points=((0, 0), (45, -5), (70, 20), (55, 50), (80, 75), (115, 60), (135, 90),
                        (110, 125), (60, 120), (35, 95), (5, 115), (-30, 95), (-25, 55), (-45, 25)),
        road_width_m=8.0,
        style=MOUNTAIN_STYLE,
        description="held-out track: twisty, dark asphalt, white edge and dashed centre lines, no curbs",
    ),
    "oval": TrackSpec(
        name="oval",
        control_points=((0, 0), (40, 0), (60, 20), (40, 40), (0, 40), (-20, 20)),
        road_width_m=9.0,
        style=LAKE_STYLE,
        description="short test loop (~150 m) for fast tests",
    ),
}


def list_tracks() -> list[str]:
    """Names of the built-in tracks, sorted."""
    return sorted(TRACKS)


_CACHE: dict[str, Track] = {}


def get_track(name: str) -> Track:
    """The built-in track `name` (built once, then cached; tracks are immutable)."""
    if name not in TRACKS:
        close = difflib.get_close_matches(name, list(TRACKS), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"unknown track {name!r}{hint} (list_tracks() shows all: {', '.join(list_tracks())})")
    if name not in _CACHE:
        _CACHE[name] = Track(TRACKS[name])
    return _CACHE[name]
