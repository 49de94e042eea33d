"""`python -m steering.eval misbehaviour`: alarms against the headless simulator's interventions."""
from __future__ import annotations

import base64
import json
import math

import numpy as np
import pytest

from steering.eval.alarm_drive import Leg, drive_legs
from steering.eval.cli import main as eval_main
from steering.eval.config import EvalConfig
from steering.eval.misbehaviour import MisbehaviourConfig, run_misbehaviour
from steering.monitors import AlarmMonitor, FitContext, get_spec
from steering.perturb import PerturbPlan
from steering.preprocess import decode_jpeg


@pytest.mark.slow
def test_an_always_alarm_catches_every_failure_with_time_before_it_and_a_silent_one_none(make_checkpoint, tmp_path):
    checkpoint = make_checkpoint("pilotnet", seed=0)  # untrained: leaves the road within seconds
    state = get_spec("tta").fit(FitContext([], [checkpoint]))
    monitors = {"always": AlarmMonitor("tta", state, threshold=-1.0), "never": AlarmMonitor("tta", state)}
    config = MisbehaviourConfig(nominal=("lake",), failing=(), max_sim_s=8.0, out_dir=tmp_path, progress=False)
    result = run_misbehaviour(checkpoint, monitors, config)
    always, never = result["table"]["always"], result["table"]["never"]
    failures = always["tp"] + always["fn"]
    assert failures >= 1, "an untrained PilotNet should need the safety driver within 8 s"
    assert never["tp"] + never["fn"] == failures and never["tp"] == 0 and never["fp"] == 0
    assert always["tn"] == 0, "an alarm on every frame leaves no quiet window"
    assert always["recall"] > 0 and never["recall"] == 0.0
    assert all(1.0 <= lead <= 3.0 for lead in [always["mean_lead_s"]] if not math.isnan(lead))
    assert never["frame_alarm_rate_nominal"] == 0.0 and always["frame_alarm_rate_nominal"] == 1.0
    assert json.loads((tmp_path / "misbehaviour.json").read_text())["table"]["always"]["tp"] == always["tp"]
    assert "| always |" in (tmp_path / "misbehaviour.md").read_text()
    assert (tmp_path / "scores_lake.png").stat().st_size > 10_000


def test_misbehaviour_command_is_registered_and_needs_an_alarm(capsys):
    with pytest.raises(SystemExit):
        eval_main(["misbehaviour", "model.pt"])
    assert "--alarm" in capsys.readouterr().err


def _always_and_never(checkpoint):
    state = get_spec("tta").fit(FitContext([], [checkpoint]))
    # finite thresholds both: one below every score (alarm on every frame), one above any (never)
    return {"always": AlarmMonitor("tta", state, threshold=-1.0), "never": AlarmMonitor("tta", state, threshold=1e30)}


@pytest.mark.slow
def test_perturbed_failing_leg_sees_darker_frames_than_the_clean_nominal_leg_of_the_same_track(make_checkpoint):
    checkpoint = make_checkpoint("pilotnet", seed=0)
    legs = [Leg("lake", True), Leg("lake", False, PerturbPlan.parse("night:5"))]
    clean, night = drive_legs(checkpoint, legs, EvalConfig(max_sim_s=1.0, progress=False))
    assert clean.report.perturb == "none" and night.report.perturb == "night:5"
    assert len(clean.images) == len(clean.times) >= 14  # 1 s in lock step: 15 replies
    # the same start pose and seed: frame 0 differs only by the night
    first_clean, first_night = (decode_jpeg(base64.b64decode(d.images[0])).astype(np.float64) for d in (clean, night))
    assert first_clean.shape == first_night.shape
    assert first_night.mean() < 0.5 * first_clean.mean(), (first_night.mean(), first_clean.mean())
    assert not clean.alarms.any() and not night.alarms.any(), "no monitor in the watching drive's server"


