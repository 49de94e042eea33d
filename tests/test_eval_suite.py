"""The evaluation suite: its fixed rows, one table with every row and a score per model, and the files."""
from __future__ import annotations

import json
import math

import pytest

from steering.eval import suite as suite_module
from steering.eval.cli import main as eval_main
from steering.eval.config import EvalConfig
from steering.eval.offline import OfflineConfig, run_offline
from steering.eval.report import EvalReport, read_report
from steering.eval.suite import (
    CHALLENGE_TRACK,
    ROBUSTNESS_ROWS,
    SuiteConfig,
    row_eval_config,
    suite_rows,
    suite_score,
    write_suite,
)
from steering.perturb import HELD_OUT, TRAINING, Condition, PerturbPlan
from steering.perturb.splits import RENDERED
from steering.replay.command import ReplayOptions, replay_models
from steering.replay.loop import ReplayConfig
from steering.sim.__main__ import _parser as sim_parser
from steering.sim.tracks import get_track


def _report(label: str, track: str, autonomy: float, pacing: str = "fixed") -> EvalReport:
    return EvalReport(model=label, track=track, laps_requested=1, laps_completed=1, autonomy_pct=autonomy,
                      interventions=0 if autonomy == 100 else 1, interventions_off_road=0, interventions_no_progress=0,
                      elapsed_s=60.0, distance_m=500.0, mean_abs_cte_m=0.2, max_abs_cte_m=1.0, mean_speed_mph=15.0,
                      steering_smoothness=0.01, steps=900, frames_per_s=50.0, wall_s=18.0, penalty_s=6.0,
                      road_half_width_m=4.5, stop_reason="laps", pacing=pacing, control_hz=15.0,
                      round_trip_p50_ms=8.0, round_trip_p99_ms=20.0, machine="Test CPU, 2 cores")


def test_the_full_suite_has_every_track_speed_and_pacing_then_the_target_rows_then_the_robustness_rows():
    rows = suite_rows(SuiteConfig())
    c = CHALLENGE_TRACK
    assert [r.name for r in rows] == [
        "lake-15mph-fixed", "lake-15mph-realtime", "lake-25mph-fixed", "lake-25mph-realtime",
        "mountain-15mph-fixed", "mountain-15mph-realtime", "mountain-25mph-fixed", "mountain-25mph-realtime",
        f"{c}-15mph-fixed", f"{c}-15mph-realtime", f"{c}-25mph-fixed", f"{c}-25mph-realtime",
        "mountain-20mph-realtime", f"{c}-20mph-realtime", "lake-30mph-realtime",
        "mountain-20mph-realtime-jpeg_compression-5", "mountain-20mph-realtime-spatter-5",
        "mountain-20mph-realtime-sun_glare-5"]
    assert [r.laps for r in rows] == [3.0] * 4 + [1.0] * 8 + [1.0, 1.0, 3.0] + [1.0] * 3
    assert [r.target_pct for r in rows[12:15]] == [98.0, 98.0, 100.0]
    assert all(r.target_pct is None for r in rows[:12] + rows[15:])
    assert [r.role for r in rows[::4]] == ["training", "held-out", "challenge", "held-out", "held-out"]
    assert all(r.perturb == "" for r in rows[:15])
    quick = suite_rows(SuiteConfig.quick())
    assert [(r.track, r.pacing) for r in quick] == [(t, p) for t in ("lake", "mountain", c)
                                                    for p in ("fixed", "realtime")]
    with pytest.raises(ValueError, match="differ"):
        suite_rows(SuiteConfig(speeds_mph=(20,), targets=(("held-out", 20, "realtime", 98.0),)))
    # a track file names its rows by its stem: one folder per row, no path separators in the name
    files = suite_rows(SuiteConfig.quick(held_out_track="tracks/hills.json"))
    assert [r.name for r in files if r.role == "held-out"] == ["hills-15mph-fixed", "hills-15mph-realtime"]


