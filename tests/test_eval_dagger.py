"""DAgger: the model drives, the expert labels every visited state, the rows join the recording, retrain, score."""
from __future__ import annotations

import csv
import datetime as dt
import json
import math
from pathlib import Path

import pytest

from steering.data import read_logs
from steering.eval.dagger import DaggerConfig, HeldOutTrackError, collect, run_dagger, start_aggregate
from steering.eval.scoring import InterventionConfig
from steering.eval.suite import SuiteConfig
from steering.sim.car import MPH, CarConfig
from steering.sim.expert import ExpertConfig
from steering.sim.recorder import RecordConfig, record
from steering.sim.tracks import get_track
from steering.sim.world import WorldConfig
from steering.udacity import CAMERAS

START = dt.datetime(2024, 5, 1, 12, 0, 0)


@pytest.fixture()
def recording(tmp_path) -> Path:
    """30 expert rows, as `python -m steering.sim record` writes them (on the short oval: its ground paints fast)."""
    summary = record(tmp_path / "rec", WorldConfig(track="oval", start_speed_mph=15), ExpertConfig(seed=0),
                     RecordConfig(max_samples=30, start_time=START, progress=False))
    return summary.log_path


def _pursuit_steering(track, x: float, y: float, heading: float, speed_mps: float) -> float:
    """The expert's follow-phase command recomputed by hand: pure pursuit from the rear axle to the centre-line
    point `5 m + 0.5 s * speed` ahead of the car's projection (ExpertConfig's lookahead), as a wheel angle
    over the steering lock, positive = right."""
    car, cfg = CarConfig(), ExpertConfig()
    lookahead_m = cfg.lookahead_m + cfg.lookahead_s * speed_mps
    target_x, target_y, _ = track.pose_at(track.project(x, y).progress_m + lookahead_m)
    rear_x, rear_y = x - car.cg_to_rear_m * math.cos(heading), y - car.cg_to_rear_m * math.sin(heading)
    dx, dy = target_x - rear_x, target_y - rear_y
    ahead = dx * math.cos(heading) + dy * math.sin(heading)
    left = -dx * math.sin(heading) + dy * math.cos(heading)
    wheel_left_deg = math.degrees(math.atan(car.wheelbase_m * 2.0 * left / (ahead**2 + left**2)))
    return max(-1.0, min(1.0, -wheel_left_deg / car.max_steer_deg))


def test_round_labels_every_visited_state_with_the_experts_command(tmp_path, recording, make_checkpoint):
    model = make_checkpoint("pilotnet", seed=1)
    log_path = start_aggregate([recording], tmp_path / "data")
    config = DaggerConfig(track="lake", max_samples=25, suite=None, progress=False)
    summary = collect(model, log_path.parent, config, round_index=1, trace_path=tmp_path / "trace.csv")

    assert summary.rows == 25
    with open(summary.trace_path, newline="") as handle:
        trace = list(csv.DictReader(handle))
    assert len(trace) == 25
    rows = read_logs([str(log_path)]).rows
    assert len(rows) == 30 + 25
    added = rows.iloc[30:].reset_index(drop=True)
    track = get_track("lake")
    for i, state in enumerate(trace):
        expected = _pursuit_steering(track, float(state["x"]), float(state["y"]), float(state["heading"]),
                                     float(state["speed_mps"]))
        assert added.loc[i, "steering"] == pytest.approx(expected, abs=1e-6)
        assert float(state["expert_steering"]) == pytest.approx(expected, abs=1e-6)
        assert Path(added.loc[i, "center"]).name == state["center"]
        # the model steered: what was applied is the model's output, not the label
        assert float(state["applied_steering"]) == float(state["model_steering"])
    # an untrained model steers nothing like the expert somewhere along the way
    assert max(abs(float(s["model_steering"]) - float(s["expert_steering"])) for s in trace) > 1e-3
    # the speed column is the car's speed in mph at the labelled pose
    assert added.loc[10, "speed"] == pytest.approx(float(trace[10]["speed_mps"]) / MPH, abs=1e-4)


def test_aggregated_log_keeps_the_recording_first_and_every_frame_exists(tmp_path, recording, make_checkpoint):
    model = make_checkpoint("pilotnet")
    original = read_logs([str(recording)]).rows
    log_path = start_aggregate([recording], tmp_path / "data")
    collect(model, log_path.parent, DaggerConfig(track="oval", max_samples=8, suite=None, progress=False),
            round_index=1)

    rows = read_logs([str(log_path)]).rows
    assert list(rows["center"][:30]) == list(original["center"])
    assert list(rows["steering"][:30]) == list(original["steering"])
    for camera in CAMERAS:
        added = [Path(p) for p in rows[camera][30:]]
        assert len(added) == 8
        assert all(p.is_file() and p.parent == (tmp_path / "data" / "IMG").resolve() for p in added)
        assert all(p.name.startswith(f"{camera}_") for p in added)
    # the added rows are a session of their own, after the recording
    assert rows["session"].iloc[30] == rows["session"].iloc[29] + 1
    assert rows["timestamp"].iloc[30] > rows["timestamp"].iloc[29]


