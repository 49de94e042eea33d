"""A track's geometry: the centre line built from a `TrackSpec`, projection onto it, and the drivability check.

A `TrackSpec` (a name, a few control points, a road width, a `TrackStyle` and optional sections, see
`spec.py`) becomes a `Track`: a periodic cubic B-spline through the control polygon, resampled every
`SAMPLE_SPACING_M` metres of arc length. The B-spline is C2, so curvature (and the expert's steering)
has no jumps. `check_geometry` refuses a track the car cannot drive. Reading files is `file_format.py`'s
job, finding a track by name `registry.py`'s.

World frame: x east, y north, metres; heading in radians counter-clockwise from +x. The centre line
runs in the direction of increasing progress `s` (the driving direction).

Sign conventions (used everywhere in `steering.sim`):
- cross-track error (CTE) is **positive when the car is right of the centre line** (in the driving
  direction), negative when left; in metres.
- a lateral `offset_m` given to `Track.pose_at` follows the same sign: positive = right.

Rendering the track lives in `render.py`; the car and lap counting in `car.py` / `world.py`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from steering.sim.car import CarConfig
from steering.sim.tracks.file_format import TrackFileError, content_hash, geometry_hash
from steering.sim.tracks.spec import RAMP_M, Section, TrackSpec, Width

SAMPLE_SPACING_M = 0.25  # centre-line resolution; projection error is well below 1 cm at this spacing


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

    def __init__(self, spec: TrackSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.style = spec.style
        self.key = content_hash(spec)  # identity: caches and random seeds use it, never the name
        self.geometry_key = geometry_hash(spec)
        self.road_width_m = float(spec.road_width_m)  # nominal width; `widths` has it per sample
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
        self.widths = np.full(count, self.road_width_m)  # (N,) road width per sample: `Width` sections narrow it
        for section in spec.of_kind(Width):
            weight = self.section_weight(section, RAMP_M)
            self.widths = self.widths * (1 - weight) + section.width_m * weight

    def __repr__(self) -> str:
        return f"Track({self.name!r}, length={self.length_m:.0f} m, width={self.road_width_m:.1f} m)"

    def wrap(self, progress_m: float) -> float:
        """Progress folded into [0, length)."""
        return float(progress_m % self.length_m)

    def index_at(self, progress_m: float) -> int:
        """Index of the centre-line sample nearest to `progress_m`."""
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

    def half_width_at(self, progress_m: float) -> float:
        """Half the road width at `progress_m` (differs from `half_width_m` in `Width` sections)."""
        return float(self.widths[self.index_at(progress_m)]) / 2.0

    def section_weight(self, section: Section, ramp_m: float = 0.0) -> np.ndarray:
        """(N,) 1 inside `section`, 0 outside; with `ramp_m`, rising smoothly over that distance inside each end."""
        length = (section.to_m - section.from_m) % self.length_m
        into = (self.s - section.from_m) % self.length_m
        inside = into <= length
        if ramp_m <= 0:
            return inside.astype(np.float64)
        ramp = min(ramp_m, length / 2)
        t = np.clip(np.minimum(into, length - into) / max(ramp, 1e-9), 0, 1)
        return np.where(inside, t * t * (3 - 2 * t), 0.0)

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


def min_turning_radius_m(car: CarConfig | None = None) -> float:
    """Radius of the tightest circle the car's centre of gravity drives at full lock (kinematic bicycle)."""
    car = car or CarConfig()
    return math.hypot(car.cg_to_rear_m, car.wheelbase_m / math.tan(math.radians(car.max_steer_deg)))


def _place(track: Track, index: int) -> str:
    """Where sample `index` is, for error messages: progress, position and the nearest control point."""
    x, y = track.points[index]
    control = np.asarray(track.spec.control_points)
    near = int(np.argmin(np.hypot(control[:, 0] - x, control[:, 1] - y)))
    point = list(track.spec.control_points[near])
    return f"{track.s[index]:.0f} m (x={x:.1f}, y={y:.1f}; near control point {near} {point})"


def check_geometry(track: Track, source: str, car: CarConfig | None = None) -> None:
    """Raise `TrackFileError` if the car cannot drive `track`: a curve tighter than its turning circle,
    a road whose inner edge folds over or that overlaps itself, or a section outside the lap."""
    car = car or CarConfig()
    for i, section in enumerate(track.spec.sections):
        for name in ("from_m", "to_m"):
            value = getattr(section, name)
            if value > track.length_m:
                raise TrackFileError(
                    source,
                    f"sections[{i}].{name}",
                    f"{value:g} is beyond the end of the lap (the track is {track.length_m:.1f} m long)",
                )
        if section.from_m == section.to_m:
            raise TrackFileError(source, f"sections[{i}]", "from_m equals to_m: the section is empty")
    radius = 1.0 / np.maximum(np.abs(track.curvature), 1e-12)
    tightest = int(np.argmin(radius))
    limit = min_turning_radius_m(car)
    if radius[tightest] < limit:
        raise TrackFileError(
            source,
            "control_points",
            f"the curve at {_place(track, tightest)} has radius {radius[tightest]:.1f} m, tighter than "
            f"the car's minimum turning radius {limit:.2f} m (wheelbase {car.wheelbase_m} m, "
            f"{car.max_steer_deg:g} degree steering lock)",
        )
    folds = np.nonzero(radius < track.widths / 2)[0]
    if len(folds):
        i = int(folds[np.argmin(radius[folds])])
        raise TrackFileError(
            source,
            "control_points",
            f"self-intersecting road: the curve at {_place(track, i)} has radius {radius[i]:.1f} m, "
            f"less than half the road width ({track.widths[i] / 2:.1f} m), so the inner edge folds over itself",
        )
    step = max(1, int(round(1.0 / track.spacing_m)))  # every metre
    idx = np.arange(0, len(track.s), step)
    pts, need = track.points[idx], track.widths[idx]
    window = 1.5 * float(track.widths.max())  # nearer along the road, only the radius check applies
    worst = None  # (gap, i, j, needed) of the closest overlapping pair
    for start in range(0, len(idx), 512):
        block = slice(start, start + 512)
        gap = np.linalg.norm(pts[block, None] - pts[None], axis=2)
        along = np.abs(track.s[idx][block, None] - track.s[idx][None])
        along = np.minimum(along, track.length_m - along)
        needed = (need[block, None] + need[None]) / 2
        gap[(gap >= needed) | (along <= window)] = np.inf
        a, b = np.unravel_index(np.argmin(gap), gap.shape)
        if np.isfinite(gap[a, b]) and (worst is None or gap[a, b] < worst[0]):
            worst = (float(gap[a, b]), int(idx[start + a]), int(idx[b]), float(needed[a, b]))
    if worst is not None:
        gap, i, j, needed = worst
        raise TrackFileError(source, "control_points",
                             f"self-intersecting road: at {_place(track, i)} the centre line comes within {gap:.1f} m "
                             f"of the road at {_place(track, j)}; the road needs {needed:.1f} m between centre lines")
