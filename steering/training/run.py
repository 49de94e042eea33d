"""A whole training run: model, phases, epochs, early stopping, checkpoints, history and plots.

`train(config)` builds the model (so a missing download fails before any log is read), reads the
logs through steering.data and calls `fit`; `fit(config, data)` takes any DataBundle (tests pass
synthetic tensors) and optionally a model. Everything written goes to `config.out`:
best.pt, last.pt, config.json, history.json, loss_curve.png, val_pred_vs_true.png, steering_hist.png.
Under torchrun only rank 0 writes; every rank computes the same validation metrics, so all take the
same early-stopping decision.

Stopping: Ctrl-C and SIGTERM raise TrainingInterrupted (steering.training.interrupts) but never
inside the end-of-epoch writes, and a failed write (disk full) raises CheckpointWriteError with the
previous file intact; either way last.pt and history.json hold the last finished epoch and the
message says how to continue (`--resume last.pt`). After a SIGKILL, `--resume` rewrites history.json
from last.pt and removes the temp files of an interrupted write.

`fit` reads as its steps: `_set_up` (model, phases, optimizer), `_resume` (from last.pt),
`_prepare_out_dir`, `_train_epochs` (each epoch: `_enter_phase` when the strategy's phase changes,
`_train_and_validate`, `_save_epoch`) and `_result`. What the epochs change is one `TrainState`, the
fields last.pt stores; what stays fixed is one `_Run`. phase_runner.py builds what each phase trains on.
"""
from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from steering.checkpoint import (
    Checkpoint,
    CheckpointWriteError,
    atomic_write_text,
    load_checkpoint,
    remove_stale_temp_files,
    save_checkpoint,
)
from steering.model import ModelConfig, SteeringRegressor
from steering.training import plots
from steering.training.config import TrainConfig
from steering.training.data_setup import DataBundle, bundle_from_logs
from steering.training.distributed import DistContext, barrier, init_distributed
from steering.training.interrupts import StopSignals, TrainingInterrupted
from steering.training.loop import (
    NonFiniteLossError,
    Precision,
    choose_precision,
    make_loss,
    predict,
    train_one_epoch,
)
from steering.training.metrics import baseline_metrics, regression_metrics, summary_table
from steering.training.model_setup import build_model
from steering.training.phase_runner import PhaseRunner, make_runner
from steering.training.seeding import restore_rng_states, rng_states, seed_everything
from steering.training.strategies import (
    Phase,
    apply_phase,
    build_optimizer,
    group_learning_rates,
    phase_at,
    plan_phases,
    trainable_summary,
)
from steering.training.tensorboard import TrainBoard, require_tensorboard

log = logging.getLogger(__name__)
RUN_FILES = ("best.pt", "last.pt", "config.json", "history.json")  # written atomically


@dataclass
class TrainResult:
    out_dir: Path
    best_path: Path
    last_path: Path
    history: list[dict[str, Any]]
    best_metrics: dict[str, float]
    baseline: dict[str, float]
    stopped_early: bool = False
    files: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        best = min(self.history, key=lambda h: h["val_loss"])
        return (f"best epoch {best['epoch']} of {len(self.history)} (validation, {best['phase']})\n"
                + summary_table(self.best_metrics, self.baseline))


