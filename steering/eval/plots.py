"""PNG plots of evaluations: one drive's top-down trajectory, and several models side by side.

- `plot_trajectory`: the track's road edges and centre line from above, the car's path coloured
  by |CTE| (0 to the road edge), a cross at every intervention. Metres on both axes, equal scale.
- `plot_comparison`: autonomy % and mean |CTE| per model, one group of bars per track.
- `plot_suite`: autonomy % per suite row, one bar per model, the rows' targets dashed.

matplotlib with the Agg backend (no display needed); the report numbers come from `steering.eval.report`.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
import numpy as np  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402

from steering.eval.report import EvalReport  # noqa: E402
from steering.eval.scoring import Intervention  # noqa: E402
from steering.sim.tracks import Track  # noqa: E402
from steering.sim.world import StepInfo  # noqa: E402


def road_edges(track: Track) -> tuple[np.ndarray, np.ndarray]:
    """(left, right) road edges, each (N, 2) metres, closed loops in the driving direction."""
    offset = track.normals_left * (track.widths / 2.0)[:, None]  # (N, 2): narrow sections drawn narrow
    return track.points + offset, track.points - offset


def _area(points: np.ndarray) -> float:
    """Unsigned area of a closed polygon (shoelace): tells the outer road edge from the inner one."""
    x, y = points[:, 0], points[:, 1]
    return abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))) / 2


def _closed(points: np.ndarray) -> np.ndarray:
    return np.vstack([points, points[:1]])


def plot_trajectory(track: Track, steps: Sequence[StepInfo], interventions: Sequence[Intervention], path: Path,
                    title: str = "") -> Path:
    """Top-down view of a drive: road, path coloured by |CTE|, interventions marked; written to `path`."""
    left, right = road_edges(track)
    fig, ax = plt.subplots(figsize=(8, 7), dpi=110)
    outer, inner = sorted((left, right), key=_area, reverse=True)
    ax.fill(*_closed(outer).T, color="0.85", zorder=0)
    ax.fill(*_closed(inner).T, color="white", zorder=0)  # the infield: only the ring between the edges stays grey
    for edge in (left, right):
        ax.plot(*_closed(edge).T, color="0.3", lw=1.0, zorder=1)
    ax.plot(*_closed(track.points).T, color="0.6", lw=0.6, ls="--", zorder=1)
    start = track.points[0]
    ax.plot(*start, marker="|", markersize=14, color="black", zorder=2)
    if steps:
        xy = np.array([(s.x, s.y) for s in steps])  # (T, 2)
        cte = np.abs([s.cte_m for s in steps])  # (T,)
        # Segments end where the car was handed back: no line jumps across the infield.
        jumps = {iv.step for iv in interventions}
        segments = [xy[i:i + 2] for i in range(len(xy) - 1) if i not in jumps]
        colours = [cte[i] for i in range(len(xy) - 1) if i not in jumps]
        lines = LineCollection(segments, cmap="plasma", linewidths=2.0, zorder=3)
        lines.set_array(np.asarray(colours))
        lines.set_clim(0.0, track.half_width_m)
        ax.add_collection(lines)
        bar = fig.colorbar(lines, ax=ax, fraction=0.04, pad=0.02)
        bar.set_label("|CTE| m (top of scale = road edge)")
    for reason, colour in (("off_road", "red"), ("no_progress", "darkorange")):
        marks = [(iv.x, iv.y) for iv in interventions if iv.reason == reason]
        if marks:
            ax.scatter(*np.array(marks).T, marker="x", s=90, linewidths=2.5, color=colour, zorder=4,
                       label=f"intervention: {reason.replace('_', ' ')} ({len(marks)})")
    if interventions:
        ax.legend(loc="upper right", fontsize=8)
    ax.set_aspect("equal")
    ax.autoscale_view()
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_title(title or f"drive on {track.name}", fontsize=10)
    return _save(fig, path)


def plot_comparison(reports: Sequence[EvalReport], path: Path) -> Path:
    """Autonomy % and mean |CTE| per model, grouped by track; written to `path`."""
    models = list(dict.fromkeys(r.model for r in reports))
    tracks = list(dict.fromkeys(r.track for r in reports))
    table = {(r.model, r.track): r for r in reports}
    fig, axes = plt.subplots(1, 2, figsize=(max(8, 2.5 * len(tracks) * max(1, len(models)) / 2 + 4), 4.5), dpi=110)
    width = 0.8 / max(1, len(models))
    x = np.arange(len(tracks))
    for k, model in enumerate(models):
        for ax, metric in zip(axes, ("autonomy_pct", "mean_abs_cte_m"), strict=False):
            values = [getattr(table[(model, t)], metric) if (model, t) in table else np.nan for t in tracks]
            bars = ax.bar(x + (k - (len(models) - 1) / 2) * width, values, width, label=model)
            ax.bar_label(bars, fmt="%.1f" if metric == "autonomy_pct" else "%.2f", fontsize=7)
    axes[0].set_ylabel("autonomy % (PilotNet)")
    axes[0].set_ylim(0, 110)
    axes[1].set_ylabel("mean |CTE| m")
    for ax, title in zip(axes, ("autonomy (higher is better)", "mean |CTE| (lower is better)"), strict=False):
        ax.set_xticks(x, tracks)
        ax.set_title(title, fontsize=10)
    axes[0].legend(fontsize=8, loc="lower left")
    return _save(fig, path)


def plot_suite(rows: Sequence[str], targets: Sequence[float | None], autonomy: dict[str, Sequence[float]],
               scores: dict[str, float], path: Path) -> Path:
    """The suite: autonomy % per row (one bar per model), target marks, each model's score in the legend."""
    fig, ax = plt.subplots(figsize=(max(8, 0.55 * len(rows) * max(1, len(autonomy)) + 3), 5), dpi=110)
    width = 0.8 / max(1, len(autonomy))
    x = np.arange(len(rows))
    for k, (label, values) in enumerate(autonomy.items()):
        ax.bar(x + (k - (len(autonomy) - 1) / 2) * width, values, width, label=f"{label}: score {scores[label]:.1f}")
    for i, target in enumerate(targets):
        if target is not None:
            ax.hlines(target, i - 0.45, i + 0.45, colors="black", linestyles="--", linewidth=1.2)
    ax.axhline(90, color="0.6", lw=0.8, ls=":")
    ax.set_xticks(x, rows, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("autonomy % (PilotNet)")
    ax.set_ylim(0, 105)
    ax.set_title("suite: autonomy per row (dashed: target; score = mean autonomy over all rows)", fontsize=10)
    ax.legend(fontsize=8, loc="lower left")
    return _save(fig, path)


def _save(fig: plt.Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
