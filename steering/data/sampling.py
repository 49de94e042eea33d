"""From log rows to training samples: camera choice, steering balance and leak-free splits.

Input is `read_logs(...).rows`; output is a samples table with columns
`path, steering, camera, session, frame` that `SteeringDataset` consumes. Neighbouring frames
(1/15 s apart) are near-identical, so validation is split off in contiguous blocks of frames per
session with a gap of dropped frames between the sides; otherwise validation loss only measures
memorisation of the frame next door.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from steering.udacity import CAMERAS

log = logging.getLogger(__name__)

SAMPLE_COLUMNS = ("path", "steering", "camera", "session", "frame")
# Left camera sees the road as if the car sat further left: steer right (+); right camera: left (-).
_CAMERA_SIGN = {"center": 0.0, "left": 1.0, "right": -1.0}


def samples_from_log(
    rows: pd.DataFrame, cameras: str | Sequence[str] = "center", correction: float = 0.2
) -> pd.DataFrame:
    """One sample per row and camera; side cameras get steering ±`correction`, clipped to [-1, 1].

    `cameras`: "center", "all" (= center,left,right), or a comma-separated / sequence subset.
    A side camera whose file is missing ("" in `rows`) yields no sample for that row.
    Samples are ordered by session, frame, then camera.
    """
    chosen = _parse_cameras(cameras)
    parts = []
    for order, camera in enumerate(chosen):
        present = rows[rows[camera] != ""]
        steering = np.clip(present["steering"].to_numpy(np.float64) + _CAMERA_SIGN[camera] * correction, -1.0, 1.0)
        parts.append(pd.DataFrame({
            "path": present[camera].to_numpy(),
            "steering": steering,
            "camera": camera,
            "session": present["session"].to_numpy(np.int64),
            "frame": present["frame"].to_numpy(np.int64),
            "_order": order,
        }))
    samples = pd.concat(parts, ignore_index=True).sort_values(["session", "frame", "_order"], kind="stable")
    return samples.drop(columns="_order").reset_index(drop=True)


def _parse_cameras(cameras: str | Sequence[str]) -> list[str]:
    if isinstance(cameras, str):
        cameras = CAMERAS if cameras.strip() == "all" else [c.strip() for c in cameras.split(",")]
    unknown = [c for c in cameras if c not in CAMERAS]
    if unknown or not cameras:
        raise ValueError(f"unknown camera(s) {unknown or cameras!r}; choose from {', '.join(CAMERAS)} or 'all'")
    return [c for c in CAMERAS if c in cameras]


def split_by_blocks(
    samples: pd.DataFrame,
    val_fraction: float = 0.2,
    block_size: int = 30,
    gap: int = 5,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split into (train, val) by whole blocks of `block_size` consecutive frames of one session.

    Blocks (2 s at 15 frames/s by default) are drawn at random (seeded) until validation holds about
    `val_fraction` of the samples. Training frames closer than or equal to `gap` frames to a
    validation frame of the same session are dropped, so no validation frame has a training
    neighbour within `gap` frames. All cameras of a frame land on the same side.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if block_size < 1 or gap < 0:
        raise ValueError(f"block_size must be >= 1 and gap >= 0, got block_size={block_size}, gap={gap}")
    if val_fraction == 0.0 or samples.empty:
        return samples.copy(), samples.iloc[0:0].copy()
    keys = np.stack([samples["session"].to_numpy(np.int64), samples["frame"].to_numpy(np.int64) // block_size], axis=1)
    blocks, block_index = np.unique(keys, axis=0, return_inverse=True)  # blocks: (n_blocks, 2) session, block
    block_index = block_index.reshape(-1)
    if len(blocks) < 2:
        raise ValueError(
            f"only one block of {block_size} frames: too few frames to split; lower block_size "
            f"(the log has {samples['frame'].max() + 1} frames)"
        )
    sizes = np.bincount(block_index, minlength=len(blocks))
    target = val_fraction * len(samples)
    rng = np.random.default_rng(seed)
    is_val_block = np.zeros(len(blocks), dtype=bool)
    total = 0
    for b in rng.permutation(len(blocks)):
        if total >= target or is_val_block.sum() == len(blocks) - 1:
            break
        is_val_block[b] = True
        total += sizes[b]
    is_val = is_val_block[block_index]
    keep_train = ~is_val & ~_near_validation(samples, is_val, gap)
    train, val = samples[keep_train].reset_index(drop=True), samples[is_val].reset_index(drop=True)
    log.info("split: %d train, %d val samples in %d/%d blocks; %d train samples dropped as gap",
             len(train), len(val), int(is_val_block.sum()), len(blocks), int((~is_val & ~keep_train).sum()))
    return train, val


def _near_validation(samples: pd.DataFrame, is_val: np.ndarray, gap: int) -> np.ndarray:
    """Mask of samples within `gap` frames of a validation frame of the same session."""
    near = np.zeros(len(samples), dtype=bool)
    if gap == 0:
        return near
    sessions = samples["session"].to_numpy(np.int64)
    frames = samples["frame"].to_numpy(np.int64)
    for session in np.unique(sessions):
        in_session = sessions == session
        val_frames = np.unique(frames[in_session & is_val])
        if len(val_frames) == 0:
            continue
        f = frames[in_session]
        pos = np.searchsorted(val_frames, f)
        after = val_frames[np.minimum(pos, len(val_frames) - 1)]
        before = val_frames[np.maximum(pos - 1, 0)]
        distance = np.minimum(np.abs(after - f), np.abs(f - before))
        near[in_session] = distance <= gap
    return near


@dataclass
class BalanceReport:
    """Steering histogram before and after down-sampling (bins over [-1, 1])."""

    bin_edges: np.ndarray
    counts_before: np.ndarray
    counts_after: np.ndarray
    cap: int | None  # samples allowed per bin; None = no down-sampling

    @property
    def total_before(self) -> int:
        return int(self.counts_before.sum())

    @property
    def total_after(self) -> int:
        return int(self.counts_after.sum())

    def summary(self) -> str:
        fullest = int(np.argmax(self.counts_before))
        lo, hi = self.bin_edges[fullest], self.bin_edges[fullest + 1]
        return (f"balance: {self.total_before} -> {self.total_after} samples (cap {self.cap} per bin); "
                f"fullest bin [{lo:+.2f}, {hi:+.2f}) {self.counts_before[fullest]} -> {self.counts_after[fullest]}")

    def save_histogram(self, path: str | Path) -> Path:
        """PNG of the steering histogram before and after."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        centers = (self.bin_edges[:-1] + self.bin_edges[1:]) / 2
        width = self.bin_edges[1] - self.bin_edges[0]
        fig, ax = plt.subplots(figsize=(7, 3.5))
        ax.bar(centers, self.counts_before, width=width * 0.9, alpha=0.5, label=f"before ({self.total_before})")
        ax.bar(centers, self.counts_after, width=width * 0.6, label=f"after ({self.total_after})")
        if self.cap is not None:
            ax.axhline(self.cap, color="k", lw=0.8, ls="--", label=f"cap {self.cap}")
        ax.set_xlabel("steering (-1 left .. +1 right)")
        ax.set_ylabel("samples")
        ax.legend()
        fig.tight_layout()
        path = Path(path)
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path