@dataclass
class TrainState:
    """Where a run stands after each finished epoch: last.pt stores these fields, `--resume` restores them."""

    epoch: int = 0  # epochs finished
    history: list[dict[str, Any]] = field(default_factory=list)  # one history.json record per epoch
    best_val_loss: float = math.inf
    best_epoch: int = -1  # 1-based; -1 until an epoch finished
    epochs_since_best: int = 0  # early stopping's count (reset when a phase starts)
    stopped_early: bool = False

    @classmethod
    def from_checkpoint(cls, extra: dict[str, Any]) -> TrainState:
        """The state a last.pt's `extra` holds; fields it lacks keep their defaults."""
        return cls(**{f.name: extra[f.name] for f in fields(cls) if f.name in extra})

    def to_checkpoint(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class _Written:
    """The epochs that last.pt and history.json hold on disk (what a stopped run can resume from)."""

    last: int
    history: int


@dataclass
class _Run:
    """What a run holds fixed from set-up to the end: settings, model, optimisation and where it writes."""

    config: TrainConfig
    data: DataBundle
    ctx: DistContext
    model: SteeringRegressor
    precision: Precision
    phases: list[Phase]
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau
    scaler: torch.amp.GradScaler | None  # fp16 only
    loss_fn: nn.Module
    board: TrainBoard
    baseline: dict[str, float]  # the metrics of always predicting the training mean

    @property
    def out(self) -> Path:
        return Path(self.config.out)

    @property
    def best_path(self) -> Path:
        return self.out / "best.pt"

    @property
    def last_path(self) -> Path:
        return self.out / "last.pt"


def train(config: TrainConfig) -> TrainResult:
    """Train from the driving logs in `config.logs` (the `python train.py LOG ...` entry point)."""
    require_tensorboard(config.tensorboard)  # a missing package fails before any work
    with StopSignals():  # Ctrl-C or SIGTERM while the logs are read: one clear TrainingInterrupted
        preprocess = config.preprocess()
        seed_everything(config.seed)  # the model's random layers start the same as under fit(config, data)
        model = build_model(config, preprocess)
        return fit(config, bundle_from_logs(config, preprocess), model=model)


def fit(config: TrainConfig, data: DataBundle, ctx: DistContext | None = None,
        model: SteeringRegressor | None = None) -> TrainResult:
    """Train `model` (default: built from `config`) on `data`; see the module docstring for what is written.

    A given model must be `config.model`'s architecture (its checkpoints are rebuilt from that name).
    """
    ctx = ctx or init_distributed(config.device)
    seed_everything(config.seed)
    resume = load_checkpoint(config.resume) if config.resume else None
    run = _set_up(config, data, ctx, model, resume)
    state = _resume(run, resume) if resume else TrainState()
    _prepare_out_dir(run, state, resumed=resume is not None)
    log.info("data: %s; device %s%s; strategy %s: %s", data.description, ctx.device,
             f" x{ctx.world_size}" if ctx.distributed else "", config.strategy,
             ", ".join(f"epoch {p.start + 1}: {p.describe()}" for p in run.phases))
    _train_epochs(run, state)
    return _result(run, state)


def _set_up(config: TrainConfig, data: DataBundle, ctx: DistContext, model: SteeringRegressor | None,
            resume: Checkpoint | None) -> _Run:
    """The model on its device (with the checkpoint's weights when resuming), its phases and optimisation."""
    if model is None:
        model = build_model(config, data.preprocess)
    if resume:
        model.load_state_dict(resume.state_dict)
    precision = choose_precision(ctx.device, config.amp)
    model.to(ctx.device)
    if precision.channels_last:
        model.to(memory_format=torch.channels_last)
    phases = plan_phases(config, model.stages)
    optimizer = build_optimizer(model, config)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=config.plateau_factor,
                                                           patience=config.plateau_patience)
    scaler = torch.amp.GradScaler("cuda") if precision.autocast_dtype == torch.float16 else None  # fp16 only
    loss_fn = make_loss(config.loss, config.huber_delta)
    # rank 0 writes; fit() called directly (not through train()) also fails here without the package
    board = TrainBoard(config.tensorboard if ctx.is_main else None, model, data.preprocess)
    baseline = baseline_metrics(float(np.mean(data.train_targets)), data.val_targets)
    return _Run(config, data, ctx, model, precision, phases, optimizer, scheduler, scaler, loss_fn, board, baseline)


def _resume(run: _Run, resume: Checkpoint) -> TrainState:
    """Optimizer, scheduler, scaler and random states from last.pt; the run state it holds."""
    extra = resume.extra
    run.optimizer.load_state_dict(extra["optimizer"])
    run.scheduler.load_state_dict(extra["scheduler"])
    if run.scaler and extra.get("scaler"):
        run.scaler.load_state_dict(extra["scaler"])
    state = TrainState.from_checkpoint(extra)
    restore_rng_states(extra["rng"])
    log.info("resumed %s after epoch %d", run.config.resume, state.epoch)
    return state


def _prepare_out_dir(run: _Run, state: TrainState, resumed: bool) -> None:
    """The run folder with config.json, tidied after a kill (rank 0 only)."""
    if not run.ctx.is_main:
        return
    run.out.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(run.out, RUN_FILES)  # left by a write that a SIGKILL cut short
    atomic_write_text(run.out / "config.json", json.dumps(run.config.to_dict(), indent=2) + "\n")
    if resumed:  # a kill between last.pt and history.json leaves the history one epoch behind
        _write_history(run.out, state.history)


