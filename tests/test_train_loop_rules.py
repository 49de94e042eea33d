"""The loop's rules with exact numbers: gradient accumulation, early stopping, ReduceLROnPlateau,
the Huber loss, and --balance.

Everything runs PilotNet (or a hand-made module) on a few dozen in-memory frames. Where the test is
about a rule driven by validation loss, the validation set follows a script (see ScriptedValidation)
so the loss sequence is known in advance and does not depend on how well the model learns.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import logging

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from steering.checkpoint import load_checkpoint
from steering.data import balance, read_logs, samples_from_log, split_by_blocks
from steering.data.synthetic import SyntheticRow, write_log_file, write_recording
from steering.model import create_model, default_preprocess
from steering.training import TrainConfig, fit
from steering.training.data_setup import bundle_from_logs
from steering.training.distributed import DistContext
from steering.training.loop import Precision, make_loss, train_one_epoch
from steering.training.synthetic import TensorPairs, line_bundle

PRE = default_preprocess("pilotnet")


def base_config(tmp_path, **changes) -> TrainConfig:
    values = dict(model="pilotnet", pretrained="none", strategy="finetune", augment="none", epochs=3, batch_size=8,
                  lr=1e-3, backbone_lr=1e-3, device="cpu", progress=False, out=str(tmp_path / "run"), seed=7)
    values.update(changes)
    return TrainConfig(**values)


class ScriptedValidation(Dataset):
    """Validation frames whose targets are all `offsets[k]` on the k-th pass over the set.

    An untrained PilotNet predicts values near 0 (|mean| well below 0.5 here) and the runs below move
    it little, so with every offset >= 1 the validation loss, mean((p - offset)^2) =
    (offset - mean p)^2 + var p, rises and falls with the offset: the script sets the loss order.
    A pass starts at index 0 (validation is never shuffled).
    """

    def __init__(self, images: torch.Tensor, offsets: list[float]):
        self.images, self.offsets, self.passes = images, offsets, -1

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if index == 0:
            self.passes += 1
        offset = self.offsets[min(self.passes, len(self.offsets) - 1)]
        return self.images[index], torch.tensor(offset, dtype=torch.float32)


def scripted_bundle(offsets: list[float]):
    bundle = line_bundle(16, PRE, val_fraction=0.5, seed=4)  # 8 training frames (one batch), 8 validation
    return dataclasses.replace(bundle, val=ScriptedValidation(bundle.val.images, offsets))


def dropout_free_pilotnet(seed: int = 0):
    """PilotNet with its one Dropout at p=0. PilotNet has no BatchNorm, so without dropout a batch's
    loss is the plain mean of per-sample losses, independent of how samples are grouped in batches."""
    torch.manual_seed(seed)
    model = create_model("pilotnet", preprocess=PRE)
    dropouts = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    assert len(dropouts) == 1
    dropouts[0].p = 0.0
    return model


def test_accumulating_n_batches_of_b_gives_the_weights_of_one_batch_of_n_times_b(tmp_path):
    # The run as train.py makes it: 12 training frames, accumulate 3 x batch 4 and 1 x batch 12 both
    # make exactly one AdamW step (grad clipping on) from the same start, on the same 12 frames in the
    # same shuffled order.
    bundle = line_bundle(16, PRE, val_fraction=0.25, seed=1)
    assert len(bundle.make_train("none")) == 12
    start = dropout_free_pilotnet()
    runs = {}
    for name, batch, accumulate in (("accumulated", 4, 3), ("one_batch", 12, 1), ("three_steps", 4, 1)):
        config = base_config(tmp_path / name, epochs=1, batch_size=batch, accumulate=accumulate)
        result = fit(config, bundle, model=copy.deepcopy(start))
        runs[name] = load_checkpoint(result.last_path)
    steps = {name: {int(s["step"]) for s in c.extra["optimizer"]["state"].values()} for name, c in runs.items()}
    assert steps == {"accumulated": {1}, "one_batch": {1}, "three_steps": {3}}
    initial = start.state_dict()
    accumulated, one_batch, three = (runs[n].state_dict for n in ("accumulated", "one_batch", "three_steps"))
    # Tolerance 1e-5 = 1% of lr: AdamW's first step moves each weight by lr * g / (|g| + eps), close to
    # +-lr whatever |g| is, so where a gradient nearly cancels (|g| within a few orders of eps) the
    # float32 rounding of summing it in another order shifts that weight's step by a fraction of lr
    # (measured: at most 2.5e-6). Three separate steps land about lr away from one step instead.
    for name in initial:
        moved = (accumulated[name] - initial[name]).abs().max().item()
        assert moved > 5e-4, f"{name} barely moved ({moved}): no optimizer step happened"
        gap = (accumulated[name] - one_batch[name]).abs().max().item()
        assert gap < 1e-5, f"{name}: accumulated and one-batch weights differ by {gap}"
    gaps = [(three[n] - one_batch[n]).abs().max().item() for n in initial]
    assert max(gaps) > 1e-4, "three separate steps should not equal one step: the comparison cannot fail"


def test_accumulated_gradient_is_the_mean_gradient_of_the_whole_window():
    # AdamW (above) is blind to the gradient's scale, so a missing 1/N would pass there. With SGD at
    # lr 1 and no clipping a step subtracts the gradient itself: weights after accumulate 3 x batch 4
    # must equal those after one batch of 12 to float32 rounding of the gradient (~1e-7 relative;
    # 1e-6 absolute here), while a sum instead of a mean would be off by 2x the gradient.
    bundle = line_bundle(16, PRE, val_fraction=0.25, seed=1)
    train_set = bundle.make_train("none")
    start = dropout_free_pilotnet()
    after = {}
    for batch, accumulate in ((4, 3), (12, 1)):
        model = copy.deepcopy(start)
        optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
        train_one_epoch(model, DataLoader(train_set, batch_size=batch), optimizer, make_loss("mse", 0.1),
                        Precision(torch.device("cpu")), DistContext(), epoch=0, accumulate=accumulate,
                        grad_clip=0.0, progress=False)
        after[accumulate] = model.state_dict()
    initial = start.state_dict()
    for name in initial:
        step = (after[1][name] - initial[name]).abs().max().item()
        assert step > 1e-5, f"{name}: no gradient reached it"
        gap = (after[3][name] - after[1][name]).abs().max().item()
        assert gap < 1e-6 + 1e-5 * step, (
            f"{name}: accumulated step differs from the one-batch step by {gap} (step {step})"
        )


def test_early_stopping_stops_after_patience_epochs_without_improvement_and_keeps_the_best(tmp_path):
    # validation loss falls for three epochs, then only rises: with patience 3 the run ends after epoch 6
    offsets = [1.6, 1.3, 1.0, 1.1, 1.2, 1.4, 1.5, 1.6, 1.7, 1.8]
    config = base_config(tmp_path / "stopped", epochs=10, patience=3, lr=1e-5, backbone_lr=1e-5)
    result = fit(config, scripted_bundle(offsets))
    losses = [h["val_loss"] for h in result.history]
    assert len(result.history) == 6 and result.stopped_early
    assert int(np.argmin(losses)) == 2 and losses[0] > losses[1] > losses[2]
    assert all(later > losses[2] for later in losses[3:])
    best = load_checkpoint(result.best_path)
    assert best.metrics["epoch"] == 3 and best.extra["epoch"] == 3
    assert best.metrics["val_loss"] == pytest.approx(losses[2])
    assert load_checkpoint(result.last_path).extra["epoch"] == 6
    assert len(json.loads((tmp_path / "stopped" / "run" / "history.json").read_text())) == 6
    # best.pt holds the weights after epoch 3: the same run cut at 3 epochs ends with exactly those
    three = fit(dataclasses.replace(config, out=str(tmp_path / "three"), epochs=3), scripted_bundle(offsets))
    after_three = load_checkpoint(three.last_path).state_dict
    last = load_checkpoint(result.last_path).state_dict
    for name, tensor in best.state_dict.items():
        assert torch.equal(tensor, after_three[name]), name
    assert any(not torch.equal(best.state_dict[n], last[n]) for n in last), "epochs 4-6 trained too"


def test_plateau_halves_the_learning_rate_after_its_patience(tmp_path):
    # epoch 1 is the best; ReduceLROnPlateau(patience 2) halves the rate once 3 epochs in a row are
    # no better (after epochs 4 and 7). history's lr is the rate each epoch trained with.
    offsets = [1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7]
    config = base_config(tmp_path, epochs=8, patience=0, plateau_patience=2, plateau_factor=0.5,
                         lr=1e-4, backbone_lr=2e-5)
    result = fit(config, scripted_bundle(offsets))
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert len(history) == 8 and not result.stopped_early
    assert int(np.argmin([h["val_loss"] for h in history])) == 0
    np.testing.assert_allclose([h["lr"]["head"] for h in history],
                               [1e-4] * 4 + [5e-5] * 3 + [2.5e-5], rtol=1e-12)
    np.testing.assert_allclose([h["lr"]["backbone"] for h in history],
                               [2e-5] * 4 + [1e-5] * 3 + [5e-6], rtol=1e-12)


class FixedPredictions(nn.Module):
    """Predicts a learnable value per sample index: x is the index, the output is `values[x]`."""

    def __init__(self, values: list[float]):
        super().__init__()
        self.values = nn.Parameter(torch.tensor(values, dtype=torch.float32))

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        return self.values[index.long()]  # (B,)


def test_huber_loss_is_what_one_step_minimises():
    predictions, targets = [0.0, 0.5, -0.2, 0.05], [0.0, 0.0, 0.0, 0.0]
    delta = 0.1
    # by hand: |e| <= delta -> e^2 / 2, else delta * (|e| - delta / 2)
    #   0, 0.1 * 0.45 = 0.045, 0.1 * 0.15 = 0.015, 0.05^2 / 2 = 0.00125 -> mean 0.0153125 (MSE: 0.073125)
    expected = (0.0 + 0.045 + 0.015 + 0.00125) / 4
    loss_fn = make_loss("huber", delta)
    p, y = torch.tensor(predictions), torch.tensor(targets)
    assert float(loss_fn(p, y)) == pytest.approx(expected, abs=1e-7)
    assert float(loss_fn(p, y)) == pytest.approx(float(nn.functional.huber_loss(p, y, delta=delta)), abs=1e-8)
    assert float(loss_fn(p, y)) == pytest.approx(float(nn.functional.smooth_l1_loss(p / delta, y / delta)) * delta ** 2)

    model = FixedPredictions(predictions)
    loader = DataLoader(TensorPairs(torch.arange(4.0), y), batch_size=4)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    stats = train_one_epoch(model, loader, optimizer, loss_fn, Precision(torch.device("cpu")), DistContext(), epoch=0,
                            grad_clip=0.0, progress=False)
    assert stats["loss"] == pytest.approx(expected, abs=1e-7)
    # SGD at lr 1 subtracts the gradient: e / n inside delta, delta * sign(e) / n outside it
    np.testing.assert_allclose(model.values.detach().numpy(),
                               [0.0, 0.5 - 0.1 / 4, -0.2 + 0.1 / 4, 0.05 - 0.05 / 4], atol=1e-7)


def test_balance_shrinks_the_training_set_by_the_data_package_rule_and_says_so(tmp_path, caplog):
    # 90 frames of straight driving (steering 0) among 30 of curves: the 0 bin is far over the cap
    steering = [0.0] * 90 + list(np.linspace(-0.6, 0.6, 30))
    rng = np.random.default_rng(0)
    steering = [float(s) for s in rng.permutation(steering)]
    lines = write_recording(tmp_path / "rec", [SyntheticRow(s) for s in steering], cameras=("center",))
    log_path = write_log_file(tmp_path / "rec" / "driving_log.csv", lines)
    config = base_config(tmp_path, logs=[str(log_path)], block_size=10, val_fraction=0.25)

    plain = bundle_from_logs(config, PRE)
    with caplog.at_level(logging.INFO):
        balanced = bundle_from_logs(dataclasses.replace(config, balance=True), PRE)

    # the same samples through steering.data directly
    samples = samples_from_log(read_logs([log_path]).rows, cameras="center", correction=config.correction)
    train, _ = split_by_blocks(samples, val_fraction=0.25, block_size=10, seed=config.seed)
    expected, report = balance(train, seed=config.seed)
    assert len(plain.train_targets) == len(train)
    assert len(balanced.train_targets) == len(expected) == report.total_after
    assert len(balanced.train_targets) < len(plain.train_targets) - 20, "the straight-driving bin was not capped"
    np.testing.assert_array_equal(balanced.train_targets, expected["steering"].to_numpy())
    assert len(balanced.val_targets) == len(plain.val_targets), "balancing never touches validation"
    assert f"{len(expected)} training, balanced from {len(train)}" in balanced.description
    assert any(f"balance: {len(train)} -> {len(expected)} samples" in r.getMessage() for r in caplog.records)
