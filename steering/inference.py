"""`Predictor`: a checkpoint turned into the fastest correct steering function on this machine.

    predictor = Predictor("model.pt", InferenceConfig(device="auto"))
    steering = predictor.predict(frame_rgb)            # uint8 160x320x3 RGB -> float
    x = predictor.prepare(frame_rgb); predictor.infer(x)  # the same, in two timed steps

Preprocessing is the checkpoint's own `PreprocessConfig` through `steering.preprocess`, the one
definition training uses. Runtimes (chosen by `backend` and `precision`):

- auto:   on CPU ONNX Runtime when installed, else torch; torch on CUDA (openvino is opt-in).
- torch:  eager PyTorch under `inference_mode`. On CUDA: channels_last, cudnn.benchmark and fp16
  autocast (bf16 where requested); on CPU: fp32 (contiguous: ResNet-50 measured slower in
  channels_last), or bf16 autocast when asked.
- torchscript: traced and frozen (`torch.jit.freeze`), channels_last; bf16 casts the weights.
- onnx:  ONNX Runtime on CPU, the model exported on the fly (or read from `model.onnx` beside the
  checkpoint if that file is newer).
- openvino: OpenVINO's CPU plugin on the model converted from PyTorch (`openvino.convert_model`).
  Precision auto lets OpenVINO choose (bf16 on CPUs with AVX512-BF16/AMX); a start-up check
  against eager fp32 falls back to f32 if its choice moves the steering by 0.02 or more.

The CPU order comes from interleaved measurements on the reference machine (docs/drive.md; figures
in docs/benchmarks.md, from `make bench`). Every runtime stays within 0.02 of the fp32 steering
(tests/test_drive_inference.py).
The server (`steering.server`) decides when and in which thread `infer` runs.
"""
from __future__ import annotations

