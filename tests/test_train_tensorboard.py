"""train.py --tensorboard: event files read back with TensorBoard's EventAccumulator match history.json."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import train as train_cli  # noqa: E402
from steering.data.synthetic import line_frame, write_line_recording  # noqa: E402
from steering.model import default_preprocess  # noqa: E402
from steering.preprocess import crop_resize, preprocess_frame  # noqa: E402
from steering.training.data_setup import bundle_from_logs  # noqa: E402
from steering.training.tensorboard import TrainBoard, draw_steering, grid_indices, to_display  # noqa: E402


def _events(folder: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0, "histograms": 0,
                                                               "tensors": 0})
    accumulator.Reload()
    return accumulator


@pytest.mark.slow
def test_events_hold_history_losses_learning_rates_phases_frames_and_head_histograms(tmp_path):
    pytest.importorskip("tensorboard")
    log = write_line_recording(tmp_path / "rec", count=64, seed=2)
    out, board = tmp_path / "run", tmp_path / "tb"
    argv = [str(log), "--model", "pilotnet", "--pretrained", "none", "--strategy", "two-phase", "--head-epochs", "1",
            "--epochs", "3", "--batch-size", "16", "--block-size", "8", "--patience", "0", "--out", str(out),
            "--tensorboard", str(board), "--no-progress"]
    assert train_cli.main(argv) == 0
    history = json.loads((out / "history.json").read_text())
    events = _events(board)
    scalars = {tag: {e.step: e.value for e in events.Scalars(tag)} for tag in events.Tags()["scalars"]}
    epochs = [h["epoch"] for h in history]
    assert epochs == [1, 2, 3]
    # Event scalars are float32: equal to history.json's float64 to float32 precision.
    assert scalars["loss/train"] == {h["epoch"]: pytest.approx(h["train_loss"], rel=1e-6) for h in history}
    assert scalars["loss/val"] == {h["epoch"]: pytest.approx(h["val_loss"], rel=1e-6) for h in history}
    assert scalars["val/mae"] == {h["epoch"]: pytest.approx(h["val_mae"], rel=1e-6) for h in history}
    assert scalars["speed/images_per_s"] == {h["epoch"]: pytest.approx(h["images_per_s"], rel=1e-6) for h in history}
    for group in ("head", "backbone"):
        assert scalars[f"lr/{group}"] == {h["epoch"]: pytest.approx(h["lr"][group], rel=1e-6) for h in history}
    # two-phase: head only in epoch 1, then the top two stages: two phase entries, more to train in the second.
    assert scalars["phase/index"] == {1: 0.0, 2: 1.0, 3: 1.0}
    trainable = scalars["phase/trainable_params"]
    assert sorted(trainable) == [1, 2] and trainable[2] > trainable[1]
    assert [h["phase"] for h in history] == ["head only", "head + conv5, conv4", "head + conv5, conv4"]

    images = events.Images("val/frames")
    assert [i.step for i in images] == [1, 2, 3]
    config, _ = train_cli.parse_config(argv)
    tiles = min(16, len(bundle_from_logs(config, config.preprocess()).val))
    rows = -(-tiles // 4)
    assert tiles >= 4
    # 66x200 inputs drawn twice as large, 4 a row, 2 px padding around each.
    assert (images[0].width, images[0].height) == (4 * 400 + 5 * 2, rows * 132 + (rows + 1) * 2)
    histograms = events.Tags()["histograms"]
    weights = [t for t in histograms if t.startswith("head/")]
    grads = [t for t in histograms if t.startswith("head_grad/")]
    assert weights and len(grads) == len(weights)
    assert [e.step for e in events.Histograms(grads[0])] == [1, 2, 3]


def test_without_the_package_the_flag_gives_a_clear_message(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails as if not installed
    # The log does not exist: a run that read its logs first would fail with a different message.
    code = train_cli.main([str(tmp_path / "never-read.csv"), "--model", "pilotnet", "--pretrained", "none",
                           "--epochs", "1", "--out", str(tmp_path / "run"), "--tensorboard", str(tmp_path / "tb"),
                           "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert "--tensorboard needs the tensorboard package" in err and "pip install 'steering[tensorboard]'" in err
    assert not (tmp_path / "run" / "history.json").exists(), "it stops before training"


def test_off_by_default_and_a_no_op():
    config, _ = train_cli.parse_config(["a.csv"])
    assert config.tensorboard == ""
    board = TrainBoard(None)
    assert not board.on
    board.epoch({"epoch": 1, "train_loss": 1.0, "val_loss": 1.0})  # nothing written, nothing raised
    board.close()


@pytest.mark.parametrize("model", ["pilotnet", "resnet18"])  # yuv and rgb inputs
def test_frames_are_shown_as_the_model_saw_them(model):
    preprocess = default_preprocess(model)
    frame = line_frame(0.3, seed=5)
    shown = to_display(preprocess_frame(frame, preprocess), preprocess)
    expected = crop_resize(frame, preprocess)
    if preprocess.colorspace == "yuv":
        import cv2

        expected = cv2.cvtColor(expected, cv2.COLOR_YUV2RGB)
    assert shown.shape == expected.shape == (66, 200, 3)
    assert np.abs(shown.astype(int) - expected.astype(int)).max() <= 2  # float32 round trip (+ YUV->RGB rounding)


def test_needles_point_the_way_of_the_steering():
    blank = np.zeros((66, 200, 3), np.uint8)
    drawn = draw_steering(blank, true=1.0, predicted=-1.0)
    assert drawn.shape == (132, 400, 3)
    lower = drawn[60:]  # below the text
    green = (lower[..., 1] > 150) & (lower[..., 0] < 100)
    red = (lower[..., 0] > 150) & (lower[..., 1] < 100)
    # Both start at the bottom centre (x = 200, 2 px wide, anti-aliased): allow 4 px there.
    assert green[:, 200:].sum() > 50 and green[:, :196].sum() == 0, "true +1: right of centre"
    assert red[:, :200].sum() > 50 and red[:, 205:].sum() == 0, "predicted -1: left of centre"


def test_grid_frames_are_fixed_and_spread_over_the_set():
    assert grid_indices(100, 5) == [0, 24, 49, 74, 99]
    assert grid_indices(3, 16) == [0, 1, 2]
