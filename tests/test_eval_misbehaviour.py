"""`python -m steering.eval misbehaviour`: alarms against the headless simulator's interventions."""
from __future__ import annotations

import json
import math

import pytest

from steering.eval.cli import main as eval_main
from steering.eval.misbehaviour import MisbehaviourConfig, run_misbehaviour
from steering.monitors import AlarmMonitor, FitContext, get_spec


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
