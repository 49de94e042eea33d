"""Failure monitors: the gamma threshold, each monitor's score, the monitor file and the CLI."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from steering.checkpoint import load_model
from steering.inference.ensemble import mirror_width
from steering.monitors import MONITORS, AlarmMonitor, FitContext, ScoreContext, fit_monitor, get_spec
from steering.monitors.cli import main as monitors_main
from steering.monitors.kinds.mc_dropout import MCDropoutScorer
from steering.monitors.threshold import gamma_threshold
from steering.preprocess import preprocess_frame


@pytest.fixture(scope="module")
def real_frames(windows_frames):
    return windows_frames


def context(frame, checkpoint):
    model, pre = load_model(checkpoint)
    x = preprocess_frame(frame, pre)
    with torch.inference_mode():
        return ScoreContext(x, float(model(x.unsqueeze(0))[0]), pre), model


def test_gamma_threshold_is_scipys_quantile_of_scipys_fit_and_near_the_true_one():
    samples = stats.gamma.rvs(2.0, scale=3.0, size=20000, random_state=np.random.default_rng(0))
    fit = gamma_threshold(samples, 0.05)
    shape, loc, scale = stats.gamma.fit(samples, floc=0)
    assert fit.threshold == pytest.approx(stats.gamma.ppf(0.95, shape, loc=0, scale=scale), rel=1e-9)
    true = stats.gamma.ppf(0.95, 2.0, scale=3.0)  # 14.23
    assert true == pytest.approx(14.23, abs=0.01)
    assert fit.threshold == pytest.approx(true, rel=0.03)
    assert (fit.shape, fit.scale) == pytest.approx((2.0, 3.0), rel=0.05)
    assert gamma_threshold(samples, 0.01).threshold > fit.threshold, "fewer false alarms: a higher threshold"


def test_gamma_threshold_takes_zero_scores_and_refuses_bad_ones():
    fit = gamma_threshold([0.0, 1.0, 2.0, 3.0, 1.5, 0.5], 0.05)
    assert 3.0 < fit.threshold < 10.0
    for bad in ([1.0], [0.0, 0.0, 0.0], [1.0, -1.0, 2.0], [1.0, float("nan")]):
        with pytest.raises(ValueError):
            gamma_threshold(bad)
    with pytest.raises(ValueError, match="false_alarm_rate"):
        gamma_threshold([1.0, 2.0], 1.0)


def test_registry_lists_every_monitor_and_suggests_close_names():
    assert {"autoencoder", "mc-dropout", "tta", "ensemble"} <= set(MONITORS)
    with pytest.raises(ValueError, match="did you mean mc-dropout"):
        get_spec("mc_dropout")


def test_mc_dropout_variance_is_zero_with_dropout_off_and_positive_with_it_on(make_checkpoint, real_frames):
    checkpoint = make_checkpoint("pilotnet")
    state = get_spec("mc-dropout").fit(FitContext([], [checkpoint], {"passes": 8}))
    scorer = MCDropoutScorer(state)
    ctx, _ = context(real_frames[0], checkpoint)
    on = scorer.score(real_frames[0], ctx)
    scorer.set_active(False)
    off = scorer.score(real_frames[0], ctx)
    assert off < 1e-12, f"dropout off: 8 equal passes (only the batched matmul's rounding), variance {off}"
    assert on > 1e-6, f"8 dropout masks (p=0.5) must disagree; variance {on}"


def test_mc_dropout_runs_the_backbone_once_per_frame(make_checkpoint, real_frames):
    checkpoint = make_checkpoint("pilotnet")
    scorer = MCDropoutScorer(get_spec("mc-dropout").fit(FitContext([], [checkpoint], {"passes": 16})))
    calls = []
    scorer.model.backbone.register_forward_hook(lambda m, i, o: calls.append(o.shape))
    head_batches = []
    scorer.model.head.register_forward_hook(lambda m, i, o: head_batches.append(o.shape))
    ctx, _ = context(real_frames[0], checkpoint)
    scorer.score(real_frames[0], ctx)
    assert [tuple(s) for s in calls] == [(1, 1152)], "one backbone pass of one frame (PilotNet: 64 x 18 features)"
    assert [tuple(s) for s in head_batches] == [(16, 1)], "16 dropout masks in one head batch"


def test_tta_score_is_the_sum_of_the_frame_and_mirror_steering(make_checkpoint, real_frames):
    checkpoint = make_checkpoint("pilotnet", seed=3)
    scorer = get_spec("tta").build(get_spec("tta").fit(FitContext([], [checkpoint])))
    ctx, model = context(real_frames[5], checkpoint)
    with torch.inference_mode():
        mirrored = float(model(mirror_width(ctx.x).unsqueeze(0))[0])
    assert scorer.score(real_frames[5], ctx) == pytest.approx(abs(ctx.steering + mirrored), abs=1e-6)


def test_ensemble_score_is_the_spread_of_the_checkpoints(make_checkpoint, real_frames):
    a, b = make_checkpoint("pilotnet", seed=1, filename="a.pt"), make_checkpoint("pilotnet", seed=2, filename="b.pt")
    spec = get_spec("ensemble")
    ctx, model_a = context(real_frames[2], a)
    _, model_b = context(real_frames[2], b)
    with torch.inference_mode():
        sa, sb = float(model_a(ctx.x.unsqueeze(0))[0]), float(model_b(ctx.x.unsqueeze(0))[0])
    assert sa != pytest.approx(sb, abs=1e-4), "two seeds should steer differently"
    assert spec.build(spec.fit(FitContext([], [a, b]))).score(real_frames[2], ctx) == pytest.approx(
        abs(sa - sb) / 2, abs=1e-6)  # population std of two values: half their distance
    assert spec.build(spec.fit(FitContext([], [a, a]))).score(real_frames[2], ctx) == 0.0
    with pytest.raises(ValueError, match="at least two"):
        spec.fit(FitContext([], [a]))


def test_autoencoder_reconstructs_its_training_frames_better_than_corrupted_ones(real_frames):
    spec = get_spec("autoencoder")
    state = spec.fit(FitContext(real_frames[:8], (), {"epochs": 80, "batch": 8, "lr": 3e-3}))  # 80 steps, ~10 s
    scorer = spec.build(state)
    pre = scorer.preprocess

    def score(frame):
        return scorer.score(frame, ScoreContext(preprocess_frame(frame, pre), float("nan"), pre))

    nominal = max(score(f) for f in real_frames[:8])
    frame = real_frames[0]
    fog = (0.4 * frame + 0.6 * 255).astype(np.uint8)  # 60 % white haze
    inverted = 255 - frame
    noisy = np.clip(frame + np.random.default_rng(0).normal(0, 60, frame.shape), 0, 255).astype(np.uint8)
    assert score(fog) > 2 * nominal, f"fog {score(fog):.4g} vs training frames up to {nominal:.4g}"
    assert score(inverted) > 2 * nominal, f"inverted {score(inverted):.4g} vs training frames up to {nominal:.4g}"
    # noise is mostly averaged away by the resize to 66x200 before the autoencoder sees it
    assert score(noisy) > nominal, f"noise {score(noisy):.4g} vs training frames up to {nominal:.4g}"


def test_monitor_file_round_trips_with_weights_only(make_checkpoint, real_frames, tmp_path):
    checkpoint = make_checkpoint("pilotnet")
    monitor = fit_monitor("tta", real_frames, [checkpoint], false_alarm_rate=0.1, source="test")
    assert len(monitor.nominal_scores) == len(real_frames), "tta learns nothing: every frame scores the threshold"
    path = monitor.save(tmp_path / "tta.pt")
    torch.load(path, weights_only=True)  # plain values and tensors only
    loaded = AlarmMonitor.load(path)
    assert loaded.threshold == monitor.threshold and loaded.kind == "tta"
    assert loaded.gamma.false_alarm_rate == 0.1
    ctx, _ = context(real_frames[1], checkpoint)
    assert loaded.score(real_frames[1], ctx) == monitor.score(real_frames[1], ctx)
    assert loaded.alarm(loaded.threshold * 1.01) and not loaded.alarm(loaded.threshold * 0.99)
    assert loaded.alarm(float("nan")), "a monitor that cannot tell raises the alarm"


def test_fit_cli_writes_an_autoencoder_file_fitted_on_the_real_recording(windows_log, tmp_path, capsys):
    out = tmp_path / "ae.pt"
    assert monitors_main(["fit", str(windows_log), "--kind", "autoencoder", "--out", str(out),
                          "--frames", "30", "--epochs", "2"]) == 0
    monitor = AlarmMonitor.load(out)
    assert monitor.kind == "autoencoder" and 0 < monitor.threshold < float("inf")
    assert len(monitor.nominal_scores) == 6, "20 % of 30 frames held out for the threshold"
    assert "threshold" in capsys.readouterr().out
    assert monitors_main(["fit", str(windows_log), "--kind", "mc-dropout", "--out", str(out)]) == 2
