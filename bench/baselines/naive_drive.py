"""The baseline: the classic Udacity `drive.py` per-frame path, rewritten for a PyTorch model.

What the classic script does for every telemetry message, step for step:
`Image.open(BytesIO(base64.b64decode(imgString)))`, `np.asarray(image)`, the model's own
crop/resize/normalise (here: numpy and PIL, float64 arithmetic as numpy promotes it), one eager fp32
forward pass per frame (`model.predict(image_array[None, ...])`, no graph, no runtime tuning), a
simple PI throttle, and `send_control` with `str()` values. Benchmarks compare `steering`'s
pipeline against this; it is never used to drive.
"""
from __future__ import annotations

import base64
import json
from io import BytesIO
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from steering.checkpoint import load_model


class NaivePIController:
    """The classic SimplePIController (Kp 0.1, Ki 0.002, set speed 9)."""

    def __init__(self, kp: float = 0.1, ki: float = 0.002, set_point: float = 9.0) -> None:
        self.kp, self.ki, self.set_point = kp, ki, set_point
        self.integral = 0.0

    def update(self, measurement: float) -> float:
        error = self.set_point - measurement
        self.integral += error
        return self.kp * error + self.ki * self.integral


class NaiveDriver:
    """telemetry dict -> the `steer` packet text, the classic way."""

    def __init__(self, checkpoint: str | Path) -> None:
        self.model, self.preprocess = load_model(checkpoint)  # eval mode, fp32, contiguous NCHW
        self.controller = NaivePIController()

    def __call__(self, data: dict[str, str]) -> str:
        image = Image.open(BytesIO(base64.b64decode(data["image"])))
        image_array = np.asarray(image)  # (160, 320, 3) uint8 RGB
        steering = float(self.predict(image_array))
        throttle = self.controller.update(float(data["speed"]))
        return "42" + json.dumps(["steer", {"steering_angle": steering.__str__(), "throttle": throttle.__str__()}])

    def predict(self, image_array: np.ndarray) -> float:
        cfg = self.preprocess
        cropped = image_array[cfg.crop_top: image_array.shape[0] - cfg.crop_bottom]
        image = Image.fromarray(cropped)
        if cfg.colorspace == "yuv":
            image = image.convert("YCbCr")
        resized = np.asarray(image.resize((cfg.width, cfg.height), Image.BILINEAR))
        x = (resized / 255.0 - np.array(cfg.mean)) / np.array(cfg.std)  # float64, as numpy promotes it
        tensor = torch.from_numpy(x.transpose(2, 0, 1)[None].copy()).float()  # (1, 3, H, W)
        with torch.no_grad():
            return float(self.model(tensor)[0])


def serve(checkpoint: str | Path, port: int = 4567) -> None:
    """The classic drive.py server around `NaiveDriver`: python-socketio on eventlet's WSGI server,
    the model run inside the telemetry handler, `steer` broadcast with `skip_sid=True`; no socket
    options, eventlet's own WebSocket code. Prints `listening on ws://127.0.0.1:PORT/...`."""
    import eventlet
    import eventlet.wsgi
    import socketio

    driver = NaiveDriver(checkpoint)
    sio = socketio.Server(async_mode="eventlet")

    @sio.on("telemetry")
    def telemetry(sid, data):
        if data:
            packet = json.loads(driver(data)[2:])
            sio.emit("steer", data=packet[1], skip_sid=True)
        else:
            sio.emit("manual", data={}, skip_sid=True)

    @sio.on("connect")
    def connect(sid, environ):
        sio.emit("steer", data={"steering_angle": "0", "throttle": "0"}, skip_sid=True)

    listener = eventlet.listen(("127.0.0.1", port))
    print(f"listening on ws://127.0.0.1:{listener.getsockname()[1]}/socket.io/", flush=True)
    try:
        eventlet.wsgi.server(listener, socketio.WSGIApp(sio), log_output=False)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.baselines.naive_drive",
                                     description=serve.__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--port", type=int, default=4567, help="0 picks a free port")
    args = parser.parse_args()
    serve(args.checkpoint, args.port)