def test_car_leaving_the_road_is_put_back_and_labelling_goes_on(tmp_path, recording, make_checkpoint):
    model = make_checkpoint("pilotnet", seed=2)
    log_path = start_aggregate([recording], tmp_path / "data")
    # take over 0.2 m from the centre line (4.5 m half width - 4.3 m): an untrained model gets there
    config = DaggerConfig(track="oval", max_samples=60, suite=None, progress=False,
                          interventions=InterventionConfig(off_road_margin_m=-4.3))
    summary = collect(model, log_path.parent, config, round_index=1)
    with open(summary.trace_path, newline="") as handle:
        trace = list(csv.DictReader(handle))
    taken = [i for i, s in enumerate(trace) if s["intervention"]]
    assert summary.interventions == len(taken) >= 1
    assert len(trace) == 60  # labelling went on after each take-over
    after = taken[0] + 1
    assert after < len(trace)
    assert abs(float(trace[after]["cte_m"])) < 0.01  # back on the centre line (0.2 m was the limit)
    rows = read_logs([str(log_path)]).rows
    assert rows["session"].iloc[30 + after] == rows["session"].iloc[30 + after - 1] + 1


def test_retraining_starts_from_the_checkpoint_with_its_own_train_config(tmp_path, monkeypatch, recording):
    import torch

    from steering.checkpoint import save_checkpoint
    from steering.eval import dagger
    from steering.model import ModelConfig, create_model, default_preprocess
    from steering.training import TrainConfig

    torch.manual_seed(5)
    trained = TrainConfig(logs=["old.csv"], model="pilotnet", pretrained="none", lr=0.0123, epochs=7, limit=10,
                          block_size=10, resume="old/last.pt")
    path = save_checkpoint(tmp_path / "trained.pt", create_model("pilotnet"), ModelConfig(name="pilotnet"),
                           default_preprocess("pilotnet"), train_config=trained.to_dict())
    seen = {}

    def fake_fit(config, data, model=None):
        seen.update(config=config, state={k: v.clone() for k, v in model.state_dict().items()})
        raise RuntimeError("stop here")

    monkeypatch.setattr(dagger, "fit", fake_fit)
    with pytest.raises(RuntimeError, match="stop here"):
        dagger.retrain(path, [recording], tmp_path / "round1", epochs=2)
    config = seen["config"]
    assert (config.lr, config.model, config.epochs) == (0.0123, "pilotnet", 2)
    assert config.logs == [str(recording)] and config.out == str(tmp_path / "round1")
    assert (config.limit, config.resume) == (0, "")  # the aggregated log is read whole, as a new run
    stored = torch.load(path, weights_only=True)["state_dict"]
    assert seen["state"].keys() == stored.keys()
    assert all(torch.equal(seen["state"][k], stored[k]) for k in stored)


def test_cli_aggregates_one_round_and_names_the_new_checkpoint(tmp_path, capsys, recording, make_checkpoint):
    from steering.sim.__main__ import main

    code = main(["dagger", str(make_checkpoint()), "--data", str(recording), "--rounds", "1", "--max-samples", "12",
                 "--epochs", "1", "--track", "oval", "--no-suite", "--no-progress", "--out", str(tmp_path / "dagger")])
    assert code == 0
    printed = capsys.readouterr().out
    assert "round 1: " + str(tmp_path / "dagger" / "round1" / "train" / "best.pt") in printed
    assert "12 rows labelled" in printed
    assert len(read_logs([str(tmp_path / "dagger" / "data" / "driving_log.csv")]).rows) == 42


@pytest.mark.parametrize("track", ["mountain", "challenge"])
def test_held_out_tracks_are_refused(track):
    with pytest.raises(HeldOutTrackError, match="held out"):
        DaggerConfig(track=track)


def test_cli_refuses_a_held_out_track(tmp_path, capsys, make_checkpoint):
    from steering.sim.__main__ import main

    code = main(["dagger", str(make_checkpoint()), "--data", str(tmp_path / "x.csv"), "--track", "mountain"])
    assert code == 2
    assert "held out" in capsys.readouterr().err


@pytest.mark.slow
def test_dagger_round_retrains_from_the_checkpoint_and_scores_it(tmp_path, recording, make_checkpoint):
    model = make_checkpoint("pilotnet")
    suite = SuiteConfig.quick(laps=(0.02, 0.02, 0.02), pacings=("fixed",))
    config = DaggerConfig(track="oval", rounds=1, max_samples=30, epochs=1, suite=suite, out_dir=tmp_path / "dagger",
                          progress=False)
    result = run_dagger(model, [recording], config)

    assert [r.round for r in result.rounds] == [0, 1]
    new = result.rounds[1].checkpoint
    assert new.is_file() and new.parent == tmp_path / "dagger" / "round1" / "train"
    assert len(read_logs([str(result.data_log)]).rows) == 60
    for r in result.rounds:
        assert set(r.autonomy) == {"lake-15mph-fixed", "mountain-15mph-fixed", "challenge-15mph-fixed"}
        assert r.score == pytest.approx(sum(r.autonomy.values()) / 3)
        assert r.cut_short == []  # every row drove its distance
    saved = json.loads((tmp_path / "dagger" / "dagger.json").read_text())
    assert saved["rounds"][1]["collect"]["rows"] == 30
    history = json.loads((new.parent / "history.json").read_text())
    assert len(history) == 1
