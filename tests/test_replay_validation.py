"""Replay against closed loop: Spearman's rank correlation and missed failures on made-up tables, worked out
by hand, and the pairing of both instruments' scores per model (instruments replaced by fixed answers)."""
from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest

from steering.replay import validation
from steering.replay.validation import ModelScores, ValidationConfig, judge, markdown_table, missed_failures, spearman


def _row(label: str, closed: float, replay: float) -> ModelScores:
    return ModelScores(label, label, closed, 0, replay, 0)


def test_spearman_of_one_swapped_pair_of_four_is_0_8():
    # ranks closed 4 3 2 1, replay 3 4 2 1: d = (1, -1, 0, 0), rho = 1 - 6 * 2 / (4 * 15) = 0.8
    assert spearman([100, 90, 50, 0], [80, 85, 20, 0]) == pytest.approx(0.8)
    assert spearman([100, 90, 50, 0], [0, 20, 85, 80]) == pytest.approx(-0.8)


def test_spearman_gives_ties_their_mean_rank():
    # closed ranks (2.5, 2.5, 1), replay (3, 2, 1): covariance 1.5 over sqrt(1.5 * 2): 0.866
    assert spearman([100, 100, 0], [100, 50, 0]) == pytest.approx(1.5 / math.sqrt(3.0))


def test_spearman_without_spread_is_undefined():
    assert math.isnan(spearman([100, 100], [100, 0]))
    assert math.isnan(spearman([100], [0]))


def test_a_replay_pass_of_a_real_failure_is_missed_a_false_alarm_is_not():
    rows = [_row("hidden", 95, 100), _row("false_alarm", 100, 50), _row("both_fail", 0, 0), _row("good", 100, 100)]
    assert missed_failures(rows, fail_below=100) == ["hidden"]
    assert missed_failures(rows, fail_below=90) == []  # at 90 % "hidden" passes the closed loop too
    verdict = judge(rows, 100)
    assert not verdict.passes() and verdict.missed_failures == ["hidden"]
    table = markdown_table(rows, verdict)
    assert "| hidden | 95.0 (0) | 100.0 (0) | no |" in table
    assert "| both_fail | 0.0 (0) | 0.0 (0) | yes |" in table
    assert "but passing the replay: hidden." in table


def test_validate_pairs_each_models_two_scores_and_writes_table_json_and_scatter(tmp_path, monkeypatch):
    closed = {"a": (100.0, 0), "constant_0": (0.0, 19), "delayed8_a": (61.5, 5)}
    replayed = {"a": 100.0, "constant_0": 0.0, "delayed8_a": 20.0}

    def fake_evaluate(spec, config):
        autonomy, interventions = closed[config.label]
        return SimpleNamespace(report=SimpleNamespace(autonomy_pct=autonomy, interventions=interventions))

    def fake_replay(models, logs, options):
        runs = {label: SimpleNamespace(autonomy=value, interventions=[None] * int(value < 100))
                for label, value in replayed.items()}
        return SimpleNamespace(runs=runs)

    monkeypatch.setattr(validation, "evaluate", fake_evaluate)
    monkeypatch.setattr(validation, "replay_models", fake_replay)
    config = ValidationConfig(out_dir=tmp_path, progress=False)
    rows, verdict, files = validation.validate(["x/a.pt", "constant:0", "delayed:8:x/a.pt"],
                                               tmp_path / "driving_log.csv", config)
    assert [(r.label, r.closed_loop, r.replay) for r in rows] == [
        ("a", 100.0, 100.0), ("constant_0", 0.0, 0.0), ("delayed8_a", 61.5, 20.0)]
    assert verdict.spearman == pytest.approx(1.0) and verdict.passes()
    saved = json.loads(files["json"].read_text())
    assert saved["verdict"]["passes"] is True and saved["rows"][2]["closed_interventions"] == 5
    table = files["table"].read_text()
    assert files["scatter"].stat().st_size > 0 and "| delayed8_a | 61.5 (5) | 20.0 (1) | yes |" in table
    files["table"].unlink()
    assert validation.replot(tmp_path)["table"].read_text() == table  # the same table from the JSON alone


def test_duplicate_file_names_are_refused(tmp_path):
    with pytest.raises(ValueError, match="distinct label"):
        validation.validate(["a/best.pt", "b/best.pt"], tmp_path / "log.csv", ValidationConfig(out_dir=tmp_path))


def test_the_closed_loop_can_take_over_at_pilotnets_1_m_instead_of_off_the_road(tmp_path, monkeypatch):
    seen = []

    def fake_evaluate(spec, config):
        seen.append(config.interventions.off_road_margin_m)
        return SimpleNamespace(report=SimpleNamespace(autonomy_pct=100.0, interventions=0))

    monkeypatch.setattr(validation, "evaluate", fake_evaluate)
    monkeypatch.setattr(validation, "replay_models", lambda models, logs, options: SimpleNamespace(
        runs={"a": SimpleNamespace(autonomy=100.0, interventions=[])}))
    for limit in (None, 1.0):
        validation.validate(["a.pt"], tmp_path / "log.csv",
                            ValidationConfig(track="lake", out_dir=tmp_path / str(limit), closed_max_offset_m=limit))
    # the lake road is 9 m wide: off the road is 4.5 m from the centre, so 1 m is a margin of -3.5 m
    assert seen == [0.0, pytest.approx(-3.5)]
