"""Training under faults: killed mid-epoch, or stopped by Ctrl-C/SIGTERM (disk full: test_disk_full.py).

The signal tests run `python train.py` as a subprocess on a small line recording (PilotNet, a few
dozen frames) and stop it once its stderr shows that the epoch after a saved one has trained a batch
(tqdm's bar), never after a fixed sleep; then they check what the run folder holds and that
`--resume last.pt` ends with the history of an uninterrupted run.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from steering.checkpoint import load_checkpoint, load_model
from steering.data.synthetic import write_line_recording

REPO = Path(__file__).resolve().parents[1]
EPOCHS = 3
# Two-phase even from scratch: epoch 1 trains the head on cached features with flips, epoch 2 (where
# the runs are stopped) starts phase 2 with full augmentation, so a resume starts at a phase switch.
FLAGS = ["--model", "pilotnet", "--pretrained", "none", "--strategy", "two-phase", "--head-epochs", "1",
         "--unfreeze-stages", "2", "--epochs", str(EPOCHS), "--batch-size", "8", "--lr", "1e-3",
         "--backbone-lr", "1e-3", "--seed", "1"]
# One thread per run: every run computes with the same kernels, and parallel runs share 2 cores.
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
TIMING_KEYS = ("train_seconds", "val_seconds", "images_per_s")
TIMEOUT_S = 240  # a loaded 2-core machine; a healthy run takes a fraction of this


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    return write_line_recording(tmp_path_factory.mktemp("rec"), count=120, seed=3)


class Run:
    """`python train.py` in the background, stderr (logs and tqdm bars) into a file."""

    started: list[Run] = []

    def __init__(self, log: Path, out: Path, *extra: str, workers: int = 0, sigint: object = signal.SIG_DFL):
        """`sigint`: the SIGINT disposition train.py starts with (SIG_IGN: as a script's `&` job
        inherits it), set in the child whatever this process's own is."""
        self.out = out
        out.parent.mkdir(parents=True, exist_ok=True)
        self.err_path = out.parent / f"{out.name}.stderr"
        self.err = self.err_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(REPO / "train.py"), str(log), *FLAGS, "--workers", str(workers), "--out", str(out),
             *extra], cwd=REPO, env=ENV, stdout=subprocess.PIPE, stderr=self.err, start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, sigint))
        Run.started.append(self)

    def stop(self) -> None:
        """Kill the run and its DataLoader workers if it is still going (a failed test's leftovers)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def wait(self) -> tuple[int, str, str]:
        stdout, _ = self.proc.communicate(timeout=TIMEOUT_S)
        self.err.close()
        return self.proc.returncode, stdout.decode(), self.stderr()

    def training(self, epoch: int) -> bool:
        """Whether epoch `epoch` (1-based) has trained at least one batch, per its progress bar."""
        if self.proc.poll() is not None:
            pytest.fail(f"train.py ended (rc {self.proc.returncode}) before epoch {epoch} ran:\n{self.stderr()}")
        return re.search(rf"epoch {epoch}/{EPOCHS}[^\r\n]*?\| *[1-9]\d*/\d+ ", self.stderr()) is not None


def signal_inside_epoch(epoch: int, *runs_and_signals: tuple[Run, Callable[[int], None]]) -> None:
    """Signal each run as soon as `epoch` has trained a batch (polling, runs in parallel)."""
    waiting = list(runs_and_signals)
    deadline = time.monotonic() + TIMEOUT_S
    while waiting:
        for run, send in [(run, send) for run, send in waiting if run.training(epoch)]:
            send(run.proc.pid)
            waiting.remove((run, send))
        if time.monotonic() > deadline:
            pytest.fail(f"epoch {epoch} never started:\n{waiting[0][0].stderr()}")
        time.sleep(0.02)


@pytest.fixture(autouse=True)
def _tidy_test():
    """One torch thread in this process (two oversubscribe a busy 2-core machine several-fold); no
    train.py left running after a failed test."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    for run in Run.started:
        run.stop()
    Run.started.clear()


