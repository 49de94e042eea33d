"""`steering.eval robustness`: scores by hand, and a tiny resumable run through the command line."""
from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest

from steering.eval.cli import main as eval_main
from steering.eval.robustness import CLEAN, RobustnessConfig, Run, plan_runs, scores


def test_plan_has_a_clean_lap_and_every_perturbation_severity_per_model_and_track():
    config = RobustnessConfig(tracks=("mountain", "challenge"), perturbations=("night", "pixelate"), severities=(1, 5))
    runs = plan_runs(["a", "b"], config)
    assert len(runs) == 2 * 2 * (1 + 2 * 2)
    assert runs[0] == Run("a", "mountain", CLEAN, 0) and runs[1] == Run("a", "mountain", "night", 1)
    assert runs[1].condition == "night:1" and runs[0].condition == "clean"


def test_scores_clean_corruption_drop_and_corruption_error_by_hand():
    autonomy = {Run("base", "t", CLEAN, 0): 100.0, Run("base", "t", "fog", 1): 90.0, Run("base", "t", "fog", 2): 70.0,
                Run("base", "t", "night", 1): 100.0,
                Run("new", "t", CLEAN, 0): 98.0, Run("new", "t", "fog", 1): 95.0, Run("new", "t", "fog", 2): 85.0,
                Run("new", "t", "night", 1): 60.0}
    reports = {run: SimpleNamespace(autonomy_pct=a) for run, a in autonomy.items()}
    result = scores(list(autonomy), reports, baseline="base")
    assert result["base"]["clean"] == 100.0 and result["base"]["corruption"] == pytest.approx((90 + 70 + 100) / 3)
    assert result["new"]["drop"] == pytest.approx(98 - (95 + 85 + 60) / 3)
    assert result["new"]["ce"]["fog"] == pytest.approx(100 * (5 + 15) / (10 + 30))  # 50 %: half the baseline's error
    assert result["base"]["ce"]["fog"] == pytest.approx(100.0)
    assert math.isnan(result["new"]["ce"]["night"])  # the baseline never failed at night: no ratio
    assert result["new"]["mce"] == pytest.approx(50.0)


def test_corruption_score_is_split_into_what_robust_augmentation_trains_on_and_what_it_holds_out():
    autonomy = {Run("m", "t", CLEAN, 0): 100.0, Run("m", "t", "contrast", 5): 30.0, Run("m", "t", "pixelate", 5): 90.0,
                Run("m", "t", "fog", 5): 100.0, Run("m", "t", "sun_glare", 5): 80.0, Run("m", "t", "spatter", 5): 60.0}
    result = scores(list(autonomy), {run: SimpleNamespace(autonomy_pct=a) for run, a in autonomy.items()}, "m")["m"]
    assert result["corruption_trained_on"] == pytest.approx((30 + 90) / 2)  # contrast, pixelate: --augment robust's
    assert result["corruption_held_out"] == pytest.approx((100 + 80 + 60) / 3)
    assert result["corruption"] == pytest.approx((30 + 90 + 100 + 80 + 60) / 5)


@pytest.mark.slow
def test_robustness_command_writes_the_report_and_resumes(make_checkpoint, tmp_path, capsys):
    model, out = make_checkpoint("pilotnet"), tmp_path / "rob"
    argv = ["robustness", str(model), "--tracks", "lake", "--perturbations", "contrast", "--severities", "5",
            "--laps", "0.02", "--lockstep", "--jobs", "1", "--out", str(out), "--no-progress"]
    assert eval_main(argv) == 0
    saved = json.loads((out / "robustness.json").read_text())
    assert [(r["perturbation"], r["severity"]) for r in saved["runs"]] == [("clean", 0), ("contrast", 5)]
    report = out / "runs" / "model.pt" / "lake" / "contrast-5" / "report.json"
    assert json.loads(report.read_text())["perturb"] == "contrast:5"
    assert (out / "heatmap_model.pt.png").stat().st_size > 1000
    assert "| model.pt |" in (out / "robustness.md").read_text()
    written = report.stat().st_mtime_ns
    assert eval_main(argv) == 0  # everything is there: read back, nothing driven again
    assert report.stat().st_mtime_ns == written


def test_robustness_rejects_an_unknown_perturbation(capsys):
    assert eval_main(["robustness", "a.pt", "--perturbations", "nigth"]) == 2
    assert "did you mean night" in capsys.readouterr().err
