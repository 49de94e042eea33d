"""`python -m steering.eval offline`: models scored on recorded frames against the human's steering."""
from __future__ import annotations

import csv
import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from steering.checkpoint import save_checkpoint
from steering.data.synthetic import SyntheticRow, write_log_file, write_recording
from steering.eval.cli import main
from steering.eval.offline import OfflineConfig, predict_frames, run_offline
from steering.eval.offline_metrics import curve_agreement, errors, mae_by_speed, pearson
from steering.inference.ensemble import load_model
from steering.inference.predictor import InferenceConfig
from steering.model import ModelConfig, create_model, default_preprocess
from steering.preprocess import read_frame
from steering.udacity import LOG_NAME

CONSTANT = 0.1  # what the constant model steers on every frame
# The tiny log: 6 frames 0.1 s apart; the centre frame of row 4 (index 3) is deleted.
STEERING = [0.0, 0.3, 0.3, 0.0, -0.3, 0.0]
SPEED = [10.0, 12.0, 22.0, 22.0, 27.0, 31.0]


def constant_checkpoint(path: Path, value: float = CONSTANT) -> Path:
    """PilotNet whose last layer has zero weights and bias `value`: it steers `value` on any frame."""
    torch.manual_seed(0)
    model = create_model("pilotnet").eval()
    with torch.no_grad():
        model.head[-1].weight.zero_()
        model.head[-1].bias.fill_(value)
    return save_checkpoint(path, model, ModelConfig(name="pilotnet"), default_preprocess("pilotnet"))


@pytest.fixture()
def tiny_log(tmp_path) -> Path:
    folder = tmp_path / "tiny"
    rows = [SyntheticRow(steering=s, speed=v) for s, v in zip(STEERING, SPEED, strict=False)]
    lines = write_recording(folder, rows, period_s=0.1)
    log = write_log_file(folder / LOG_NAME, lines)
    center = Path(lines[3].split(",")[0])
    center.unlink()
    return log


# ---------------------------------------------------------------- the metrics, by hand


def test_errors_against_hand_computed_values():
    label = [0.0, 0.3, 0.3, -0.3, 0.0]
    m = errors([0.1] * 5, label)
    assert m["mse"] == pytest.approx((0.01 + 0.04 + 0.04 + 0.16 + 0.01) / 5)
    assert m["mae"] == pytest.approx((0.1 + 0.2 + 0.2 + 0.4 + 0.1) / 5)
    # mean 0.06: deviations -0.06, 0.24, 0.24, -0.36, -0.06
    assert m["mean_baseline_mse"] == pytest.approx((0.0036 + 0.0576 + 0.0576 + 0.1296 + 0.0036) / 5)
    assert m["mean_baseline_mae"] == pytest.approx((0.06 + 0.24 + 0.24 + 0.36 + 0.06) / 5)
    assert m["zero_mse"] == pytest.approx(0.27 / 5)
    assert m["zero_mae"] == pytest.approx(0.9 / 5)
    assert m["r2"] == pytest.approx(1 - 0.052 / 0.0504)
    assert math.isnan(m["pearson_r"]), "a constant prediction has no correlation"


def test_pearson_of_a_scaled_copy_is_one_and_of_a_mirror_minus_one():
    label = np.array([0.0, 0.2, -0.1, 0.4])
    assert pearson(0.5 * label + 0.1, label) == pytest.approx(1.0)
    assert pearson(-label, label) == pytest.approx(-1.0)


def test_curve_agreement_counts_only_curve_frames_and_a_zero_prediction_disagrees():
    smoothed = [0.05, 0.2, -0.2, 0.3, -0.09]  # the first is straight (|0.05| <= 0.08)
    predicted = [-1.0, 0.1, 0.2, 0.0, -0.01]  # agree: 0.2 and -0.09; disagree: -0.2 (wrong sign), 0.3 (zero)
    result = curve_agreement(predicted, smoothed, threshold=0.08)
    assert (result["frames"], result["agree"]) == (4, 2)
    assert result["agreement_pct"] == pytest.approx(50.0)