def assert_same_history(got: list[dict], expected: list[dict]) -> None:
    """Equal but for wall-clock fields; numbers within 1e-6."""
    got, expected = ([{k: v for k, v in h.items() if k not in TIMING_KEYS} for h in x] for x in (got, expected))
    assert [sorted(h) for h in got] == [sorted(h) for h in expected]
    for a, b in zip(got, expected, strict=True):
        for key in b:
            if isinstance(b[key], float):
                assert a[key] == pytest.approx(b[key], rel=0, abs=1e-6), (a["epoch"], key)
            else:
                assert a[key] == b[key], (a["epoch"], key)


def read_history(out: Path) -> list[dict]:
    return json.loads((out / "history.json").read_text())


@pytest.fixture(scope="module")
def reference(recording, tmp_path_factory):
    """The uninterrupted run, started once and left running while the first test stops its own."""
    run = Run(recording, tmp_path_factory.mktemp("reference") / "run")
    Run.started.remove(run)  # outlives the test that starts it

    def finished() -> Path:
        if run.proc.returncode is None:
            code, _, err = run.wait()
            assert code == 0, err
        return run.out

    yield finished
    run.stop()


def test_resume_after_sigkill_mid_epoch_equals_the_uninterrupted_run(recording, reference, tmp_path):
    run = Run(recording, tmp_path / "run")
    signal_inside_epoch(2, (run, lambda pid: os.kill(pid, signal.SIGKILL)))
    code, _, _ = run.wait()
    assert code == -signal.SIGKILL
    assert load_checkpoint(run.out / "last.pt").extra["epoch"] == 1, "the kill did not land inside epoch 2"

    resumed = Run(recording, run.out, "--resume", str(run.out / "last.pt"))
    code, printed, err = resumed.wait()
    assert code == 0, err
    assert f"model to drive: {run.out / 'best.pt'}" in printed
    expected = reference()
    history = read_history(run.out)
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert_same_history(history, read_history(expected))
    for name in ("best.pt", "last.pt"):
        got, want = load_checkpoint(run.out / name), load_checkpoint(expected / name)
        assert got.extra["epoch"] == want.extra["epoch"]
        for key, tensor in want.state_dict.items():
            torch.testing.assert_close(got.state_dict[key], tensor, rtol=0, atol=1e-6, msg=f"{name} {key}")
    load_model(run.out / "best.pt")
    assert not list(run.out.glob(".*.tmp")), "temporary files left in the run folder"


def assert_stopped_in_step(run: Run, signum: int, epoch: int) -> None:
    """Exit 128 + signum, one line saying what last.pt holds, and history.json in step with last.pt."""
    code, printed, err = run.wait()
    assert code == 128 + signum, err
    assert "Traceback" not in err and "model to drive" not in printed
    last_path = run.out / "last.pt"
    message = [line for line in err.splitlines() if line.startswith("train.py:")]
    assert message == [(f"train.py: stopped by {signal.Signals(signum).name}: {last_path} and history.json hold "
                        f"epoch {epoch} of {EPOCHS}; continue with --resume {last_path}")]
    last = load_checkpoint(last_path)
    assert last.extra["epoch"] == epoch
    assert read_history(run.out) == last.extra["history"] and len(last.extra["history"]) == epoch
    assert load_checkpoint(run.out / "best.pt").metrics["epoch"] <= epoch
    assert not list(run.out.glob(".*.tmp"))


def test_sigterm_and_ctrl_c_stop_cleanly_with_last_checkpoint_and_history_in_step(recording, tmp_path):
    # SIGTERM as `kill` sends it; Ctrl-C as a terminal does: SIGINT to the whole process group, the
    # DataLoader worker included; and SIGINT to a run a script started in the background (SIGINT
    # ignored at start: before train.py took it back, that run trained on to the end).
    term, ctrl_c = Run(recording, tmp_path / "term"), Run(recording, tmp_path / "ctrl-c", workers=1)
    background = Run(recording, tmp_path / "background", sigint=signal.SIG_IGN)
    signal_inside_epoch(2, (term, lambda pid: os.kill(pid, signal.SIGTERM)),
                        (ctrl_c, lambda pid: os.killpg(pid, signal.SIGINT)),
                        (background, lambda pid: os.kill(pid, signal.SIGINT)))
    assert_stopped_in_step(term, signal.SIGTERM, epoch=1)
    assert_stopped_in_step(ctrl_c, signal.SIGINT, epoch=1)
    assert_stopped_in_step(background, signal.SIGINT, epoch=1)