import io
import logging
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from steering.checkpoint import CheckpointError, load_model
from steering.preprocess import FRAME_HEIGHT, FRAME_WIDTH, PreprocessConfig, preprocess_frame

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")
BACKENDS = ("auto", "torch", "torchscript", "onnx", "openvino")
# What auto tries on CPU before eager torch. OpenVINO measured fastest (docs/benchmarks.md) but stays
# opt-in (--backend openvino): one test run crashed the process (SIGSEGV) while it served beside
# torch training in the same process, and the cause is not yet understood.
CPU_PREFERENCE = ("onnx",)
TOLERANCE = 0.02  # largest steering difference from eager fp32 a faster runtime may make
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass(frozen=True)
class InferenceConfig:
    """Where and how the model runs."""

    device: str = "auto"  # auto: cuda if available, else cpu
    backend: str = "auto"  # auto: CPU_PREFERENCE's first installed runtime on CPU, else torch
    precision: str = "auto"  # auto: fp16 autocast on CUDA; fp32 on CPU (openvino: its own choice)
    threads: int = 0  # CPU intra-op threads; 0 = every core this process may use
    warmup: int = 3  # forward passes at start, so the first real frame is not the slow one

    def __post_init__(self) -> None:
        for name, value, allowed in (("device", self.device, DEVICES), ("backend", self.backend, BACKENDS),
                                     ("precision", self.precision, PRECISIONS)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
        if self.threads < 0:
            raise ValueError(f"threads must be >= 0, got {self.threads}")


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda asked for, but torch sees no CUDA GPU; use --device cpu or auto")
    return torch.device(device)


def _importable(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def resolve_backend(backend: str, device: torch.device, precision: str = "auto") -> str:
    """auto on CPU: ONNX Runtime when installed, else eager torch (ONNX Runtime stays steady when
    other processes compete for the cores; docs/drive.md). OpenVINO, faster still, is opt-in: see
    CPU_PREFERENCE. On CUDA: torch. bf16 on CPU: torchscript (frozen bf16 weights beat bf16
    autocast); ONNX Runtime runs fp32 only."""
    if backend != "auto":
        return backend
    if device.type != "cpu":
        return "torch"
    if precision == "fp16":
        return "torch"  # resolve_precision then explains that fp16 needs CUDA
    installed = [name for name in CPU_PREFERENCE if _importable({"onnx": "onnxruntime"}.get(name, name))]
    if precision == "bf16":
        return "torchscript"
    return installed[0] if installed else "torch"


def resolve_precision(precision: str, device: torch.device, backend: str) -> str:
    if backend == "openvino" and device.type != "cpu":
        raise ValueError("the openvino backend runs on CPU here; use --backend torch on CUDA")
    if precision == "auto":
        if backend == "openvino":
            return "auto"  # OpenVINO picks; Predictor reports what it picked
        return "fp16" if device.type == "cuda" else "fp32"
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("fp16 runs only on CUDA; on CPU use --precision bf16 or fp32")
    if backend == "onnx" and precision != "fp32":
        raise ValueError(f"the onnx backend runs fp32 only (got {precision})")
    return precision


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
        self.backend = resolve_backend(self.config.backend, self.device, self.config.precision)
        if self.backend == "onnx" and self.device.type != "cpu":
            raise ValueError("the onnx backend runs on CPU only; use --backend torch on CUDA")
        self.precision = resolve_precision(self.config.precision, self.device, self.backend)
        self.threads = cpu_threads(self.config.threads)
        model, self.preprocess = load_model(self.checkpoint, device="cpu")
        self.model_name = self.checkpoint.name
        self.configure_thread()
        try:
            self._forward = self._build(model)
        except Exception as exc:  # noqa: BLE001 - only "auto" falls back; an explicit choice raises
            if self.config.backend != "auto" or self.backend == "torch":
                raise
            log.warning("backend %s failed (%s); falling back to eager torch", self.backend, exc)
            self.backend = "torch"
            self._forward = self._build(model)
        start = time.perf_counter()
        self.warm_up(self.config.warmup)
        why = ""
        if self.config.backend == "auto":
            why = " (backend auto: on CPU the first installed of openvino, onnx, torch)" \
                if self.device.type == "cpu" else " (backend auto: torch on CUDA)"
        log.info("predictor ready: %s in %.2f s%s", self.describe(), time.perf_counter() - start, why)

    # ------------------------------------------------------------------ set-up

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

    def _build(self, model: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
        if self.backend == "onnx":
            return self._build_onnx(model)
        if self.backend == "openvino":
            return self._build_openvino(model)
        # channels_last: on CUDA (tensor cores), and for frozen TorchScript on CPU, where it measured
        # as fast or faster (ResNet-18 1.1x); eager fp32 on CPU stays contiguous: ResNet-50 measured
        # 0.9x with channels_last (docs/drive.md).
        channels_last = self.device.type == "cuda" or self.backend == "torchscript"
        model = model.to(self.device)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed input size: pick the fastest kernels once
        if self.backend == "torchscript":
            dtype = torch.bfloat16 if self.precision == "bf16" else torch.float32
            model = model.to(dtype)
            example = self._example().to(self.device, dtype)
            if channels_last:
                example = example.contiguous(memory_format=torch.channels_last)
            with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tracer warnings about python control flow
                model = torch.jit.freeze(torch.jit.trace(model, example))

            def forward_ts(x: torch.Tensor) -> torch.Tensor:
                x = x.to(self.device, dtype, non_blocking=True)
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                return model(x).float()

            return forward_ts
        autocast = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)

        def forward_torch(x: torch.Tensor) -> torch.Tensor:
            x = x.to(self.device, non_blocking=True)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            if autocast is None:
                return model(x)
            with torch.autocast(self.device.type, dtype=autocast):
                return model(x).float()

        return forward_torch

    def _build_onnx(self, model: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise RuntimeError("--backend onnx needs onnxruntime: pip install 'steering[onnx]'") from exc
        onnx_path = self.checkpoint.with_suffix(".onnx")
        if onnx_path.is_file() and onnx_path.stat().st_mtime >= self.checkpoint.stat().st_mtime:
            data = onnx_path.read_bytes()
        else:
            buffer = io.BytesIO()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(model, self._example(), buffer, input_names=["image"], output_names=["steering"],
                                  opset_version=17, dynamo=False)
            data = buffer.getvalue()
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise CheckpointError(f"{onnx_path if onnx_path.is_file() else self.checkpoint}: ONNX Runtime "
                                  f"could not load the exported model: {exc}") from exc

        input_name = session.get_inputs()[0].name  # "image" when exported here; a model.onnx may differ

        def forward_onnx(x: torch.Tensor) -> torch.Tensor:
            return torch.from_numpy(session.run(None, {input_name: x.numpy()})[0])

        return forward_onnx

    def _build_openvino(self, model: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
        try:
            import openvino as ov
        except ImportError as exc:
            raise RuntimeError("--backend openvino needs openvino: pip install 'steering[openvino]'") from exc
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            converted = ov.convert_model(model, example_input=self._example())
        # A fixed random input with the preprocessing's range, to compare with eager fp32 once.
        probe = torch.rand(1, *self.preprocess.input_shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
        with torch.inference_mode():
            want = float(model(probe).reshape(-1)[0])
        hints = {"auto": None, "fp32": "f32", "bf16": "bf16"}
        requested = hints[self.precision]
        for hint in (requested, "f32") if requested is None else (requested,):
            config = {"INFERENCE_NUM_THREADS": self.threads, "PERFORMANCE_HINT": "LATENCY"}
            if hint is not None:
                config["INFERENCE_PRECISION_HINT"] = hint
            compiled = ov.Core().compile_model(converted, "CPU", config)
            request = compiled.create_infer_request()

            def forward_openvino(x: torch.Tensor, request=request) -> torch.Tensor:
                request.infer({0: x.numpy()})
                return torch.from_numpy(request.get_output_tensor(0).data.copy())

            chosen = str(compiled.get_property("INFERENCE_PRECISION_HINT")).lower()
            error = abs(float(forward_openvino(probe).reshape(-1)[0]) - want)
            if error < TOLERANCE or hint is not None:
                break
            log.warning("openvino chose %s, which moves the steering by %.3g (>= %g): compiling f32 instead",
                        chosen, error, TOLERANCE)
        # The property prints as e.g. "<Type: 'bfloat16'>", "bf16" or "f32" depending on the version.
        self.precision = "bf16" if "bf" in chosen else "fp16" if "f16" in chosen else "fp32"
        return forward_openvino

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


__all__ = ["InferenceConfig", "Predictor", "PreprocessConfig", "resolve_device", "cpu_threads", "blank_frame"]