def test_one_table_lists_every_row_of_every_model_and_its_mean_autonomy_score(tmp_path):
    rows = suite_rows(SuiteConfig())
    good = [_report("good.pt", r.track, 100.0, r.pacing) for r in rows]
    weak = [_report("weak.pt", r.track, 100.0 if i % 3 else 70.0, r.pacing) for i, r in enumerate(rows)]
    assert suite_score(weak) == pytest.approx((12 * 100 + 6 * 70) / 18)  # rows 0, 3, 6, 9, 12, 15 at 70 %
    result = write_suite(rows, {"good.pt": good, "weak.pt": weak}, tmp_path)
    lines = result.table.splitlines()
    assert "Suite score = mean autonomy % over all 18 rows" in lines[0] and "Test CPU, 2 cores" in lines[0]
    body = [line for line in lines if line.startswith("| good.pt |") or line.startswith("| weak.pt |")]
    assert len(body) == 2 * 18
    for label in ("good.pt", "weak.pt"):
        mine = [line for line in body if line.startswith(f"| {label} |")]
        assert [line.split(" | ")[2] for line in mine] == [r.track for r in rows], "every row, in order"
    assert f"| **weak.pt** | **score** (mean of 18 rows) | | | | | **{(1200 + 420) / 18:.1f}** |" in result.table
    assert "| **good.pt** | **score** (mean of 18 rows) | | | | | **100.0** |" in result.table
    # Row 15, the first robustness row, names its conditions; no target
    assert "| weak.pt | held-out under jpeg_compression:5 | mountain | 1 | 20 | real time | 70.0 |  |" in result.table
    # Row 12 is the held-out target row (98 %): the weak model misses it, the good one meets it.
    assert "| weak.pt | held-out | mountain | 1 | 20 | real time | 70.0 | MISSED (>= 98) |" in result.table
    assert "| good.pt | held-out | mountain | 1 | 20 | real time | 100.0 | met (>= 98) |" in result.table
    saved = json.loads((tmp_path / "suite.json").read_text())
    assert saved["scores"] == pytest.approx({"good.pt": 100.0, "weak.pt": 90.0})
    # corruption score: the robustness rows 15-17 only (weak: 70, 100, 100)
    assert result.corruption_scores == pytest.approx({"good.pt": 100.0, "weak.pt": 90.0})
    assert saved["corruption_scores"] == pytest.approx({"good.pt": 100.0, "weak.pt": 90.0})
    assert "| **weak.pt** | **corruption score** (mean of the 3 perturbed rows) | | | | | **90.0** |" in result.table
    clean = write_suite(rows[:15], {"weak.pt": weak[:15]}, tmp_path / "clean")
    assert clean.corruption_scores == {} and "corruption score" not in clean.table
    assert saved["targets_met"]["weak.pt"] == {"mountain-20mph-realtime": False, "lake-30mph-realtime": True,
                                               f"{CHALLENGE_TRACK}-20mph-realtime": True}
    assert [EvalReport.from_dict(r) for r in saved["reports"]["weak.pt"]] == weak
    assert (tmp_path / "suite.md").read_text() == result.table
    assert (tmp_path / "suite.png").stat().st_size > 10_000


