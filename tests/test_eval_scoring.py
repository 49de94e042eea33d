"""Scoring rules of the evaluator, checked against hand-computed cases and planted trajectories (no socket)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from steering.eval import EvalConfig, InterventionConfig, autonomy_percent, drive_locally
from steering.eval.report import EvalReport, markdown_table, read_report
from steering.eval.scoring import detect_interventions, steering_smoothness
from steering.sim.expert import Expert, ExpertConfig
from steering.sim.tracks import get_track
from steering.sim.world import SIM_DT, StepInfo

HALF_WIDTH = 4.5  # lake and oval: a 9 m road


def _step(i: int, cte: float, distance: float) -> StepInfo:
    """A planted sample: time i*dt, the given CTE and distance along the track."""
    return StepInfo(time_s=(i + 1) * SIM_DT, x=float(i), y=cte, heading=0.0, speed_mph=10.0, steering=0.0, throttle=0.3,
                    brake=0.0, cte_m=cte, progress_m=distance, distance_along_m=distance, laps_completed=0,
                    off_road=abs(cte) > HALF_WIDTH)


def test_autonomy_matches_the_pilotnet_paper_example():
    # The paper: 10 interventions in 600 s -> (1 - 10 * 6 / 600) * 100 = 90 %.
    assert autonomy_percent(10, 600.0) == pytest.approx(90.0)
    assert autonomy_percent(0, 12.5) == pytest.approx(100.0)
    # 3 interventions in 120 s with a 5 s penalty: 1 - 15/120 = 0.875.
    assert autonomy_percent(3, 120.0, penalty_s=5.0) == pytest.approx(87.5)


def test_autonomy_is_floored_at_zero_and_rejects_a_drive_without_time():
    assert autonomy_percent(30, 60.0) == 0.0  # 180 s of penalty in a 60 s drive
    with pytest.raises(ValueError, match="positive elapsed time"):
        autonomy_percent(1, 0.0)


def test_steering_smoothness_is_the_mean_absolute_change():
    # |0.1-0| + |-0.1-0.1| + |-0.1+0.1| = 0.1 + 0.2 + 0 -> mean 0.1
    assert steering_smoothness([0.0, 0.1, -0.1, -0.1]) == pytest.approx(0.1)
    assert steering_smoothness([0.3]) == 0.0


def test_each_excursion_off_the_road_counts_once():
    # On the road, off from step 20 to 29, back, off again from 60 to 64; always making progress.
    ctes = [0.5] * 100
    for i in list(range(20, 30)) + list(range(60, 65)):
        ctes[i] = 4.6 if i < 40 else -5.0
    steps = [_step(i, c, distance=0.5 * i) for i, c in enumerate(ctes)]
    found = detect_interventions(steps, HALF_WIDTH)
    assert [(iv.step, iv.reason) for iv in found] == [(20, "off_road"), (60, "off_road")]
    assert found[0].cte_m == pytest.approx(4.6) and found[1].cte_m == pytest.approx(-5.0)
    assert found[0].time_s == pytest.approx(21 * SIM_DT)


def test_cte_exactly_at_the_road_edge_is_still_on_the_road():
    steps = [_step(i, HALF_WIDTH if i == 5 else 0.0, distance=float(i)) for i in range(10)]
    assert detect_interventions(steps, HALF_WIDTH) == []


def test_a_car_that_stops_making_progress_is_taken_over_after_the_stall_time():
    # Progress 0.5 m per step up to step 9 (distance 4.5 m), then the car stands still.
    steps = [_step(i, 0.0, distance=0.5 * min(i, 9)) for i in range(200)]
    found = detect_interventions(steps, HALF_WIDTH, InterventionConfig(stall_s=4.0, min_progress_m=1.0))
    # The last new ground (>= 1 m beyond the best so far) is 4.0 m at step 8 (t = 9 dt); 4 s later is
    # t = 9 dt + 60 dt, i.e. step 68; then the clock restarts: step 128, step 188.
    assert [iv.step for iv in found] == [68, 128, 188]
    assert {iv.reason for iv in found} == {"no_progress"}


def test_driving_backwards_is_no_progress():
    steps = [_step(i, 0.0, distance=10.0 - 0.3 * i) for i in range(100)]
    found = detect_interventions(steps, HALF_WIDTH, InterventionConfig(stall_s=2.0))
    assert found and found[0].reason == "no_progress"
    assert found[0].step == 30  # t = 31 dt is 2 s after the first sample at t = dt


def test_expert_drives_the_oval_with_full_autonomy_and_a_consistent_report(tmp_path):
    expert = Expert(ExpertConfig(recoveries=False))
    result = drive_locally(lambda world: (lambda c: (c.steering, c.throttle))(expert.run(world)),
                           EvalConfig(track="oval", laps=1, out_dir=tmp_path, progress=False))
    report = result.report
    track = get_track("oval")
    assert report.autonomy_pct == 100.0 and report.interventions == 0
    assert report.laps_completed == 1 and report.stop_reason == "laps"
    assert report.elapsed_s == pytest.approx(len(result.drive.steps) * SIM_DT)
    # Mean |CTE| recomputed from the poses alone, by projecting each onto the track.
    recomputed = np.mean([abs(track.project(s.x, s.y).cte_m) for s in result.drive.steps])
    assert report.mean_abs_cte_m == pytest.approx(recomputed, abs=1e-6)
    assert report.max_abs_cte_m < HALF_WIDTH / 2
    assert read_report(tmp_path / "report.json") == report
    assert (tmp_path / "trajectory.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = (tmp_path / "trajectory.csv").read_text().splitlines()
    assert len(rows) == report.steps + 1, "one header line, then one line per step"


def test_a_pilot_that_always_steers_right_is_reset_at_every_excursion(tmp_path):
    result = drive_locally(lambda world: (0.3, 0.4),
                           EvalConfig(track="oval", laps=1, out_dir=tmp_path, progress=False, max_sim_s=40.0))
    report = result.report
    assert report.interventions == len(result.interventions) >= 3
    assert report.interventions_off_road == report.interventions
    # Each take-over happened on the step the car crossed the right edge, and the next step is near the centre.
    for iv in result.interventions:
        assert iv.cte_m > HALF_WIDTH
        after = result.drive.steps[iv.step + 1]
        assert abs(after.cte_m) < 1.0, f"the car was not handed back on the centre line after step {iv.step}"
    assert report.autonomy_pct == pytest.approx(max(0.0, (1 - report.interventions * 6.0 / report.elapsed_s) * 100))
    assert report.stop_reason == "on_step"  # the time limit ended it: it never finishes a lap
    saved = json.loads((tmp_path / "report.json").read_text())
    assert [iv["step"] for iv in saved["intervention_list"]] == [iv.step for iv in result.interventions]


def test_markdown_table_has_one_row_per_model_and_track():
    def report(model: str, track: str, autonomy: float) -> EvalReport:
        return EvalReport(model=model, track=track, laps_requested=1, laps_completed=1, autonomy_pct=autonomy,
                          interventions=1, interventions_off_road=1, interventions_no_progress=0, elapsed_s=60.0,
                          distance_m=500.0, mean_abs_cte_m=0.25, max_abs_cte_m=1.5, mean_speed_mph=12.0,
                          steering_smoothness=0.01, steps=900, frames_per_s=math.nan, wall_s=1.0, penalty_s=6.0,
                          road_half_width_m=4.5, stop_reason="laps")

    table = markdown_table([report("a.pt", "lake", 90.0), report("a.pt", "mountain", 80.0)])
    lines = table.strip().splitlines()
    assert len(lines) == 4
    assert lines[2].startswith("| a.pt | lake | 90.0 | 1 | 1/1 | 0.25 | 1.50 | 12.0 |")
    assert "| mountain | 80.0 |" in lines[3]