@pytest.fixture()
def no_plots(monkeypatch):
    """No PNGs where the pictures are beside the point: matplotlib costs seconds per run."""
    import steering.training.run as run_module

    monkeypatch.setattr(run_module, "plots", SimpleNamespace(
        plot_loss_curve=lambda history, path: path, plot_predictions=lambda predicted, targets, path: path,
        plot_steering_histograms=lambda train_targets, targets, predicted, path: path))


# --- stops inside the process -------------------------------------------------------------------------------------

def _line_config(tmp_path, **changes):
    from steering.training import TrainConfig

    values = {"model": "pilotnet", "pretrained": "none", "strategy": "finetune", "epochs": 3, "batch_size": 16,
              "lr": 1e-3, "backbone_lr": 1e-3, "device": "cpu", "progress": False, "out": str(tmp_path / "run"),
              "seed": 7}
    return TrainConfig(**{**values, **changes})


@pytest.fixture(scope="module")
def bundle():
    from steering.model import default_preprocess
    from steering.training.synthetic import line_bundle

    return line_bundle(32, default_preprocess("pilotnet"), seed=5)


def test_ctrl_c_during_the_epoch_writes_waits_until_history_matches_last_checkpoint(bundle, tmp_path, monkeypatch,
                                                                                   no_plots, request):
    import steering.training.run as run_module
    from steering.training import fit
    from steering.training.interrupts import TrainingInterrupted

    real_save = run_module.save_checkpoint

    def save_then_ctrl_c(path, *args, **kwargs):
        written = real_save(path, *args, **kwargs)
        if Path(path).name == "last.pt" and kwargs["extra"]["epoch"] == 2:
            os.kill(os.getpid(), signal.SIGINT)  # between last.pt and history.json of epoch 2
        return written

    monkeypatch.setattr(run_module, "save_checkpoint", save_then_ctrl_c)
    # Python's own Ctrl-C handler, as in a terminal, even when pytest itself started with SIGINT ignored
    outer = signal.signal(signal.SIGINT, signal.default_int_handler)
    request.addfinalizer(lambda: signal.signal(signal.SIGINT, outer))
    handler = signal.getsignal(signal.SIGINT)
    config = _line_config(tmp_path)
    with pytest.raises(KeyboardInterrupt) as info:
        fit(config, bundle)
    assert isinstance(info.value, TrainingInterrupted) and info.value.exit_code == 130
    last_path = Path(config.out) / "last.pt"
    assert str(info.value) == (f"stopped by SIGINT: {last_path} and history.json hold epoch 2 of 3; "
                               f"continue with --resume {last_path}")
    last = load_checkpoint(last_path)
    assert last.extra["epoch"] == 2
    assert read_history(Path(config.out)) == last.extra["history"] and len(last.extra["history"]) == 2
    assert signal.getsignal(signal.SIGINT) is handler, "the previous SIGINT handler was not restored"


def test_the_library_leaves_an_ignored_sigint_ignored_and_the_command_line_takes_it_back():
    from steering.training.interrupts import StopSignals, listen_to_ctrl_c

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with StopSignals():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        listen_to_ctrl_c()
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        signal.signal(signal.SIGINT, own := lambda signum, frame: None)
        listen_to_ctrl_c()
        assert signal.getsignal(signal.SIGINT) is own, "a handler of its own is kept"
    finally:
        signal.signal(signal.SIGINT, previous)