def test_quick_suite_from_the_cli_drives_every_row_and_writes_a_report_for_each(make_checkpoint, tmp_path, capsys):
    model = make_checkpoint("pilotnet")
    out = tmp_path / "suite"
    assert eval_main(["suite", str(model), "--quick", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    saved = json.loads((out / "suite.json").read_text())
    rows = suite_rows(SuiteConfig.quick())
    assert [r["name"] for r in saved["rows"]] == [r.name for r in rows]
    reports = [read_report(out / "model.pt" / row.name / "report.json") for row in rows]
    for row, report in zip(rows, reports, strict=False):
        assert (report.track, report.pacing, report.target_speed_mph) == (row.track, row.pacing, row.speed_mph)
        assert report.laps_requested == row.laps
        if report.stop_reason == "laps":
            assert report.distance_m >= row.laps * get_track(row.track).length_m
        if row.pacing == "fixed":
            assert report.control_hz == pytest.approx(15.0)
        else:
            assert report.round_trip_p50_ms is not None and report.machine
    score = sum(r.autonomy_pct for r in reports) / len(reports)
    assert saved["scores"]["model.pt"] == pytest.approx(score)
    assert (out / "suite.md").read_text() in printed
    assert f"model.pt {score:.1f}" in printed
    assert not math.isnan(score)


def test_the_simulator_cli_offers_the_same_suite_command():
    args = sim_parser().parse_args(["suite", "a.pt", "b.pt", "--quick", "--realtime-only", "--out", "x"])
    assert (args.command, [str(m) for m in args.models], args.rows, args.realtime_only) == (
        "suite", ["a.pt", "b.pt"], "quick", True)
    assert sim_parser().parse_args(["suite", "a.pt", "--rows", "demo"]).rows == "demo"


def test_leaving_the_challenge_tracks_narrow_section_is_an_intervention():
    """3.2 m right of centre is on the 7 m road but off the 6 m section (455-530 m) of the challenge track."""
    from steering.eval.scoring import InterventionDetector
    from steering.sim.world import StepInfo

    track = get_track("challenge")
    assert track.half_width_m == 3.5 and track.half_width_at(490.0) == 3.0

    def at(progress_m: float, cte_m: float, step: int) -> StepInfo:
        return StepInfo(time_s=step / 15, x=0.0, y=0.0, heading=0.0, speed_mph=15.0, steering=0.0, throttle=0.3,
                        brake=0.0, cte_m=cte_m, progress_m=progress_m, distance_along_m=progress_m, laps_completed=0,
                        off_road=False)

    detector = InterventionDetector(track.half_width_m, half_width_at=track.half_width_at)
    assert detector.run(0, at(300.0, 3.2, 0)) is None, "3.2 m is on the 7 m road"
    assert detector.run(1, at(300.5, 0.0, 1)) is None
    taken = detector.run(2, at(490.0, 3.2, 2))
    assert taken is not None and taken.reason == "off_road", "3.2 m is off the 6 m road"
    assert InterventionDetector(track.half_width_m).run(0, at(490.0, 3.2, 0)) is None, "a fixed width misses it"


def test_robustness_rows_drive_the_held_out_track_at_20_mph_real_time_under_trained_and_held_out_perturbations():
    rows = [r for r in suite_rows(SuiteConfig()) if r.perturb]
    assert [(r.role, r.track, r.laps, r.speed_mph, r.pacing, r.target_pct) for r in rows] == [
        ("held-out", "mountain", 1.0, 20, "realtime", None)] * 3
    plans = [PerturbPlan.parse(r.perturb).conditions for r in rows]
    assert plans == [(Condition("jpeg_compression", 5),), (Condition("spatter", 5),), (Condition("sun_glare", 5),)]
    names = [c[0].name for c in plans]
    assert all(c[0].severity == 5 for c in plans)
    assert names[0] in TRAINING and names[1] in HELD_OUT and names[2] in HELD_OUT
    assert names[1] not in RENDERED and names[2] in RENDERED  # held out: one in image space, one rendered
    # --no-robustness and the quick rows have none; the demo's 9 clean rows are followed by the same three
    for config in (SuiteConfig(robustness=()), SuiteConfig.quick()):
        assert not [r for r in suite_rows(config) if r.perturb]
    demo = suite_rows(SuiteConfig.demo())
    assert len(demo) == 12 and demo[9:] == rows and not [r for r in demo[:9] if r.perturb]
    assert suite_rows(SuiteConfig(robustness=())) == suite_rows(SuiteConfig())[:15]


def test_a_robustness_row_hands_its_perturbation_to_the_evaluation_after_the_suites_own(tmp_path):
    config = SuiteConfig(out_dir=tmp_path, base=EvalConfig(progress=False, perturb=PerturbPlan.parse("rain:2")))
    rows = suite_rows(config)
    glare = next(r for r in rows if r.perturb == "sun_glare:5")
    evaluation = row_eval_config(config, glare, "a.pt")
    assert evaluation.perturb.conditions == (Condition("rain", 2), Condition("sun_glare", 5))
    assert (evaluation.track, evaluation.laps, evaluation.speed_mph, evaluation.pacing) == ("mountain", 1.0, 20,
                                                                                            "realtime")
    assert evaluation.out_dir == tmp_path / "a.pt" / "mountain-20mph-realtime-sun_glare-5"
    clean = row_eval_config(SuiteConfig(out_dir=tmp_path), rows[0], "a.pt")
    assert not clean.perturb and clean.out_dir == tmp_path / "a.pt" / "lake-15mph-fixed"


def test_the_suite_cli_can_leave_the_robustness_rows_out(monkeypatch, tmp_path):
    seen = []

    def no_driving(models, config, labels=None):  # records the rows the command asked for
        seen.append(suite_rows(config))
        raise ValueError("not driven in this test")

    monkeypatch.setattr(suite_module, "run_suite", no_driving)
    assert eval_main(["suite", "a.pt", "--out", str(tmp_path), "--no-robustness"]) == 1
    assert eval_main(["suite", "a.pt", "--out", str(tmp_path)]) == 1
    without, with_them = seen
    assert len(without) == 15 and [r.perturb for r in with_them[15:]] == [p for *_, p in ROBUSTNESS_ROWS]
    assert with_them[:15] == without


def test_suite_with_real_recordings_adds_each_models_offline_figures_and_replay_autonomy(make_checkpoint, windows_log,
                                                                                           tmp_path, capsys):
    model = make_checkpoint("pilotnet")
    out = tmp_path / "suite"
    assert eval_main(["suite", str(model), "--quick", "--out", str(out), "--no-progress",
                      "--real", str(windows_log.parent)]) == 0
    printed = capsys.readouterr().out
    saved = json.loads((out / "suite.json").read_text())
    [row] = saved["real"]
    # the same figures as the offline and replay commands give on their own
    offline = run_offline([model], [windows_log], OfflineConfig(out_dir=tmp_path / "off", plots=False,
                                                                progress=False)).results[0]["metrics"]
    replayed = next(iter(replay_models([str(model)], [windows_log], ReplayOptions(
        out_dir=tmp_path / "rep", loop=ReplayConfig(progress=False))).runs.values()))
    assert row["log"] == "self-recorded-windows-paths" and row["frames"] == offline["frames"] > 200
    assert row["curve_agreement_pct"] == pytest.approx(offline["curve"]["agreement_pct"])
    assert row["curve_frames"] == offline["curve"]["frames"] > 0
    assert row["r2"] == pytest.approx(offline["smoothed"]["r2"])
    assert row["replay_autonomy_pct"] == pytest.approx(replayed.autonomy)
    assert row["replay_interventions"] == len(replayed.interventions)
    line = (f"| model.pt | self-recorded-windows-paths | {row['frames']} | {row['curve_agreement_pct']:.1f} "
            f"({row['curve_frames']}) |")
    assert line in (out / "suite.md").read_text() and line in printed
    assert (out / "real" / "real.md").is_file() and (out / "real" / "offline" / "offline.json").is_file()


def test_every_closed_loop_command_scores_on_the_camera_rig_asked_for(monkeypatch, tmp_path):
    """A model trained on `--camera unity` recordings is driven on frames of that rig, not the default one."""
    import importlib

    from steering.eval import cli as eval_cli_module

    evaluate_module = importlib.import_module("steering.eval.evaluate")  # steering.eval.evaluate is also a function
    from steering.eval import robustness_cli
    from steering.eval.evaluate import drive_locally
    from steering.sim.render import CameraConfig

    seen: list[object] = []

    def keep_suite(models, config, labels=None):
        seen.append(config.base.camera)
        raise ValueError("not driven in this test")

    def keep_evaluate(checkpoint, config=None, observers=()):
        seen.append(config.camera)
        raise ValueError("not driven in this test")

    def keep_robustness(models, config, *args, **kwargs):
        seen.append(config.base.camera)
        raise ValueError("not driven in this test")

    monkeypatch.setattr(suite_module, "run_suite", keep_suite)
    monkeypatch.setattr(eval_cli_module, "evaluate", keep_evaluate)
    monkeypatch.setattr(robustness_cli, "run_robustness", keep_robustness)
    model = tmp_path / "a.pt"
    model.write_bytes(b"")  # never loaded: the drives are replaced
    eval_main(["suite", str(model), "--out", str(tmp_path), "--camera", "unity"])
    eval_main(["evaluate", str(model), "--camera", "unity"])
    eval_main(["robustness", str(model), "--out", str(tmp_path), "--camera", "unity"])
    eval_main(["evaluate", str(model)])
    assert seen == ["unity", "unity", "unity", "default"]

    rigs = []
    real_world = evaluate_module.World

    def world_keeping_its_rig(config):
        rigs.append(config.camera)
        return real_world(config)

    monkeypatch.setattr(evaluate_module, "World", world_keeping_its_rig)
    drive_locally(lambda world: (0.0, 0.3), EvalConfig(track="oval", laps=0.01, camera="unity", progress=False))
    assert rigs == [CameraConfig.unity()] and CameraConfig.unity() != CameraConfig()
