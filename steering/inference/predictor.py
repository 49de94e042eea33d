"""`Predictor`: a checkpoint turned into the fastest correct steering function on this machine.

    predictor = Predictor("model.pt", InferenceConfig(device="auto"))
    steering = predictor.predict(frame_rgb)            # uint8 160x320x3 RGB -> float
    x = predictor.prepare(frame_rgb); predictor.infer(x)  # the same, in two timed steps

Preprocessing is the checkpoint's own `PreprocessConfig` through `steering.preprocess`, the one
definition training uses. The runtime (torch, torchscript, onnx, openvino, ...) comes from the
registry in `steering.inference.runtimes`, chosen by `backend` and `precision` through the accuracy
gate of `steering.inference.gate` (steering within `runtimes.TOLERANCE` of eager fp32 on real or
shipped frames); `predictor.choice` is the one line that says what was chosen and why. The server
(`steering.drive.udacity.server`) decides when and in which thread `infer` runs.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from steering.checkpoint import CheckpointError, load_checkpoint
from steering.cli import option
from steering.inference import exported, gate, runtimes
from steering.inference.runtimes import DEVICES, PRECISIONS, BuildContext, resolve_device
from steering.preprocess import preprocess_frame
from steering.udacity import FRAME_HEIGHT, FRAME_WIDTH

log = logging.getLogger(__name__)

# "flip": also steer on the mirrored frame, negated (the track's left-right symmetry); see steering.inference.ensemble
TTA_MODES = ("none", "flip")


@dataclass(frozen=True)
class InferenceConfig:
    """Where and how the model runs."""

    device: str = option("auto", help="where the model runs; auto picks cuda when available", choices=DEVICES)
    backend: str = option("auto", help=runtimes.backend_help, choices=runtimes.backends)
    precision: str = option("auto", choices=PRECISIONS,
                            help="auto: the runtime's own choice (openvino: bf16 on CPUs with AVX512-BF16/AMX; "
                                 "CUDA: the fastest of fp16/bf16/fp32 measured at start), kept only within 0.01 "
                                 "of eager fp32; int8: statically quantized on --calibration frames, kept only "
                                 "within the same gate")
    threads: int = option(0, help="CPU threads for the model; 0 = all cores this process may use")
    calibration: Path | None = option(None, help="int8: a driving_log.csv whose frames calibrate the "
                                                 "quantization (default: the checkpoint's training logs)")
    tta: str = option("none", choices=TTA_MODES,
                      help="test-time augmentation: flip = steer with the mean of f(frame) and -f(mirrored "
                           "frame), two forward passes per model and frame (steering.inference.ensemble)")
    warmup: int = 3  # forward passes at start, so the first real frame is not the slow one

    def __post_init__(self) -> None:
        for name, value, allowed in (("device", self.device, DEVICES), ("backend", self.backend, runtimes.backends()),
                                     ("precision", self.precision, PRECISIONS), ("tta", self.tta, TTA_MODES)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
        if self.threads < 0:
            raise ValueError(f"threads must be >= 0, got {self.threads}")


def cpu_threads(requested: int = 0) -> int:
    """Intra-op threads: the request, or every core this process may run on (cgroup-aware)."""
    if requested > 0:
        return requested
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class Predictor:
    """A checkpoint ready to steer: `predict(frame) -> float`, steering in [-1, 1]-ish units (unclipped).

    Raises CheckpointError at construction for a missing or unreadable checkpoint.
    """

    def __init__(self, checkpoint: str | Path, config: InferenceConfig | None = None) -> None:
        self.config = config or InferenceConfig()
        self.checkpoint = Path(checkpoint)
        self.device = resolve_device(self.config.device)
        runtimes.check_precision(self.config.precision, self.device)
        self.threads = cpu_threads(self.config.threads)
        start = time.perf_counter()
        if exported.is_exported(self.checkpoint):  # .onnx/.xml/.ts: the file fixes the runtime; no gate here
            loaded = exported.load(self.checkpoint, self.config.device, self.config.backend,
                                   self.config.precision, self.threads)
            self.device, self.preprocess, self.runtime = loaded.device, loaded.record.preprocess, loaded.runtime
            self.backend, self.precision, self.choice = loaded.record.format, loaded.runtime.precision, loaded.reason
            self.gate_max_diff = float((loaded.record.verification or {}).get("max_abs_diff", "nan"))
            self.training_logs, self.model_name = [], self.checkpoint.name
            self._forward = self.runtime.forward
            self.configure_thread()
            self.warm_up(self.config.warmup)
            log.info("predictor ready in %.2f s: %s", time.perf_counter() - start, self.choice)
            return
        stored = load_checkpoint(self.checkpoint)
        try:
            model = stored.build_model("cpu")
        except RuntimeError as exc:  # load_state_dict: keys or shapes differ from the architecture
            raise CheckpointError(f"{checkpoint}: weights do not match model "
                                  f"{stored.model_config.name!r}: {exc}") from exc
        self.preprocess = stored.preprocess
        self.training_logs: list[str] = list((stored.train_config or {}).get("logs") or [])
        self.model_name = self.checkpoint.name
        self.configure_thread()
        frames, source = gate.gate_frames(self.training_logs)
        picked = gate.choose(model, self.device, self.config.backend, self.config.precision, self._context,
                               gate.prepared(frames, self.preprocess), source)
        self.runtime, self.backend, self.precision = picked.runtime, picked.spec.name, picked.runtime.precision
        self.gate_max_diff, self.choice = picked.max_diff, picked.reason
        self._forward = self.runtime.forward
        self.warm_up(self.config.warmup)
        log.info("predictor ready in %.2f s: %s", time.perf_counter() - start, self.choice)

    # ------------------------------------------------------------------ set-up

    def _context(self, precision: str) -> BuildContext:
        return BuildContext(self.device, precision, self.threads, self.preprocess, self.checkpoint,
                            calibration=self._calibration_frames)

    def _calibration_frames(self) -> tuple[list[np.ndarray], str]:
        """int8 calibration: frames of --calibration, else of the checkpoint's training logs."""
        logs = [str(self.config.calibration)] if self.config.calibration else self.training_logs
        if not logs:
            raise RuntimeError("int8 needs calibration frames: pass --calibration driving_log.csv (this "
                               "checkpoint records no training logs)")
        frames, source = gate.log_frames(logs, gate.CALIBRATION_FRAMES)
        return [x.numpy() for x in gate.prepared(frames, self.preprocess)], source

    def configure_thread(self) -> None:
        """Apply the CPU thread count. Call it in every thread that runs `infer` (OpenMP settings
        are per thread)."""
        if self.device.type == "cpu":
            torch.set_num_threads(self.threads)

    def describe(self) -> str:
        where = f"cpu x{self.threads}" if self.device.type == "cpu" else str(self.device)
        return f"{self.checkpoint} on {where}, backend {self.backend}, {self.precision}"

    def _example(self) -> torch.Tensor:
        return torch.zeros(1, *self.preprocess.input_shape)  # (1, 3, H, W)

    def warm_up(self, passes: int) -> None:
        x = self._example()[0]
        for _ in range(passes):
            self.infer(x)

    # ------------------------------------------------------------------ per frame

    def prepare(self, frame: np.ndarray) -> torch.Tensor:
        """uint8 RGB 160x320x3 -> float32 (3, H, W), the checkpoint's preprocessing. Raises FrameError."""
        return preprocess_frame(frame, self.preprocess)

    def infer(self, x: torch.Tensor) -> float:
        """(3, H, W) float32 -> steering (may be NaN if the model produces it; the caller checks)."""
        with torch.inference_mode():
            out = self._forward(x.unsqueeze(0))  # (1,)
            if self.device.type == "cuda":
                return float(out.reshape(-1)[0].item())  # .item() synchronises
            return float(out.reshape(-1)[0])

    def predict(self, frame: np.ndarray) -> float:
        return self.infer(self.prepare(frame))


def blank_frame() -> np.ndarray:
    """A grey simulator-sized frame (uint8 160x320x3), for warm-ups and smoke tests."""
    return np.full((FRAME_HEIGHT, FRAME_WIDTH, 3), 128, dtype=np.uint8)