def test_after_a_stop_signal_a_workers_hung_up_connection_is_not_reported_but_other_errors_are(monkeypatch):
    from steering.training.interrupts import StopSignals, TrainingInterrupted

    seen = []
    monkeypatch.setattr(sys, "excepthook", lambda kind, value, tb: seen.append(kind))
    stops = StopSignals()
    with pytest.raises(TrainingInterrupted):
        stops._handle(signal.SIGINT, None)  # what the signal calls
    for kind in (ConnectionResetError, EOFError, RuntimeError):  # multiprocessing's resource sharer reports so
        sys.excepthook(kind, kind("x"), None)
    assert seen == [RuntimeError], "a worker's reset connection is noise on a clean stop; other errors are not"
    with pytest.raises(TrainingInterrupted):
        stops._handle(signal.SIGTERM, None)
    sys.excepthook(EOFError, EOFError("x"), None)
    sys.excepthook(ValueError, ValueError("x"), None)
    assert seen == [RuntimeError, ValueError]


def test_resume_tidies_what_a_kill_during_the_writes_leaves(bundle, tmp_path, no_plots):
    from steering.training import fit

    config = _line_config(tmp_path, epochs=2)
    fit(config, bundle)
    out = Path(config.out)
    full_history = read_history(out)
    (out / "history.json").write_text(json.dumps(full_history[:1]))  # killed between last.pt and history.json
    stale = [out / ".last.pt.k2j4.tmp", out / ".history.json.x8a1.tmp"]  # killed inside atomic writes
    for path in stale:
        path.write_bytes(b"half a file")
    (out / "notes.txt").write_text("mine")
    fit(dataclasses.replace(config, resume=str(out / "last.pt")), bundle)  # nothing left to train
    assert not any(path.exists() for path in stale)
    assert (out / "notes.txt").read_text() == "mine"
    assert read_history(out) == load_checkpoint(out / "last.pt").extra["history"] == full_history


class _EpochTrain(torch.utils.data.Dataset):
    """The training frames, telling `clock` which epoch runs (the trainer calls set_epoch)."""

    def __init__(self, base, clock: dict):
        self.base, self.clock = base, clock

    def set_epoch(self, epoch: int) -> None:
        self.clock["epoch"] = epoch

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index):
        return self.base[index]


class _DriftingVal(torch.utils.data.Dataset):
    """Validation targets moved by 3.0 after the first epoch: only epoch 1 can be the best."""

    def __init__(self, base, clock: dict):
        self.base, self.clock = base, clock

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index):
        x, y = self.base[index]
        return x, y + (3.0 if self.clock["epoch"] > 0 else 0.0)


def test_resume_at_a_phase_switch_keeps_the_early_stopping_count_of_an_uninterrupted_run(bundle, tmp_path, no_plots):
    # Epoch 1 is the best; patience 2 counts per phase. Uninterrupted: epoch 2 (head) counts 1, the switch
    # to phase 2 resets, epochs 3 and 4 count 1 and 2 -> stop after epoch 4. A run resumed after epoch 2
    # must reset at the switch too, not stop after epoch 3.
    from steering.training import fit

    clock = {"epoch": 0}
    plain = bundle.make_train("none")
    drifting = dataclasses.replace(bundle, make_train=lambda mode: _EpochTrain(plain, clock),
                                   val=_DriftingVal(bundle.val, clock))
    config = _line_config(tmp_path / "a", strategy="two-phase", head_epochs=2, unfreeze_stages=1, epochs=6,
                          patience=2, augment="none", cache=False)
    uninterrupted = fit(config, drifting)
    assert uninterrupted.stopped_early and [h["epoch"] for h in uninterrupted.history] == [1, 2, 3, 4]
    part = dataclasses.replace(config, out=str(tmp_path / "b" / "run"))
    fit(dataclasses.replace(part, epochs=2), drifting)
    resumed = fit(dataclasses.replace(part, resume=str(Path(part.out) / "last.pt")), drifting)
    assert resumed.stopped_early
    assert_same_history(resumed.history, uninterrupted.history)
