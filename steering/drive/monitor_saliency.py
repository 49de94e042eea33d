"""The monitor's saliency overlay: VisualBackProp of the newest frame, off the control path, at a low rate.

`SaliencyWorker.request()` is what `/saliency.png` calls: it returns the latest overlay (or None
before the first one) and keeps the worker thread alive. The thread runs only while a page keeps
asking (it ends `idle_s` after the last request), computes at most `hz` maps per second, skips a
frame it already did, and uses one CPU thread, so on a small machine it takes one core part of
the time instead of competing with the model on all of them.

The map is `steering.explain.visual_backprop` on the checkpoint's own PyTorch model (loaded here
on the first request, whatever runtime drives), placed on the camera frame (`saliency_to_frame`)
and sent as an RGBA PNG heat map whose alpha is the saliency: the page lays it over the camera.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from steering.checkpoint import load_model
from steering.explain import frame_saliency
from steering.preprocess import decode_base64_jpeg

log = logging.getLogger(__name__)


def heat_png(values: np.ndarray, max_alpha: float = 0.6) -> bytes:
    """A [0, 1] (H, W) map -> PNG bytes, BGRA: a jet heat map, transparent where the map is 0."""
    clipped = np.clip(values, 0.0, 1.0)
    bgr = cv2.applyColorMap((clipped * 255).astype(np.uint8), cv2.COLORMAP_JET)
    alpha = (clipped * max_alpha * 255).astype(np.uint8)
    ok, png = cv2.imencode(".png", np.dstack([bgr, alpha]))
    if not ok:
        raise ValueError("could not encode the saliency PNG")
    return png.tobytes()


class SaliencyWorker:
    def __init__(self, checkpoint: str | Path, sink: Any, hz: float = 2.0, idle_s: float = 3.0) -> None:
        """`sink`: the MonitorSink whose `newest` frame is explained (not imported: it imports this module)."""
        self.checkpoint = Path(checkpoint)
        self.sink = sink
        self.period_s = 1.0 / hz
        self.idle_s = idle_s
        self.latest: tuple[int, bytes] | None = None
        self.computed = 0
        self.last_ms = 0.0
        self.failed = ""
        self._model: Any = None
        self._preprocess: Any = None
        self._last_request = 0.0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def request(self) -> tuple[int, bytes] | None:
        """The newest overlay (seq of its frame, PNG); starts the worker if it is not running."""
        with self._lock:
            self._last_request = time.monotonic()
            if not self._closed and not self.failed and (self._thread is None or not self._thread.is_alive()):
                self._thread = threading.Thread(target=self._loop, name="steering-monitor-saliency", daemon=True)
                self._thread.start()
        return self.latest

    def status(self) -> dict[str, Any]:
        running = self._thread is not None and self._thread.is_alive()
        return {"available": not self.failed, "active": running, "computed": self.computed,
                "seq": self.latest[0] if self.latest else 0, "ms": round(self.last_ms, 1), "error": self.failed}

    def close(self) -> None:
        self._closed = True
        if self._thread is not None:
            self._thread.join(5.0)

    def _load(self) -> None:
        torch.set_num_threads(1)  # this thread's intra-op pool only: the model's own thread keeps its setting
        self._model, self._preprocess = load_model(self.checkpoint, device="cpu")

    def _loop(self) -> None:
        done = -1
        try:
            if self._model is None:
                self._load()
            else:
                torch.set_num_threads(1)
            while not self._closed and time.monotonic() - self._last_request < self.idle_s:
                started = time.monotonic()
                newest = self.sink.newest
                if newest is not None and newest[0] != done:
                    done = newest[0]
                    self.latest = (done, self._compute(newest[1].image_base64))
                    self.computed += 1
                    self.last_ms = (time.monotonic() - started) * 1000.0
                time.sleep(max(0.01, self.period_s - (time.monotonic() - started)))
        except Exception as exc:  # noqa: BLE001 - the overlay is optional; the drive goes on without it
            self.failed = f"{type(exc).__name__}: {exc}"
            log.warning("monitor: saliency overlay off: %s", self.failed)

    def _compute(self, image_base64: str) -> bytes:
        maps, _ = frame_saliency(self._model, self._preprocess, [decode_base64_jpeg(image_base64)], "vbp")
        return heat_png(maps[0])