@pytest.mark.slow
def test_perturbed_run_records_its_perturbation_and_scores_the_perturbed_leg_apart(make_checkpoint, tmp_path):
    checkpoint = make_checkpoint("pilotnet", seed=0)
    monitors = _always_and_never(checkpoint)
    config = MisbehaviourConfig(nominal=("lake",), failing=("lake",), max_sim_s=2.0, out_dir=tmp_path,
                                progress=False, perturb=PerturbPlan.parse("gaussian_noise:5"))
    result = run_misbehaviour(checkpoint, monitors, config)
    saved = json.loads((tmp_path / "misbehaviour.json").read_text())
    assert saved["config"]["perturb"] == "gaussian_noise:5"
    assert [(leg["label"], leg["nominal"], leg["perturb"]) for leg in saved["legs"]] == [
        ("lake", True, "none"), ("lake under gaussian_noise:5", False, "gaussian_noise:5")]
    assert set(result["table"]["always"]["tracks"]) == {"lake", "lake under gaussian_noise:5"}
    assert (tmp_path / "scores_lake.png").is_file() and (tmp_path / "scores_lake_gaussian_noise_5.png").is_file()
    assert "failing tracks lake under gaussian_noise:5" in (tmp_path / "misbehaviour.md").read_text()
    # the nominal-only false-alarm rate counts the clean leg's windows alone
    lake = result["table"]["always"]["tracks"]["lake"]
    expected = lake["fp"] / (lake["fp"] + lake["tn"]) if lake["fp"] + lake["tn"] else None
    got = result["table"]["always"]["false_alarm_rate_nominal"]
    assert (math.isnan(got) and expected is None) or got == pytest.approx(expected)
    assert result["acting"] == []  # --on-alarm none: only watched
    saved_scores = np.load(tmp_path / "scores.npz")
    steps = next(leg["steps"] for leg in saved["legs"] if leg["perturb"] == "gaussian_noise:5")
    assert saved_scores["lake_gaussian_noise_5__always"].shape == saved_scores["lake_gaussian_noise_5__times"].shape \
        == (steps,)


@pytest.mark.slow
def test_on_alarm_slow_drives_the_failing_leg_slower_with_an_always_alarm_and_unchanged_with_a_silent_one(
        make_checkpoint, tmp_path):
    checkpoint = make_checkpoint("pilotnet", seed=0)
    config = MisbehaviourConfig(nominal=(), failing=("lake",), max_sim_s=4.0, progress=False, on_alarm="slow",
                                alarm_slow=0.3)
    rows = {row["monitor"]: row for row in run_misbehaviour(checkpoint, _always_and_never(checkpoint),
                                                            config)["acting"]}
    watching, always, never = rows["(watching)"], rows["always"], rows["never"]
    assert (watching["on_alarm"], always["on_alarm"]) == ("none", "slow")
    assert always["frames_alarmed"] == 1.0 and never["frames_alarmed"] == 0.0
    # a monitor that never alarms leaves the drive as it was; one always alarming holds 30 % of the target
    assert never["mean_speed_mph"] == pytest.approx(watching["mean_speed_mph"], rel=0.02)
    assert always["mean_speed_mph"] < 0.6 * watching["mean_speed_mph"], (always, watching)


def test_misbehaviour_command_takes_the_evaluators_perturb_option_and_rejects_a_bad_name(capsys):
    with pytest.raises(SystemExit):
        eval_main(["misbehaviour", "model.pt", "--alarm", "tta", "--perturb", "nigth:5"])
    assert "night" in capsys.readouterr().err  # the evaluator's parser names the close match


@pytest.mark.parametrize("settings", [{"on_alarm": "brake"}, {"on_alarm": "slow", "alarm_slow": 1.5}])
def test_a_bad_on_alarm_setting_is_refused_before_anything_is_driven(settings, monkeypatch, tmp_path):
    import steering.eval.misbehaviour as misbehaviour_module

    def no_driving(*args, **kwargs):
        raise AssertionError("drove before checking --on-alarm / --alarm-slow")

    monkeypatch.setattr(misbehaviour_module, "drive_legs", no_driving)
    with pytest.raises(ValueError, match="on_alarm|alarm_slow"):
        run_misbehaviour(tmp_path / "model.pt", {}, MisbehaviourConfig(progress=False, **settings))
