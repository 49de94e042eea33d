"""The `saliency` monitor (ThirdEye): distance of a frame's VisualBackProp map from the nominal mean map."""
from __future__ import annotations

import pytest
import torch

from steering.checkpoint import load_model
from steering.explain import visual_backprop
from steering.monitors import MONITORS, AlarmMonitor, ScoreContext
from steering.monitors.cli import main as monitors_main
from steering.monitors.kinds.saliency import GRID, map_distance
from steering.preprocess import preprocess_frame


@pytest.fixture(scope="module")
def real_frames(windows_frames):
    return windows_frames[:20]


def _hand_map(model, x):
    """VBP at input resolution, 16x48 cell means, scaled to max 1."""
    vbp = visual_backprop(model, x.unsqueeze(0))[0]  # (H, W)
    pooled = torch.nn.functional.adaptive_avg_pool2d(vbp.reshape(1, 1, *vbp.shape), GRID)[0, 0]
    return pooled / pooled.max()


def test_a_map_equal_to_the_nominal_mean_scores_zero_and_a_shifted_one_scores_its_moved_mass():
    nominal = torch.zeros(GRID)
    nominal[8:12, 20:28] = 1.0  # attention on a 4x8 patch of road
    shifted = torch.zeros(GRID)
    shifted[8:12, 30:38] = 1.0  # the same patch 10 cells to the right: 64 cells differ by 1
    half = nominal * 0.5  # same place, half as bright: 32 cells differ by 0.5
    scores = map_distance(torch.stack([nominal, shifted, half]), nominal)
    cells = GRID[0] * GRID[1]
    assert scores.tolist() == pytest.approx([0.0, 64 / cells, 16 / cells])


def test_saliency_fits_saves_loads_and_scores_a_frame_as_computed_by_hand(make_checkpoint, windows_log, tmp_path,
                                                                           real_frames, capsys):
    checkpoint = make_checkpoint("pilotnet", seed=2)
    out = tmp_path / "sal.pt"
    assert monitors_main(["fit", str(windows_log), "--kind", "saliency", "--model", str(checkpoint),
                          "--out", str(out), "--frames", "20"]) == 0
    assert "saliency, threshold" in capsys.readouterr().out
    torch.load(out, weights_only=True)  # plain values and tensors only
    monitor = AlarmMonitor.load(out)
    assert monitor.kind == "saliency" and 0 < monitor.threshold < float("inf")
    assert len(monitor.nominal_scores) == 4, "20 % of 20 frames held out for the threshold"
    nominal = monitor.state["nominal_map"]
    assert nominal.shape == GRID and 0 < float(nominal.max()) <= 1.0

    model, pre = load_model(checkpoint)
    frame = real_frames[7]
    x = preprocess_frame(frame, pre)
    pooled = _hand_map(model, x)
    expected = float((pooled - nominal).abs().mean())
    ctx = ScoreContext(x, 0.0, pre)
    assert monitor.score(frame, ctx) == pytest.approx(expected, rel=1e-5)
    assert AlarmMonitor.load(out).score(frame, ctx) == monitor.score(frame, ctx), "loads and scores the same"

    # the nominal map replaced by this frame's own map: it scores 0, another frame what it departs by
    own = AlarmMonitor("saliency", {**monitor.state, "nominal_map": pooled}, monitor.threshold)
    assert own.score(frame, ctx) == pytest.approx(0.0, abs=1e-6)
    other = real_frames[15]
    other_x = preprocess_frame(other, pre)
    departs = float((_hand_map(model, other_x) - pooled).abs().mean())
    assert departs > 0.01 and own.score(other, ScoreContext(other_x, 0.0, pre)) == pytest.approx(departs, rel=1e-5)


def test_list_shows_the_saliency_monitor(capsys):
    assert "saliency" in MONITORS
    assert monitors_main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("saliency") and "VisualBackProp" in line for line in lines)