def _train_epochs(run: _Run, state: TrainState) -> None:
    """Epochs from `state.epoch` on, until the budget or early stopping; each one saved as it ends.

    A stop signal, a failed write or a diverging loss end the run with a message saying what the run
    folder holds and how to continue.
    """
    config = run.config
    written = _Written(last=state.epoch, history=state.epoch)
    runner: PhaseRunner | None = None
    stop = StopSignals().install()
    try:
        for epoch in range(state.epoch, config.epochs):
            phase = phase_at(run.phases, epoch)
            if runner is None or phase != runner.phase:
                runner = _enter_phase(run, state, phase, epoch)
            metrics, val_loss, improved = _train_and_validate(run, state, runner, epoch)
            if run.ctx.is_main:
                with stop.deferred():  # Ctrl-C/SIGTERM wait: last.pt and history.json change together
                    _save_epoch(run, state, metrics, val_loss, improved, written)
            else:
                written.last = written.history = epoch + 1  # what rank 0 wrote
            if state.stopped_early:
                log.info("early stopping: no validation improvement for %d epochs", config.patience)
                break
    except NonFiniteLossError:
        if run.ctx.is_main:
            _write_history(run.out, state.history)
        raise
    except TrainingInterrupted as exc:
        exc.args = (f"stopped by {exc.signal_name}: {_resume_note(run.last_path, written, config.epochs)}",)
        raise
    except CheckpointWriteError as exc:
        note = _resume_note(run.last_path, written, config.epochs, advice="free some space, then ")
        exc.args = (f"{exc}. Training stopped: {note}",)
        raise
    finally:
        run.board.close()
        stop.restore()
        barrier_safe(run.ctx)


def _enter_phase(run: _Run, state: TrainState, phase: Phase, epoch: int) -> PhaseRunner:
    """Unfreeze what `phase` trains and build its data loaders (cached features while the backbone is frozen)."""
    if epoch == phase.start and epoch > 0:  # also when a resumed run starts at a phase switch
        state.epochs_since_best = 0  # a new phase deserves its own patience
    apply_phase(run.model, phase)
    log.info("epoch %d: %s; %s", epoch + 1, phase.describe(), trainable_summary(run.model))
    run.board.phase(epoch, phase.describe(), run.model)
    return make_runner(run.config, run.data, run.model, phase, run.ctx)


def _train_and_validate(run: _Run, state: TrainState, runner: PhaseRunner,
                        epoch: int) -> tuple[dict[str, float], float, bool]:
    """One epoch of training and its validation, recorded in `state`: (metrics, validation loss, improved)."""
    config = run.config
    runner.set_epoch(epoch)
    epoch_lr = group_learning_rates(run.optimizer)  # what this epoch trains with (the scheduler acts after it)
    stats = train_one_epoch(runner.net, runner.train_loader, run.optimizer, run.loss_fn, runner.precision, run.ctx,
                            epoch, accumulate=config.accumulate, grad_clip=config.grad_clip, scaler=run.scaler,
                            progress=config.progress,
                            desc=f"epoch {epoch + 1}/{config.epochs}{' (cached)' if runner.cached else ''}")
    started = time.perf_counter()
    predicted, targets = predict(runner.eval_net, runner.val_loader, runner.precision)
    metrics = regression_metrics(predicted, targets)
    val_loss = float(run.loss_fn(torch.from_numpy(predicted), torch.from_numpy(targets)))
    run.scheduler.step(val_loss)
    improved = val_loss < state.best_val_loss
    state.history.append(
        {
            "epoch": epoch + 1,
            "phase": runner.phase.describe(),
            "cached": runner.cached,
            "train_loss": stats["loss"],
            "val_loss": val_loss,
            **{f"val_{k}": v for k, v in metrics.items()},
            "baseline_mse": run.baseline["mse"],
            "baseline_mae": run.baseline["mae"],
            "lr": epoch_lr,
            "train_images": stats["images"],
            "train_seconds": stats["seconds"],
            "val_seconds": time.perf_counter() - started,
            "images_per_s": stats["images_per_s"],
        }
    )
    if improved:
        state.best_val_loss, state.best_epoch, state.epochs_since_best = val_loss, epoch + 1, 0
    else:
        state.epochs_since_best += 1
    log.info("epoch %d: train %.5f  val %.5f  MAE %.4f  R² %.3f%s", epoch + 1, stats["loss"], val_loss,
             metrics["mae"], metrics["r2"], "  (best)" if improved else "")
    run.board.epoch(state.history[-1], run.model, run.data.val, run.ctx.device)
    last_phase = runner.phase == run.phases[-1]
    state.stopped_early = bool(last_phase and config.patience and state.epochs_since_best >= config.patience)
    state.epoch = epoch + 1
    return metrics, val_loss, improved