def steering_bins(steering: np.ndarray, bins: int) -> np.ndarray:
    """Bin index in [0, bins) of each steering value over [-1, 1] (1.0 falls in the last bin)."""
    index = np.floor((np.asarray(steering, dtype=np.float64) + 1.0) / 2.0 * bins).astype(np.int64)
    return np.clip(index, 0, bins - 1)


def balance(
    samples: pd.DataFrame,
    bins: int = 25,
    cap: int | float | None = 2.0,
    seed: int = 0,
) -> tuple[pd.DataFrame, BalanceReport]:
    """Down-sample steering bins holding more than `cap` samples (seeded random choice, order kept).

    `cap`: an int is the most samples any bin keeps; a float is a multiple of the mean count of
    the non-empty bins (2.0: no bin keeps more than twice the average); None only reports the
    histogram. Near-zero steering dominates real logs (59% of the shared sample), which teaches a
    model to go straight; capping that bin fixes the imbalance without touching rare turns.
    """
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    index = steering_bins(samples["steering"].to_numpy(), bins)
    counts = np.bincount(index, minlength=bins)
    edges = np.linspace(-1.0, 1.0, bins + 1)
    if cap is None:
        return samples.copy(), BalanceReport(edges, counts, counts.copy(), None)
    if isinstance(cap, (int, np.integer)) and not isinstance(cap, bool):
        limit = int(cap)
    else:
        nonempty = counts[counts > 0]
        limit = int(math.ceil(float(cap) * nonempty.mean())) if len(nonempty) else 0
    if limit < 1:
        raise ValueError(f"cap must allow at least one sample per bin, got {cap!r} (= {limit})")
    rng = np.random.default_rng(seed)
    keep = np.ones(len(samples), dtype=bool)
    for b in np.flatnonzero(counts > limit):
        members = np.flatnonzero(index == b)
        dropped = rng.choice(members, size=len(members) - limit, replace=False)
        keep[dropped] = False
    balanced = samples[keep].reset_index(drop=True)
    report = BalanceReport(edges, counts, np.bincount(index[keep], minlength=bins), limit)
    log.info(report.summary())
    return balanced, report
