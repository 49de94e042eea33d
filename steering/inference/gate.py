"""Which runtime steers: the fastest installed one whose steering the accuracy gate lets through.

The gate: steering on a set of frames within `runtimes.TOLERANCE` (0.01) of eager fp32 PyTorch on
the same frames (`max |Δ|`). Frames: 8 center frames spread over the checkpoint's training logs
(`train_config["logs"]`) when they are still readable, else the 8 frames shipped in
`steering/inference/gate_frames/` (headless-simulator renders of the lake and mountain tracks, written
by `python -m steering.sim.gate_frames`).

- `--backend auto` on CPU: the registry's candidates for the precision asked (auto: each runtime's
  own; `runtimes.auto_orders()`, lowest `preference` first; the order is the one measured in
  docs/benchmarks.md) are built one by one; the first within the gate wins. A runtime that is not
  installed, fails to build or misses the gate is skipped with its reason. Eager fp32 is last: it
  is the reference.
- `--backend auto` on CUDA: eager torch at fp16, bf16 and fp32 autocast; each that passes the gate
  is timed (20 passes after a warm-up) and the fastest wins.
- `--precision int8`: kept only within the gate; else, under auto, the other int8 runtimes and then
  the precision-auto order; with an explicit backend, that backend at fp32. Under auto, the first
  int8 runtime within the gate is also timed against the precision-auto order's first within the
  gate (20 passes each after a warm-up), and the faster steers: int8 only where it pays on this
  CPU. int8 needs calibration frames: `--calibration LOG`, or the checkpoint's training logs.
- an explicit `--backend X` at precision auto (X's own choice, e.g. OpenVINO's bf16) is kept only
  within the gate, else X at fp32; at an explicit precision it runs as asked (a warning if it
  misses the gate).

`choose` returns the runtime and one line saying what was chosen and why (drive.py prints it).
"""
from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from steering.data import read_logs
from steering.inference import runtimes
from steering.inference.runtimes import BuildContext, Runtime, RuntimeSpec
from steering.preprocess import FrameError, PreprocessConfig, preprocess_frame, read_frame

log = logging.getLogger(__name__)

GATE_FRAMES = 8
CALIBRATION_FRAMES = 64
SHIPPED = Path(__file__).with_name("gate_frames")
TIMED_PASSES = 20


@dataclass
class Choice:
    spec: RuntimeSpec
    runtime: Runtime
    max_diff: float  # largest |steering - eager fp32| on the gate frames
    reason: str  # one line: what runs, why, what was skipped


# ---------------------------------------------------------------- frames

def log_frames(logs: Sequence[str | Path], count: int) -> tuple[list[np.ndarray], str]:
    """`count` center frames spread evenly over driving logs (uint8 RGB); ValueError if none can be read."""
    logs = [Path(p) for p in logs]
    if not logs or not all(p.is_file() for p in logs):
        raise ValueError(f"log(s) not found: {', '.join(map(str, logs)) or 'none recorded'}")
    rows = read_logs(logs, lenient=True).rows
    picks = np.unique(np.linspace(0, len(rows) - 1, num=min(count, len(rows))).round().astype(int))
    frames = []
    for index in picks:
        try:
            frames.append(read_frame(rows["center"].iloc[index]))
        except FrameError as exc:
            log.debug("skipping an unreadable frame: %s", exc)
    if not frames:
        raise ValueError(f"no readable center frame in {', '.join(map(str, logs))}")
    names = ", ".join(p.parent.name + "/" + p.name for p in logs[:2]) + (" ..." if len(logs) > 2 else "")
    return frames, f"{len(frames)} frames of {names}"


def shipped_frames() -> tuple[list[np.ndarray], str]:
    paths = sorted(SHIPPED.glob("*.jpg"))
    return [read_frame(p) for p in paths], f"{len(paths)} frames shipped with steering (simulator renders)"


def gate_frames(training_logs: Sequence[str] | None, count: int = GATE_FRAMES) -> tuple[list[np.ndarray], str]:
    """The training logs' frames when readable (say so), else the shipped frames."""
    if training_logs:
        try:
            frames, source = log_frames(training_logs, count)
            return frames, source + " (the checkpoint's training log)"
        except (ValueError, OSError) as exc:
            log.info("gate frames: the checkpoint's training logs cannot be read (%s); using shipped frames", exc)
    return shipped_frames()


def prepared(frames: list[np.ndarray], preprocess: PreprocessConfig) -> list[torch.Tensor]:
    return [preprocess_frame(f, preprocess) for f in frames]


# ---------------------------------------------------------------- gate and timing

def steering_of(forward: Callable[[torch.Tensor], torch.Tensor], inputs: list[torch.Tensor]) -> np.ndarray:
    with torch.inference_mode():
        return np.array([float(forward(x.unsqueeze(0)).reshape(-1)[0]) for x in inputs])