def _save_epoch(run: _Run, state: TrainState, metrics: dict[str, float], val_loss: float, improved: bool,
                written: _Written) -> None:
    """best.pt when the epoch improved, then last.pt (with everything to resume) and history.json."""
    epoch = state.epoch
    model_config = ModelConfig(name=run.config.model)
    run_metrics = {**metrics, "val_loss": val_loss, "epoch": epoch,
                   **{f"baseline_{k}": v for k, v in run.baseline.items()}}
    if improved:
        _save(run.best_path, run.model, model_config, run.data, run.config, run_metrics,
              {"epoch": epoch, "best_val_loss": val_loss, "baseline": run.baseline})
    _save(run.last_path, run.model, model_config, run.data, run.config, run_metrics, {
        **state.to_checkpoint(), "optimizer": run.optimizer.state_dict(), "scheduler": run.scheduler.state_dict(),
        "scaler": run.scaler.state_dict() if run.scaler else None, "rng": rng_states(), "baseline": run.baseline})
    written.last = epoch
    _write_history(run.out, state.history)
    written.history = epoch


def _result(run: _Run, state: TrainState) -> TrainResult:
    """The best checkpoint's validation metrics and plots (rank 0), or the history's best epoch (other ranks)."""
    best_metrics: dict[str, float] = {}
    files: list[Path] = []
    if run.ctx.is_main:
        best_metrics, files = _finish(run.out, run.best_path, run.precision, run.data)
    elif state.history:
        best_metrics = {k: state.history[state.best_epoch - 1][f"val_{k}"] for k in ("mse", "mae", "rmse", "r2")}
    barrier(run.ctx)
    return TrainResult(run.out, run.best_path, run.last_path, state.history, best_metrics, run.baseline,
                       stopped_early=state.stopped_early, files=files)


def barrier_safe(ctx: DistContext) -> None:
    """A barrier that is skipped while an exception is unwinding a single process."""
    try:
        barrier(ctx)
    except RuntimeError as exc:  # another rank already gone: nothing left to wait for
        log.debug("barrier skipped: %s", exc)


def _save(path: Path, model: nn.Module, model_config: ModelConfig, data: DataBundle, config: TrainConfig,
          metrics: dict[str, Any], extra: dict[str, Any]) -> None:
    save_checkpoint(path, model, model_config, data.preprocess, train_config=config.to_dict(), metrics=metrics,
                    extra=extra)


def _resume_note(last: Path, written: _Written, epochs: int, advice: str = "") -> str:
    """What the run folder holds after a stop, and how to go on from there."""
    if not written.last:
        return "no epoch had finished, nothing to resume from"
    holds = "and history.json hold" if written.history == written.last else "holds"
    return f"{last} {holds} epoch {written.last} of {epochs}; {advice}continue with --resume {last}"


def _write_history(out: Path, history: list[dict[str, Any]]) -> None:
    atomic_write_text(out / "history.json", json.dumps(history, indent=2) + "\n")
    if history:
        try:
            plots.plot_loss_curve(history, out / "loss_curve.png")
        except OSError as exc:  # a picture is not worth stopping the run for
            log.warning("could not write %s: %s", out / "loss_curve.png", exc)


def _finish(out: Path, best_path: Path, precision: Precision, data: DataBundle) -> tuple[dict[str, float], list[Path]]:
    """Predictions of the best checkpoint on the validation set -> metrics and the plots."""
    if not best_path.is_file():
        return {}, []
    best = load_checkpoint(best_path).build_model(precision.device)
    loader = DataLoader(data.val, batch_size=64, shuffle=False)
    predicted, targets = predict(best, loader, precision)
    # Kept for analyses beyond the summary metrics (steering.study: confusion matrix, error per bin).
    np.savez(out / "val_predictions.npz", predicted=predicted, target=targets)
    files = [out / "config.json", out / "history.json", out / "best.pt", out / "last.pt",
             out / "loss_curve.png", out / "val_predictions.npz",
             plots.plot_predictions(predicted, targets, out / "val_pred_vs_true.png"),
             plots.plot_steering_histograms(data.train_targets, targets, predicted, out / "steering_hist.png")]
    return regression_metrics(predicted, targets), files
