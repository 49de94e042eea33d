"""The study: its analyses against hand-computed values, its plan rules, and a quick run end to end."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from steering.demo import DemoConfig
from steering.eval.metrics import confusion, direction, mae_by_bin, per_class
from steering.model import list_models
from steering.study import StudyConfig, full_plan, run_study
from steering.study.plan import StudyEntry, select


def test_direction_uses_the_band_and_the_simulators_sign():
    # negative steers left; the band edge itself is straight
    assert direction(np.array([-0.3, -0.05, 0.0, 0.05, 0.051])).tolist() == [0, 1, 1, 1, 2]


def test_confusion_and_per_class_scores_by_hand():
    target = np.array([-0.5, -0.2, 0.0, 0.01, 0.3, 0.4])  # L L S S R R
    predicted = np.array([-0.4, 0.0, 0.0, 0.2, 0.3, 0.1])  # L S S R R R
    matrix = confusion(predicted, target)
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 1], [0, 0, 2]]
    scores = per_class(matrix)
    assert scores["left"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert scores["straight"]["precision"] == 0.5 and scores["straight"]["recall"] == 0.5
    assert scores["right"]["precision"] == pytest.approx(2 / 3) and scores["right"]["recall"] == 1.0
    assert scores["right"]["f1"] == pytest.approx(0.8)


def test_a_class_never_predicted_scores_zero_not_nan():
    scores = per_class(confusion(np.zeros(4), np.array([-0.5, 0.0, 0.0, 0.5])))
    assert scores["left"]["precision"] == 0.0 and scores["left"]["f1"] == 0.0
    assert scores["straight"]["recall"] == 1.0


def test_mae_by_bin_by_hand():
    target = np.array([0.0, -0.1, 0.2, -0.5])
    predicted = np.array([0.02, 0.0, 0.1, -0.2])
    bins = mae_by_bin(predicted, target, edges=(0.0, 0.05, 0.15, 0.3, float("inf")))
    assert [b["count"] for b in bins] == [1, 1, 1, 1]
    assert [round(b["mae"], 6) for b in bins] == [0.02, 0.1, 0.1, 0.3]
    empty = mae_by_bin(predicted, target, edges=(0.0, 0.05, 0.06))
    assert empty[1]["count"] == 0 and math.isnan(empty[1]["mae"])


def test_plan_covers_the_seeds_questions_and_names_are_unique():
    names = [e.name for e in full_plan()]
    assert len(names) == len(set(names))
    for needed in ("resnet50-imagenet-frozen", "resnet50-imagenet-two-phase", "resnet50-imagenet-gradual",
                   "resnet50-imagenet-finetune", "resnet50-scratch", "resnet18-scratch", "efficientnet_b0-scratch",
                   "mobilenet_v3_large-scratch", "pilotnet-scratch", "efficientnet_lite0-imagenet-frozen",
                   "efficientnet_lite0-scratch"):
        assert needed in names
    assert [e.name for e in select(full_plan(), ["resnet18-*"])] == ["resnet18-imagenet-finetune", "resnet18-scratch"]
    with pytest.raises(ValueError, match="no study entry matches"):
        select(full_plan(), ["densenet*"])


def test_plan_trains_each_seed_family_from_scratch_once():
    families = ("lenet5", "alexnet", "vgg16_bn", "inception_v3", "xception", "vit_b_16")
    chosen = select(full_plan(), [f"{name}-*" for name in families])
    assert [e.name for e in chosen] == [f"{name}-scratch" for name in families]
    assert all(e.pretrained == "none" and e.strategy == "finetune" and e.availability() is None for e in chosen)
    assert set(families) <= set(list_models())  # every entry names a registered model


def test_missing_imagenet_weights_are_a_stated_skip(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty hub: nothing downloaded
    reason = StudyEntry("resnet18", "imagenet", "finetune").availability()
    assert reason is not None and "not downloaded" in reason and str(tmp_path) in reason
    assert StudyEntry("resnet18", "none", "finetune").availability() is None


@pytest.mark.slow
def test_quick_study_end_to_end_and_resume(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))
    out = tmp_path / "study"
    config = StudyConfig(out_dir=out, quick=True, progress=False)
    result = run_study(config)
    names = [e["name"] for e in result.entries]
    assert names == ["pilotnet-scratch", "efficientnet_lite0-imagenet-frozen"]
    for entry in result.entries:
        assert entry["status"] == "done"
        matrix = np.array(entry["confusion"])
        assert matrix.shape == (3, 3) and matrix.sum() == entry["val_frames"] > 0
        assert 0.0 <= entry["suite"]["score"] <= 100.0
        assert entry["latency"]["p50_ms"] > 0
        assert entry["metrics"]["mse"] >= 0 and entry["baseline"]["mse"] > 0
    assert [v["kind"] for v in result.variants] == ["tta"]  # the two entries differ in preprocessing
    table = (out / "study.md").read_text()
    for name in names:
        assert f"| {name} |" in table
    for png in ("study_confusion.png", "study_error_by_bin.png", "study_autonomy_vs_latency.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((out / "study.json").read_text())
    assert [e["name"] for e in saved["entries"]] == names

    # Rerun: every finished entry is read back, nothing is trained again.
    stamps = {n: (out / "entries" / n / "run" / "best.pt").stat().st_mtime_ns for n in names}
    again = run_study(config)
    assert [e["suite"]["score"] for e in again.entries] == [e["suite"]["score"] for e in result.entries]
    assert {n: (out / "entries" / n / "run" / "best.pt").stat().st_mtime_ns for n in names} == stamps


def test_the_study_records_what_the_demo_records():
    demo, study = DemoConfig(), StudyConfig()
    assert (study.record_track, study.record_laps, study.randomize_style) == (
        demo.train_track, demo.record_laps, demo.randomize_style)