def seconds_per_pass(forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> float:
    """Median seconds of one synchronised batch-1 pass (the float() waits for the device)."""
    with torch.inference_mode():
        for _ in range(3):
            float(forward(x.unsqueeze(0)).reshape(-1)[0])
        times = []
        for _ in range(TIMED_PASSES):
            start = time.perf_counter()
            float(forward(x.unsqueeze(0)).reshape(-1)[0])
            times.append(time.perf_counter() - start)
    return float(np.median(times))


Candidate = tuple[RuntimeSpec, str]  # (runtime, precision to build with)


def candidates(device: torch.device, precision: str) -> list[Candidate]:
    """What `--backend auto` tries for (device, precision), best first (installed or not)."""
    if device.type == "cuda" and precision == "auto":
        return [(runtimes.RUNTIMES["torch"], p) for p in ("fp16", "bf16", "fp32")]
    order = runtimes.auto_orders().get((device.type, precision), [])
    return [(runtimes.RUNTIMES[name], runtimes.RUNTIMES[name].auto_precision.get(device.type, "fp32")
             if precision == "auto" else precision) for name in order]


def choose(model: torch.nn.Module, device: torch.device, backend: str, precision: str,
           context: Callable[[str], BuildContext], inputs: list[torch.Tensor], source: str) -> Choice:
    """Build the runtime for the request (see module docstring); `context(precision)` makes a
    BuildContext, `inputs` are the preprocessed gate frames and `source` says where they came from."""
    reference = steering_of(model, inputs)  # eager fp32 on CPU, before any runtime touches the model
    gate = f"|Δ| vs eager fp32 on {source}, gate {runtimes.TOLERANCE:g}"
    if backend != "auto":
        return _explicit(model, device, backend, precision, context, inputs, reference, gate)
    return _auto(model, device, precision, context, inputs, reference, gate, [])


def _explicit(model, device, backend, precision, context, inputs, reference, gate) -> Choice:
    """`--backend X`: as asked; a precision X chose itself (auto) or int8 only within the gate, else X fp32."""
    spec, build_precision = runtimes.resolve(backend, device, precision)
    chosen = _try(spec, build_precision, model, context, inputs, reference)
    if not isinstance(chosen, Choice):
        raise RuntimeError(f"--backend {backend} --precision {precision}: {chosen}")
    if chosen.max_diff <= runtimes.TOLERANCE or precision not in ("auto", "int8") or "fp32" not in spec.precisions:
        if chosen.max_diff > runtimes.TOLERANCE:
            log.warning("--backend %s %s moves the steering by %.3g (> %g) on the gate frames; using it as asked",
                        backend, chosen.runtime.precision, chosen.max_diff, runtimes.TOLERANCE)
        chosen.reason = f"{_label(chosen)} as asked (max {gate}: {chosen.max_diff:.1e})"
        return chosen
    missed = f"{_label(chosen)} missed the gate (max |Δ| {chosen.max_diff:.3g})"
    log.warning("%s; using %s fp32 instead", missed, backend)
    fallback = _try(spec, "fp32", model, context, inputs, reference)
    if not isinstance(fallback, Choice):
        raise RuntimeError(f"--backend {backend}: {missed}, and fp32 failed: {fallback}")
    fallback.reason = f"{_label(fallback)}: {missed}; max {gate}: {fallback.max_diff:.1e}"
    return fallback


def _auto(model, device, precision, context, inputs, reference, gate, skipped) -> Choice:
    found = candidates(device, precision)
    order = " > ".join(f"{s.name}" + (f" {p}" if device.type == "cuda" else "") for s, p in found)
    # Each group gives its first candidate within the gate; more than one such pick are timed.
    groups = [[c] for c in found] if device.type == "cuda" and precision == "auto" else [found]
    if precision == "int8":
        groups.append(candidates(device, "auto"))  # int8 outside the gate, or slower: the best of the rest
        order += ", then precision auto"
    picks: list[Choice] = []
    for group in groups:
        for spec, build_precision in group:
            if not spec.installed():
                skipped.append(f"{spec.name} not installed")
                continue
            chosen = _try(spec, build_precision, model, context, inputs, reference)
            if not isinstance(chosen, Choice):
                skipped.append(f"{spec.name} {build_precision}: {chosen}")
                continue
            if chosen.max_diff > runtimes.TOLERANCE:
                skipped.append(f"{_label(chosen)} missed the gate (max |Δ| {chosen.max_diff:.3g})")
                continue
            picks.append(chosen)
            break
    if not picks:
        raise RuntimeError(f"no runtime passed the accuracy gate ({'; '.join(skipped)})")
    if len(picks) == 1:
        chosen = picks[0]
        how = f"first within the gate in the measured order {order}"
    else:
        timed = [(seconds_per_pass(c.runtime.forward, inputs[0]), c) for c in picks]
        chosen = min(timed, key=lambda item: item[0])[1]
        how = f"fastest measured of {', '.join(f'{_label(c)} {1000 * t:.2f} ms' for t, c in timed)}"
    chosen.reason = (f"{_label(chosen)}: auto on {device.type}, {how}; max {gate}: {chosen.max_diff:.1e}"
                     + (f"; skipped: {'; '.join(skipped)}" if skipped else ""))
    return chosen


def _try(spec: RuntimeSpec, precision: str, model: torch.nn.Module, context: Callable[[str], BuildContext],
         inputs: list[torch.Tensor], reference: np.ndarray) -> Choice | str:
    """A built and gated candidate, or why it could not be built."""
    try:
        runtime = spec.build(copy.deepcopy(model), context(precision))  # builds may convert the model in place
        got = steering_of(runtime.forward, inputs)
    except Exception as exc:  # noqa: BLE001 - a candidate that fails costs only itself
        log.debug("runtime %s %s failed", spec.name, precision, exc_info=True)
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:200]
    diff = float(np.max(np.abs(got - reference))) if np.isfinite(got).all() else float("inf")
    return Choice(spec, runtime, diff, "")


def _label(choice: Choice) -> str:
    return f"{choice.spec.name} {choice.runtime.precision}"
