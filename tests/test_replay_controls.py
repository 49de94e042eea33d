"""Control models have one definition (steering.inference.controls) that the replay and the closed loop both
load through `load_model`: constant steering, and a model's steering applied K frames late."""
from __future__ import annotations

import json

import numpy as np
import pytest
from replay_logs import write_log

from steering.eval.cli import main as eval_main
from steering.inference.controls import (
    ConstantSteering,
    DelayedSteering,
    control_label,
    is_control,
    parse_control,
)
from steering.inference.ensemble import load_model
from steering.replay.command import model_label, open_model

FRAME = np.zeros((160, 320, 3), np.uint8)


class Counting:
    """Answers 1, 2, 3, ... on successive frames (prepare passes the frame through)."""

    preprocess = None

    def __init__(self) -> None:
        self.calls = 0

    def prepare(self, frame):
        return frame

    def infer(self, x) -> float:
        self.calls += 1
        return float(self.calls)

    def predict(self, frame) -> float:
        return self.infer(frame)

    def configure_thread(self) -> None:
        pass

    def describe(self) -> str:
        return "counting"


def test_specs_parse_to_their_values():
    assert parse_control("constant:0").value == 0.0
    assert parse_control("constant:-0.05").value == pytest.approx(-0.05)
    assert parse_control("constant:.25").value == pytest.approx(0.25)
    delayed = parse_control("delayed:6:runs/x/best.pt")
    assert (delayed.kind, delayed.frames, delayed.inner) == ("delayed", 6, "runs/x/best.pt")
    assert parse_control("runs/x/best.pt") is None and not is_control("a.pt+b.pt")
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        parse_control("constant:1.5")


def test_labels_are_file_name_safe():
    assert control_label("constant:0") == "constant_0"
    assert control_label("constant:-0.05") == "constant_-0.05"
    assert control_label("delayed:8:runs/rank/e3.pt") == "delayed8_e3"
    assert model_label("delayed:3:constant:0.1") == "delayed3_constant_0.1"
    assert model_label("runs/rank/e3.pt") == "e3"


def test_constant_control_answers_its_value_through_both_interfaces():
    model = load_model("constant:0.1")
    assert isinstance(model, ConstantSteering)
    assert model.predict(FRAME) == pytest.approx(0.1)
    assert model.infer(model.prepare(FRAME)) == pytest.approx(0.1)  # the drive server's two calls
    assert isinstance(open_model("constant:-0.2"), ConstantSteering)


def test_delayed_control_answers_what_the_model_said_k_frames_earlier():
    model = DelayedSteering(Counting(), frames=2)
    assert [model.infer(FRAME) for _ in range(5)] == [0.0, 0.0, 1.0, 2.0, 3.0]
    model.reset()
    assert [model.predict(FRAME) for _ in range(3)] == [0.0, 0.0, 6.0]
    assert [DelayedSteering(Counting(), 0).predict(FRAME) for _ in range(2)] == [1.0, 1.0]


def test_loader_wraps_any_spec_it_understands_in_a_delay():
    model = load_model(["delayed:1:constant:0.3"])  # one entry, as the drive server passes it
    assert isinstance(model, DelayedSteering) and isinstance(model.model, ConstantSteering)
    assert [model.predict(FRAME) for _ in range(3)] == [0.0, 0.3, 0.3]


def test_evaluate_accepts_a_control_and_drives_it(tmp_path, capsys):
    out = tmp_path / "ev"
    code = eval_main(["evaluate", "constant:0", "--track", "oval", "--laps", "0.05", "--out", str(out),
                      "--no-progress"])
    assert code == 0, capsys.readouterr().err
    report = (out / "report.json").read_text()
    assert '"model": "constant:0"' in report


def test_replay_of_a_delayed_control_starts_steering_k_frames_late(tmp_path):
    log = write_log(tmp_path / "log", [(0.1 * i, 0.0, 0.4, 20.0) for i in range(40)])
    out = tmp_path / "out"
    assert eval_main(["replay", "constant:0.2", "delayed:10:constant:0.2", str(log), "--out", str(out), "--no-progress",
                 "--max-heading", "180"]) == 0
    models = json.loads((out / "report.json").read_text())["models"]
    # Straight reference, steering 0.2: more than 1 m off every 10 rows (tests/test_replay_cli.py); 10 frames
    # late, the first 10 rows drive straight on the reference, so the first take-over comes 10 rows later.
    assert [iv["line"] for iv in models["constant_0.2"]["interventions_detail"]] == [11, 21, 31]
    assert [iv["line"] for iv in models["delayed10_constant_0.2"]["interventions_detail"]] == [21, 31]
