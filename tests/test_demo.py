"""The demo, shortened (fractions of laps, one epoch): the same stages and files as `make demo`."""
from __future__ import annotations

import json

import pytest

from steering.checkpoint import load_checkpoint
from steering.demo import DemoConfig, main
from steering.eval.report import read_report
from steering.eval.suite import SuiteConfig, suite_rows


def test_offline_demo_trains_pilotnet_from_scratch_on_all_cameras_with_robust_augmentation():
    config = DemoConfig().train_config(DemoConfig().out_dir / "data" / "driving_log.csv")
    assert (config.model, config.pretrained) == ("pilotnet", "none"), "ImageNet weights are unreachable offline"
    assert config.strategy == "finetune" and config.backbone_lr == config.lr, "from scratch every layer must learn"
    assert config.cameras == "all" and config.augment == "robust"  # docs/robustness.md: same clean rows, fewer losses


@pytest.mark.slow
def test_short_demo_records_trains_evaluates_and_fails_below_the_required_autonomy(tmp_path, capsys, windows_log):
    out = tmp_path / "demo"
    code = main(["--out", str(out), "--record-laps", "0.3", "--epochs", "1", "--eval-laps", "0.1",
                 "--held-out-laps", "0.05", "--no-progress", "--min-autonomy", "101", "--real", str(windows_log)])
    captured = capsys.readouterr()
    assert code == 3, "no drive reaches 101 % autonomy: the CI gate must fail"
    assert "below the required 101 %" in captured.err and "(lake-15mph-fixed)" in captured.err

    rows = (out / "data" / "driving_log.csv").read_text().splitlines()
    assert len(rows) > 100 and all(r.count("IMG") == 3 for r in rows[:5]), "three cameras per row"
    checkpoint = load_checkpoint(out / "run" / "best.pt")
    assert checkpoint.model_config.name == "pilotnet"
    assert checkpoint.train_config["pretrained"] == "none"

    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["seconds"]) == {"record", "train", "evaluate", "total"}
    assert summary["seconds"]["total"] >= summary["seconds"]["train"] > 0
    rows = [row.name for row in suite_rows(SuiteConfig.demo())]
    assert summary["rows"] == rows and len(rows) == 12, ("lock step on 3 tracks x 2 speeds, the 3 target rows, "
                                                         "the 3 robustness rows")
    assert [r["track"] for r in summary["reports"]] == [name.split("-")[0] for name in rows]
    autonomy = [r["autonomy_pct"] for r in summary["reports"]]
    assert summary["score"] == pytest.approx(sum(autonomy) / 12)
    assert summary["corruption_score"] == pytest.approx(sum(autonomy[9:]) / 3)
    assert [r["perturb"] for r in summary["reports"][9:]] == ["jpeg_compression:5", "spatter:5", "sun_glare:5"]
    assert f"corruption score (mean autonomy under the perturbed rows): {summary['corruption_score']:.1f} %" \
        in captured.out
    lake = read_report(out / "pilotnet_demo" / "lake-15mph-fixed" / "report.json")
    assert lake.laps_requested == 0.1 and lake.distance_m >= 0.1 * 559 * 0.99
    assert (lake.pacing, lake.target_speed_mph) == ("fixed", 15)
    assert lake.checkpoint == str(out / "run" / "best.pt"), "the evaluation drove the checkpoint the demo trained"
    assert read_report(out / "pilotnet_demo" / "lake-30mph-realtime" / "report.json").pacing == "realtime"
    table = (out / "suite.md").read_text()
    assert table in captured.out, "the suite table is printed"
    assert table.count("| pilotnet (demo) |") == 13, "12 suite rows and one real recording"
    [real] = summary["real"]  # the real recording: scored offline and replayed
    assert real["log"] == "self-recorded-windows-paths" and real["frames"] > 200 and real["curve_frames"] > 0
    assert 0.0 <= real["curve_agreement_pct"] <= 100.0 and real["replay_elapsed_s"] > 10
    assert (out / "real" / "real.md").read_text() in table
    assert (out / "suite.png").is_file()
    assert (out / "pilotnet_demo" / "mountain-15mph-fixed" / "trajectory.png").is_file()
