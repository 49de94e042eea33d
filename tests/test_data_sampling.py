"""Camera samples with steering correction, leak-free block splits, steering balancing."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from steering.data import balance, read_logs, samples_from_log, split_by_blocks


def _rows(steering, left=True, right=True, session=0) -> pd.DataFrame:
    n = len(steering)
    return pd.DataFrame({
        "center": [f"/d/IMG/center_{i}.jpg" for i in range(n)],
        "left": [f"/d/IMG/left_{i}.jpg" if left else "" for i in range(n)],
        "right": [f"/d/IMG/right_{i}.jpg" if right else "" for i in range(n)],
        "steering": np.asarray(steering, dtype=np.float64),
        "session": session, "frame": np.arange(n),
    })


def test_center_only_by_default():
    samples = samples_from_log(_rows([0.1, -0.3]))
    assert samples.columns.tolist() == ["path", "steering", "camera", "session", "frame"]
    assert samples["camera"].tolist() == ["center", "center"] and samples["steering"].tolist() == [0.1, -0.3]


def test_side_cameras_get_signed_correction_clipped_to_range():
    samples = samples_from_log(_rows([0.0, 0.9, -0.95]), cameras="all", correction=0.25)
    by_camera = {cam: samples.loc[samples["camera"] == cam, "steering"].tolist() for cam in ("center", "left", "right")}
    assert by_camera["center"] == [0.0, 0.9, -0.95]
    assert by_camera["left"] == pytest.approx([0.25, 1.0, -0.7])  # steer right (+) back to the centre; 1.15 clipped
    assert by_camera["right"] == pytest.approx([-0.25, 0.65, -1.0])  # -1.2 clipped
    assert samples["camera"].tolist()[:3] == ["center", "left", "right"] and samples["frame"].tolist()[:3] == [0, 0, 0]
    assert samples.loc[samples["camera"] == "left", "path"].iloc[1] == "/d/IMG/left_1.jpg"


def test_missing_side_camera_files_yield_no_samples():
    samples = samples_from_log(_rows([0.1, 0.2], right=False), cameras="center,left,right")
    assert samples["camera"].tolist() == ["center", "left", "center", "left"]


def test_unknown_camera_is_rejected_with_choices():
    with pytest.raises(ValueError, match="choose from center, left, right"):
        samples_from_log(_rows([0.0]), cameras="top")


def _samples_of_sessions(lengths: list[int], cameras: int = 1) -> pd.DataFrame:
    parts = [pd.DataFrame({"path": "p", "steering": 0.0, "camera": "center", "session": s, "frame": np.arange(n)})
             for s, n in enumerate(lengths) for _ in range(cameras)]
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_validation_frame_within_the_gap_of_a_training_frame(seed):
    samples = _samples_of_sessions([300, 95, 170], cameras=3)
    gap = 5
    train, val = split_by_blocks(samples, val_fraction=0.25, block_size=20, gap=gap, seed=seed)
    assert len(val) > 0 and len(train) > 0
    for session in samples["session"].unique():
        t = train.loc[train["session"] == session, "frame"].to_numpy()
        v = val.loc[val["session"] == session, "frame"].to_numpy()
        if len(t) and len(v):
            closest = np.abs(t[:, None] - v[None, :]).min()
            assert closest > gap, f"session {session}: train and val frames {closest} apart"
    # All cameras of a frame go to one side; validation blocks are whole blocks of 20 frames.
    train_frames = set(zip(train["session"], train["frame"], strict=True))
    assert not train_frames & set(zip(val["session"], val["frame"], strict=True))
    assert (val.groupby(["session", val["frame"] // 20]).size() % 3 == 0).all()
    assert abs(len(val) / len(samples) - 0.25) < 0.1


def test_split_drops_exactly_the_gap_frames_next_to_one_validation_block():
    samples = _samples_of_sessions([90])  # three blocks of 30
    train, val = split_by_blocks(samples, val_fraction=0.3, block_size=30, gap=4, seed=0)
    assert len(val) == 30
    v0 = val["frame"].min()
    assert val["frame"].tolist() == list(range(v0, v0 + 30))
    expected_train = [f for f in range(90) if f < v0 - 4 or f > v0 + 29 + 4]
    assert train["frame"].tolist() == expected_train


def test_split_is_seeded_and_works_on_the_real_log(windows_log):
    samples = samples_from_log(read_logs(windows_log).rows, cameras="all")
    a_train, a_val = split_by_blocks(samples, seed=3)
    b_train, b_val = split_by_blocks(samples, seed=3)
    assert a_val.equals(b_val) and a_train.equals(b_train)
    assert len(a_val) % 3 == 0 and 0.1 < len(a_val) / len(samples) < 0.35


def test_split_of_a_single_block_explains_itself():
    with pytest.raises(ValueError, match="too few frames to split; lower block_size"):
        split_by_blocks(_samples_of_sessions([10]), block_size=30)


def test_balance_caps_the_overfull_bin_to_an_int_cap():
    steering = [0.0] * 10 + [0.5] * 3 + [-0.5] * 2
    samples = pd.DataFrame({"path": [f"p{i}" for i in range(15)], "steering": steering})
    balanced, report = balance(samples, bins=4, cap=4, seed=0)
    # bins over [-1, 1] of width 0.5: -0.5 -> bin 1, 0.0 -> bin 2, 0.5 -> bin 3
    assert report.counts_before.tolist() == [0, 2, 10, 3]
    assert report.counts_after.tolist() == [0, 2, 4, 3]
    assert (report.total_before, report.total_after, report.cap) == (15, 9, 4)
    assert sorted(balanced["steering"].tolist()) == [-0.5, -0.5, 0.0, 0.0, 0.0, 0.0, 0.5, 0.5, 0.5]
    kept = balanced["path"].tolist()
    assert kept == sorted(kept, key=lambda p: int(p[1:])), "order must be kept"


def test_balance_float_cap_is_a_multiple_of_the_mean_nonempty_bin():
    samples = pd.DataFrame({"path": "p", "steering": [0.0] * 10 + [0.5] * 3 + [-0.5] * 2})
    balanced, report = balance(samples, bins=4, cap=1.0)
    assert report.cap == 5  # ceil(1.0 * 15 / 3)
    assert report.counts_after.tolist() == [0, 2, 5, 3] and len(balanced) == 10


def test_balance_is_seeded_and_none_only_reports(tmp_path):
    samples = pd.DataFrame({"path": [str(i) for i in range(40)], "steering": [0.0] * 30 + [1.0] * 10})
    a, _ = balance(samples, bins=5, cap=10, seed=7)
    b, _ = balance(samples, bins=5, cap=10, seed=7)
    assert a.equals(b) and len(a) == 20
    assert balance(samples, bins=5, cap=10, seed=8)[0]["path"].tolist() != a["path"].tolist()
    same, report = balance(samples, bins=5, cap=None)
    assert len(same) == 40 and report.counts_before.tolist() == [0, 0, 30, 0, 10]  # 1.0 falls in the last bin
    png = report.save_histogram(tmp_path / "hist.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_balance_of_the_real_log_reduces_near_zero_steering(windows_log):
    samples = samples_from_log(read_logs(windows_log).rows)
    balanced, report = balance(samples, bins=25, cap=30)
    # The bin [-0.04, 0.04): the 147 rows with |steering| < 0.01 (58.8%) and two small corrections.
    steering = samples["steering"]
    assert report.counts_before[12] == ((steering >= -0.04) & (steering < 0.04)).sum() == 149
    assert report.counts_before.max() == 149 and sorted(report.counts_before)[-2] == 29  # full right lock
    assert report.counts_after[12] == 30 and report.total_after == 250 - 119
