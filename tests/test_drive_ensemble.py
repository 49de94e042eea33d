"""Test-time flip augmentation and checkpoint ensembles (steering.inference.ensemble), from the model to the wire."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from drive_wire import SimulatorSocket, real_center_frames, steer_values, telemetry

from steering.checkpoint import save_checkpoint
from steering.drive import DriveConfig, TransportConfig, running_server
from steering.eval.cli import model_argument
from steering.eval.compare import model_labels
from steering.eval.config import EvalConfig
from steering.eval.evaluate import evaluate
from steering.inference import InferenceConfig, Predictor
from steering.inference.ensemble import Ensemble, load_model
from steering.inference.gate import shipped_frames
from steering.model import ModelConfig, create_model, default_preprocess
from steering.preprocess import PreprocessConfig, decode_jpeg, preprocess_frame

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # drive.py is a script at the repository root, not part of the package
import drive  # noqa: E402

FP32 = {"device": "cpu", "backend": "torch", "precision": "fp32", "warmup": 0}  # eager fp32: exact comparisons


def mirror(frame: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(frame[:, ::-1])


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return [decode_jpeg(jpeg) for jpeg in real_center_frames(6)]


@pytest.fixture()
def pair(make_checkpoint) -> tuple[Path, Path]:
    return make_checkpoint(seed=0, filename="a.pt"), make_checkpoint(seed=1, filename="b.pt")


@pytest.mark.parametrize("preprocess", [default_preprocess("pilotnet"),
                                        PreprocessConfig(height=80, width=160, colorspace="yuv")])
def test_flipping_the_prepared_tensor_equals_preparing_the_mirrored_frame(frames, preprocess):
    """What TTA relies on: the preprocessing crops rows only, so it commutes with a left-right mirror."""
    for frame in [*frames, *shipped_frames()[0]]:
        flipped = preprocess_frame(frame, preprocess).flip(-1)
        assert torch.equal(flipped, preprocess_frame(mirror(frame), preprocess))


def test_tta_is_the_mean_of_the_frame_and_the_negated_mirrored_frame(make_checkpoint, frames):
    path = make_checkpoint()
    member = Predictor(path, InferenceConfig(**FP32))
    model = load_model(path, InferenceConfig(tta="flip", **FP32))
    assert isinstance(model, Ensemble) and model.passes == 2
    got = np.array([model.predict(f) for f in frames])
    by_hand = np.array([(member.predict(f) - member.predict(mirror(f))) / 2 for f in frames])
    assert np.abs(got - by_hand).max() < 1e-5
    plain = np.array([member.predict(f) for f in frames])
    assert np.abs(got - plain).max() > 1e-4, "an untrained model is not mirror-antisymmetric: TTA must change it"


def test_tta_steers_the_mirrored_frame_exactly_the_other_way(make_checkpoint, frames):
    model = load_model(make_checkpoint(), InferenceConfig(tta="flip", **FP32))
    got = np.array([model.predict(f) for f in frames])
    mirrored = np.array([model.predict(mirror(f)) for f in frames])
    assert np.abs(got).max() > 1e-4, "a model steering 0 everywhere would pass trivially"
    assert np.abs(got + mirrored).max() < 1e-5


def test_ensemble_is_the_mean_of_its_members(pair, frames):
    members = [Predictor(p, InferenceConfig(**FP32)) for p in pair]
    model = load_model(pair, InferenceConfig(**FP32))
    assert isinstance(model, Ensemble) and model.model_name == "a.pt+b.pt" and model.checkpoint == pair[0]
    got = np.array([model.predict(f) for f in frames])
    each = np.array([[m.predict(f) for f in frames] for m in members])  # (2, frames)
    assert np.abs(got - each.mean(axis=0)).max() < 1e-6
    for one in each:
        assert np.abs(got - one).max() > 1e-4, "the mean of two different models differs from each"
    assert "ensemble of 2" in model.describe() and "a.pt" in model.choice and "b.pt" in model.choice


def test_one_checkpoint_without_tta_is_a_plain_predictor(make_checkpoint):
    assert type(load_model(make_checkpoint(), InferenceConfig(**FP32))) is Predictor


def test_members_with_different_preprocessing_fail_naming_both_files(make_checkpoint, tmp_path, capsys):
    a = make_checkpoint(filename="a.pt")
    pre = PreprocessConfig(height=80, width=160)
    other = save_checkpoint(tmp_path / "small.pt", create_model("pilotnet", preprocess=pre).eval(),
                            ModelConfig(name="pilotnet"), pre)
    with pytest.raises(ValueError) as error:
        load_model([a, other], InferenceConfig(**FP32))
    message = str(error.value)
    assert str(a) in message and str(other) in message
    assert "height 66 vs 80" in message and "width 200 vs 160" in message
    assert drive.main([str(a), str(other), "--port", "0", "--device", "cpu", "--backend", "torch"]) == 2
    err = capsys.readouterr().err
    assert "cannot ensemble" in err and "small.pt" in err


def test_drive_py_tells_models_from_the_record_folder(tmp_path):
    def parsed(*argv: str):
        args = drive.build_parser().parse_args(list(argv))
        models, record_dir = drive.split_record_dir(args.model)
        assert drive.config_from(args).record_dir == record_dir
        return [str(m) for m in models], (str(record_dir) if record_dir else None), drive.config_from(args)

    assert parsed("a.pt", "b.pt")[:2] == (["a.pt", "b.pt"], None)
    assert parsed("a.pt", "run1")[:2] == (["a.pt"], "run1")
    assert parsed("a.pt", "b.onnx", "runs/x")[:2] == (["a.pt", "b.onnx"], "runs/x")
    assert parsed("a.pt")[:2] == (["a.pt"], None), "a single argument is always the model"
    no_suffix = tmp_path / "checkpoint"
    no_suffix.write_bytes(b"")
    assert parsed("a.pt", str(no_suffix))[:2] == (["a.pt", str(no_suffix)], None), "an existing file is a model"
    assert parsed("a.pt", "--tta", "flip")[2].inference.tta == "flip"
    assert parsed("a.pt")[2].inference.tta == "none"


def test_drive_server_steers_with_the_flipped_ensemble_through_the_wire(pair):
    jpegs = real_center_frames(5)
    config = DriveConfig(transport=TransportConfig(port=0), inference=InferenceConfig(tta="flip"), stats_every=0)
    with running_server(list(pair), config) as server:
        model = server.model
        assert isinstance(model, Ensemble) and len(model.members) == 2 and model.tta == "flip"
        sim = SimulatorSocket(server.port)
        assert sim.recv_event()[0] == "steer"  # the greeting
        sent = []
        for jpeg in jpegs:
            sim.send_telemetry(telemetry(jpeg, speed=10.0))
            name, data = sim.recv_event()
            assert name == "steer"
            sent.append(steer_values(data)[0])
        sim.close()
    # After the server stopped: the runtime is never called from two threads at once.
    expected = [min(1.0, max(-1.0, model.predict(decode_jpeg(jpeg)))) for jpeg in jpegs]
    assert len(set(np.round(expected, 6))) > 1, "frames should steer differently"
    # The reply has 6 decimals (steering.udacity.format_number): within half of the last one.
    assert np.abs(np.array(sent) - np.array(expected)).max() <= 5e-7 + 1e-9


def test_eval_takes_an_ensemble_as_one_model_with_tta(pair):
    assert model_argument("a.pt+b.pt") == (Path("a.pt"), Path("b.pt"))
    assert model_argument("a.pt") == Path("a.pt")
    assert model_labels([pair, pair[0]]) == ["a.pt+b.pt", "a.pt"]
    result = evaluate(tuple(pair), EvalConfig(track="oval", laps=0.02, tta="flip", progress=False))
    assert result.report.model == "a.pt+b.pt" and result.report.checkpoint == f"{pair[0]}+{pair[1]}"
    assert "ensemble of 2, tta flip, 4 forward passes per frame" in result.report.server
    with pytest.raises(ValueError, match="--tta"):
        evaluate(None, EvalConfig(port=1, tta="flip", progress=False))