def test_error_by_speed_bins_frames_by_their_speed():
    bins = mae_by_speed([0.1, 0.1, 0.1], [0.0, 0.3, 0.1], [3.0, 4.0, 31.0], edges=(0, 5, 30, float("inf")))
    assert [b["count"] for b in bins] == [2, 0, 1]
    assert bins[0]["mae"] == pytest.approx(0.15)
    assert math.isnan(bins[1]["mae"])
    assert bins[2]["mae"] == pytest.approx(0.0)


# ---------------------------------------------------------------- a whole run on a tiny log


def test_constant_model_on_a_tiny_log_scores_as_computed_by_hand(tmp_path, tiny_log):
    model = constant_checkpoint(tmp_path / "constant.pt")
    config = OfflineConfig(out_dir=tmp_path / "off", smooth_s=0.25, progress=False)
    result = run_offline([model], [tiny_log], config)
    (r,) = result.results
    assert (r["model"], r["log"]) == ("constant", "tiny")
    assert (r["rows"], r["scored"], r["missing_frames"], r["unreadable_frames"]) == (6, 5, 1, 0)
    m = r["metrics"]
    # kept labels [0, .3, .3, -.3, 0] at 0, .1, .2, .4, .5 s; the constant 0.1 against them:
    assert m["raw"]["mse"] == pytest.approx(0.052, abs=1e-6)
    assert m["raw"]["zero_mse"] == pytest.approx(0.054, abs=1e-9)
    # smoothed over 0.25 s (a frame and its neighbours within 0.125 s): .15, .2, .3, -.15, -.15
    assert m["smoothed"]["mse"] == pytest.approx((0.05**2 + 0.1**2 + 0.2**2 + 0.25**2 + 0.25**2) / 5, abs=1e-6)
    assert m["smoothed"]["zero_mae"] == pytest.approx((0.15 + 0.2 + 0.3 + 0.15 + 0.15) / 5, abs=1e-9)
    assert (m["curve"]["frames"], m["curve"]["agree"]) == (5, 3)
    # rows: true left, straight, right; columns: predicted. Everything is predicted right (0.1 > 0.05).
    assert m["confusion"]["matrix"] == [[0, 0, 2], [0, 0, 0], [0, 0, 3]]
    speed = {(b["low"], b["high"]): b for b in m["by_speed"]}
    assert speed[(10.0, 15.0)]["count"] == 2 and speed[(10.0, 15.0)]["mae"] == pytest.approx(0.075, abs=1e-6)
    assert speed[(30.0, math.inf)]["count"] == 1 and speed[(30.0, math.inf)]["mae"] == pytest.approx(0.25, abs=1e-6)

    stored = json.loads(result.files["json"].read_text())["results"][0]
    assert stored["metrics"]["smoothed"]["pearson_r"] is None, "NaN is written as null"
    assert stored["metrics"]["curve"]["agreement_pct"] == pytest.approx(60.0)
    table = result.files["table"].read_text()
    assert "| constant | 60.0 % of 5 (r -, R² " in table
    with open(r["files"]["predictions"]) as handle:
        predictions = list(csv.DictReader(handle))
    assert [int(p["line"]) for p in predictions] == [1, 2, 3, 5, 6]
    assert [float(p["steering_smoothed"]) for p in predictions] == pytest.approx([0.15, 0.2, 0.3, -0.15, -0.15])
    import matplotlib.image

    assert matplotlib.image.imread(r["files"]["over_time"]).shape[:2] == (650, 1400)
    assert matplotlib.image.imread(r["files"]["scatter"]).shape[:2] == (600, 600)


@pytest.mark.parametrize("backend", ["torch", "openvino"])  # batches, and a runtime built for batch 1
def test_batched_prediction_equals_drive_py_frame_by_frame(make_checkpoint, tiny_log, backend):
    first, second = make_checkpoint(seed=0, filename="a.pt"), make_checkpoint(seed=1, filename="b.pt")
    model = load_model([first, second], InferenceConfig(backend=backend, tta="flip"))
    paths = sorted(str(p) for p in (tiny_log.parent / "IMG").glob("center_*.jpg"))
    predicted, readable = predict_frames(model, paths, batch_size=3)
    one_by_one = [model.predict(read_frame(p)) for p in paths]
    assert readable.all()
    np.testing.assert_allclose(predicted, one_by_one, atol=1e-5)
    assert np.ptp(predicted) > 0, "two random PilotNets steer differently on different frames"


