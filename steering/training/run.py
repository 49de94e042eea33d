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
"""
from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from steering.checkpoint import (
    CheckpointWriteError,
    atomic_write_text,
    load_checkpoint,
    remove_stale_temp_files,
    save_checkpoint,
)
from steering.data import make_loader
from steering.model import ModelConfig, SteeringRegressor
from steering.training import feature_cache, plots
from steering.training.config import TrainConfig
from steering.training.data_setup import DataBundle, bundle_from_logs, resolve_augment_mode
from steering.training.distributed import DistContext, barrier, init_distributed
from steering.training.interrupts import StopSignals, TrainingInterrupted
from steering.training.loop import (
    HeadRegressor,
    NonFiniteLossError,
    Precision,
    choose_precision,
    make_loss,
    predict,
    train_one_epoch,
)
from steering.training.metrics import baseline_metrics, regression_metrics, summary_table
from steering.training.model_setup import build_model
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
class _PhaseRunner:
    """What one phase trains: the full model on images, or the head on cached features."""

    net: nn.Module  # possibly DDP-wrapped; maps a batch to (B,)
    precision: Precision
    eval_net: nn.Module
    train_set: Dataset
    sampler: DistributedSampler
    train_loader: DataLoader
    val_loader: DataLoader
    cached: bool

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)
        if hasattr(self.train_set, "set_epoch"):
            self.train_set.set_epoch(epoch)


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
    out = Path(config.out)
    resume = load_checkpoint(config.resume) if config.resume else None
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
    state: dict[str, Any] = {"epoch": 0, "history": [], "best_val_loss": math.inf, "best_epoch": -1,
                             "epochs_since_best": 0, "stopped_early": False}
    if resume:
        extra = resume.extra
        optimizer.load_state_dict(extra["optimizer"])
        scheduler.load_state_dict(extra["scheduler"])
        if scaler and extra.get("scaler"):
            scaler.load_state_dict(extra["scaler"])
        state.update({k: extra[k] for k in state if k in extra})
        restore_rng_states(extra["rng"])
        log.info("resumed %s after epoch %d", config.resume, state["epoch"])

    baseline = baseline_metrics(float(np.mean(data.train_targets)), data.val_targets)
    paths = {"best": out / "best.pt", "last": out / "last.pt"}
    if ctx.is_main:
        out.mkdir(parents=True, exist_ok=True)
        remove_stale_temp_files(out, RUN_FILES)  # left by a write that a SIGKILL cut short
        atomic_write_text(out / "config.json", json.dumps(config.to_dict(), indent=2) + "\n")
        if resume:  # a kill between last.pt and history.json leaves the history one epoch behind
            _write_history(out, state["history"])
    log.info("data: %s; device %s%s; strategy %s: %s", data.description, ctx.device,
             f" x{ctx.world_size}" if ctx.distributed else "", config.strategy,
             ", ".join(f"epoch {p.start + 1}: {p.describe()}" for p in phases))

    model_config = ModelConfig(name=config.model)
    current: Phase | None = None
    runner: _PhaseRunner | None = None
    predicted = targets = np.zeros(0)
    saved = {"last": state["epoch"], "history": state["epoch"]}  # the epochs last.pt and history.json hold
    stop = StopSignals().install()
    try:
        for epoch in range(state["epoch"], config.epochs):
            phase = phase_at(phases, epoch)
            if phase != current:
                if epoch == phase.start and epoch > 0:  # also when a resumed run starts at a phase switch
                    state["epochs_since_best"] = 0  # a new phase deserves its own patience
                apply_phase(model, phase)
                log.info("epoch %d: %s; %s", epoch + 1, phase.describe(), trainable_summary(model))
                board.phase(epoch, phase.describe(), model)
                runner = _make_runner(config, data, model, phase, ctx)
                current = phase
            runner.set_epoch(epoch)
            epoch_lr = group_learning_rates(optimizer)  # what this epoch trains with (the scheduler acts after it)
            stats = train_one_epoch(runner.net, runner.train_loader, optimizer, loss_fn, runner.precision, ctx, epoch,
                                    accumulate=config.accumulate, grad_clip=config.grad_clip, scaler=scaler,
                                    progress=config.progress,
                                    desc=f"epoch {epoch + 1}/{config.epochs}{' (cached)' if runner.cached else ''}")
            started = time.perf_counter()
            predicted, targets = predict(runner.eval_net, runner.val_loader, runner.precision)
            metrics = regression_metrics(predicted, targets)
            val_loss = float(loss_fn(torch.from_numpy(predicted), torch.from_numpy(targets)))
            scheduler.step(val_loss)
            improved = val_loss < state["best_val_loss"]
            state["history"].append(
                {
                    "epoch": epoch + 1,
                    "phase": phase.describe(),
                    "cached": runner.cached,
                    "train_loss": stats["loss"],
                    "val_loss": val_loss,
                    **{f"val_{k}": v for k, v in metrics.items()},
                    "baseline_mse": baseline["mse"],
                    "baseline_mae": baseline["mae"],
                    "lr": epoch_lr,
                    "train_images": stats["images"],
                    "train_seconds": stats["seconds"],
                    "val_seconds": time.perf_counter() - started,
                    "images_per_s": stats["images_per_s"],
                }
            )
            if improved:
                state.update(best_val_loss=val_loss, best_epoch=epoch + 1, epochs_since_best=0)
            else:
                state["epochs_since_best"] += 1
            log.info("epoch %d: train %.5f  val %.5f  MAE %.4f  R² %.3f%s", epoch + 1, stats["loss"], val_loss,
                     metrics["mae"], metrics["r2"], "  (best)" if improved else "")
            board.epoch(state["history"][-1], model, data.val, ctx.device)
            last_phase = phase == phases[-1]
            state["stopped_early"] = bool(
                last_phase and config.patience and state["epochs_since_best"] >= config.patience
            )
            state["epoch"] = epoch + 1
            if ctx.is_main:
                run_metrics = {**metrics, "val_loss": val_loss, "epoch": epoch + 1,
                               **{f"baseline_{k}": v for k, v in baseline.items()}}
                with stop.deferred():  # Ctrl-C/SIGTERM wait: last.pt and history.json change together
                    if improved:
                        _save(paths["best"], model, model_config, data, config, run_metrics,
                              {"epoch": epoch + 1, "best_val_loss": val_loss, "baseline": baseline})
                    _save(paths["last"], model, model_config, data, config, run_metrics, {
                        **state, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                        "scaler": scaler.state_dict() if scaler else None, "rng": rng_states(), "baseline": baseline})
                    saved["last"] = epoch + 1
                    _write_history(out, state["history"])
                    saved["history"] = epoch + 1
            else:
                saved.update(last=epoch + 1, history=epoch + 1)  # what rank 0 wrote
            if state["stopped_early"]:
                log.info("early stopping: no validation improvement for %d epochs", config.patience)
                break
    except NonFiniteLossError:
        if ctx.is_main:
            _write_history(out, state["history"])
        raise
    except TrainingInterrupted as exc:
        exc.args = (f"stopped by {exc.signal_name}: {_resume_note(paths['last'], saved, config.epochs)}",)
        raise
    except CheckpointWriteError as exc:
        note = _resume_note(paths["last"], saved, config.epochs, advice="free some space, then ")
        exc.args = (f"{exc}. Training stopped: {note}",)
        raise
    finally:
        board.close()
        stop.restore()
        barrier_safe(ctx)

    best_metrics = {}
    files: list[Path] = []
    if ctx.is_main:
        best_metrics, files = _finish(out, paths["best"], precision, data)
    elif state["history"]:
        best_metrics = {k: state["history"][state["best_epoch"] - 1][f"val_{k}"] for k in ("mse", "mae", "rmse", "r2")}
    barrier(ctx)
    return TrainResult(out, paths["best"], paths["last"], state["history"], best_metrics, baseline,
                       stopped_early=state["stopped_early"], files=files)


def barrier_safe(ctx: DistContext) -> None:
    """A barrier that is skipped while an exception is unwinding a single process."""
    try:
        barrier(ctx)
    except RuntimeError as exc:  # another rank already gone: nothing left to wait for
        log.debug("barrier skipped: %s", exc)


def _make_runner(config: TrainConfig, data: DataBundle, model: SteeringRegressor, phase: Phase,
                 ctx: DistContext) -> _PhaseRunner:
    mode = resolve_augment_mode(config, phase.backbone_frozen)
    cached = config.cache and phase.backbone_frozen and mode in ("flip", "none")
    if cached:
        train_cache = _feature_cache(config, data, model, ctx, "train", data.make_train("none"), data.train_ids,
                                     with_flip=mode == "flip")
        val_cache = _feature_cache(config, data, model, ctx, "val", data.val, data.val_ids, with_flip=False)
        train_set: Dataset = feature_cache.CachedFeatureDataset(
            train_cache, config.flip_probability if mode == "flip" else 0.0, seed=config.seed)
        val_set: Dataset = feature_cache.CachedFeatureDataset(val_cache, 0.0)
        module: nn.Module = HeadRegressor(model.head)
    else:
        train_set, val_set, module = data.make_train("full" if mode == "full" else "none"), data.val, model
        if mode == "flip":
            train_set = feature_cache.FlipDataset(train_set, config.flip_probability, seed=config.seed)
    sampler = DistributedSampler(train_set, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=config.seed)
    per_rank = len(sampler)
    # A last batch of one sample cannot give BatchNorm batch statistics: drop just that case.
    drop_last = per_rank % config.batch_size == 1 and per_rank > 1
    net = module
    if ctx.distributed:
        net = DistributedDataParallel(module, device_ids=[ctx.device] if ctx.device.type == "cuda" else None)
    return _PhaseRunner(
        net=net, precision=choose_precision(ctx.device, config.amp, backbone_trains=not phase.backbone_frozen),
        eval_net=module, train_set=train_set, sampler=sampler,
        train_loader=_loader(train_set, config, sampler=sampler, drop_last=drop_last),
        val_loader=_loader(val_set, config, sampler=None, drop_last=False),
        cached=cached,
    )


def _loader(dataset: Dataset, config: TrainConfig, sampler: DistributedSampler | None, drop_last: bool) -> DataLoader:
    # make_loader's seeded generator keeps DataLoader off the global torch RNG, so caching, resuming
    # or an extra validation pass never shifts the dropout masks of later batches.
    return make_loader(dataset, config.batch_size, shuffle=False, workers=config.workers, seed=config.seed,
                       sampler=sampler, drop_last=drop_last)


def _feature_cache(config: TrainConfig, data: DataBundle, model: SteeringRegressor, ctx: DistContext, split: str,
                   dataset: Dataset, ids: list[str], with_flip: bool) -> feature_cache.FeatureCache:
    key = feature_cache.cache_key(config.model, model.backbone, data.preprocess, ids)
    path = config.feature_cache_dir / f"{config.model}-{split}{'' if with_flip else '-noflip'}-{key}.pt"

    def build() -> feature_cache.FeatureCache:
        return feature_cache.compute_features(
            model.backbone,
            dataset,
            ctx.device,
            batch_size=max(config.batch_size, 64),
            progress=config.progress and ctx.is_main,
            with_flip=with_flip,
        )

    # Rank 0 builds and writes; the others wait, then read the same file.
    cache = feature_cache.load_or_build(path, build) if ctx.is_main else None
    barrier(ctx)
    if cache is None:
        cache = feature_cache.load_or_build(path, build, write=False)
    return cache


def _save(path: Path, model: nn.Module, model_config: ModelConfig, data: DataBundle, config: TrainConfig,
          metrics: dict[str, Any], extra: dict[str, Any]) -> None:
    save_checkpoint(path, model, model_config, data.preprocess, train_config=config.to_dict(), metrics=metrics,
                    extra=extra)


def _resume_note(last: Path, saved: dict[str, int], epochs: int, advice: str = "") -> str:
    """What the run folder holds after a stop, and how to go on from there."""
    if not saved["last"]:
        return "no epoch had finished, nothing to resume from"
    holds = "and history.json hold" if saved["history"] == saved["last"] else "holds"
    return f"{last} {holds} epoch {saved['last']} of {epochs}; {advice}continue with --resume {last}"


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