def test_cli_scores_models_and_logs_given_in_any_order(tmp_path, tiny_log, capsys):
    model = constant_checkpoint(tmp_path / "constant.pt")
    code = main(["offline", str(tiny_log.parent), str(model), "--out", str(tmp_path / "off"), "--smooth-s", "0.25",
                 "--no-plots", "--no-progress"])
    assert code == 0
    out = capsys.readouterr().out
    assert "| constant | tiny | 5 (1, 0) |" in out
    assert (tmp_path / "off" / "constant__tiny.csv").is_file()
    assert not (tmp_path / "off" / "constant__tiny.png").exists()


def test_cli_without_a_log_says_what_is_missing(tmp_path, capsys):
    model = constant_checkpoint(tmp_path / "constant.pt")
    assert main(["offline", str(model), "--out", str(tmp_path / "off")]) == 2
    assert "1 model(s) and 0 log(s)" in capsys.readouterr().err


# ---------------------------------------------------------------- the real recordings in ../shared


def _csv_labels(log: Path) -> tuple[list[float], list[float]]:
    """(steering, seconds since the first frame) straight from the CSV text and the frame names."""
    steering, times = [], []
    for row in csv.reader(log.read_text().splitlines()):
        steering.append(float(row[3]))
        stamp = row[0].replace("\\", "/").rsplit("/", 1)[-1][len("center_"):-len(".jpg")]
        times.append(dt.datetime.strptime(stamp, "%Y_%m_%d_%H_%M_%S_%f").timestamp())
    return steering, [t - times[0] for t in times]


def test_macos_log_scores_the_98_centre_frames_that_exist(tmp_path, real_data):
    model = constant_checkpoint(tmp_path / "zero.pt", value=0.0)
    log = real_data / "macos-paths-missing-images" / LOG_NAME
    (r,) = run_offline([model], [log], OfflineConfig(out_dir=tmp_path / "off", plots=False, progress=False)).results
    assert (r["rows"], r["scored"], r["missing_frames"]) == (150, 98, 52)
    steering, _ = _csv_labels(log)
    kept = [s for row, s in zip(log.read_text().splitlines(), steering, strict=False)
            if (log.parent / "IMG" / row.split(",")[0].rsplit("/", 1)[-1]).is_file()]
    assert r["metrics"]["raw"]["zero_mse"] == pytest.approx(sum(s * s for s in kept) / 98)
    # the zero model is the zero baseline
    assert r["metrics"]["raw"]["mse"] == pytest.approx(r["metrics"]["raw"]["zero_mse"])


@pytest.mark.slow
def test_every_lake_centre_frame_is_scored_and_the_baselines_match_the_csv(tmp_path, real_data):
    model = constant_checkpoint(tmp_path / "zero.pt", value=0.0)
    log = real_data / "lake-two-laps-mouse" / LOG_NAME
    config = OfflineConfig(out_dir=tmp_path / "off", plots=False, progress=False, batch_size=256,
                           inference=InferenceConfig(backend="torch"))  # torch takes whole batches
    (r,) = run_offline([model], [log], config).results
    assert (r["rows"], r["scored"], r["missing_frames"], r["unreadable_frames"]) == (1972, 1972, 0, 0)
    steering, times = _csv_labels(log)
    assert r["metrics"]["raw"]["zero_mse"] == pytest.approx(sum(s * s for s in steering) / 1972)
    assert r["metrics"]["raw"]["zero_mae"] == pytest.approx(sum(abs(s) for s in steering) / 1972)
    # the 1 s centred mean, by brute force over the frame-name times (one session: no pause over 1 s)
    smoothed = [np.mean([s for s, u in zip(steering, times, strict=False) if abs(u - t) <= 0.5 + 1e-9]) for t in times]
    assert r["metrics"]["smoothed"]["zero_mse"] == pytest.approx(float(np.mean(np.square(smoothed))))
    curve = sum(abs(s) > 0.08 for s in smoothed)
    assert r["metrics"]["curve"]["frames"] == curve
    assert r["metrics"]["curve"]["agree"] == 0, "a prediction of exactly 0 agrees with no curve"
