"""`DriveConfig`: everything `drive.py` can set, nested by part (control, model runtime, transport).

Defaults drive a trained model safely round the lake track. drive.py's flags are generated from
these fields (`steering.cli`), so a new knob is one new field in the part it belongs to.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from steering.cli import nested, option
from steering.drive.alarm import AlarmConfig
from steering.drive.control import ControlConfig
from steering.drive.monitor import MonitorConfig
from steering.drive.udacity.protocol import DEFAULT_MAX_IMAGE_CHARS
from steering.inference.predictor import InferenceConfig
from steering.udacity import PORT


@dataclass(frozen=True)
class TransportConfig:
    """Where the server listens and what it accepts on the wire."""

    host: str = option("127.0.0.1", help="address to listen on; 0.0.0.0 exposes the server to the network "
                                         "(127.0.0.1: this machine only)")
    port: int = option(PORT, help=f"the simulator connects to {PORT}; 0 picks a free port")
    max_image_chars: int = DEFAULT_MAX_IMAGE_CHARS  # larger images get the safe command undecoded


@dataclass(frozen=True)
class DriveConfig:
    control: ControlConfig = nested(ControlConfig, "control")
    inference: InferenceConfig = nested(InferenceConfig, "model runtime")
    transport: TransportConfig = nested(TransportConfig, "server")
    monitor: MonitorConfig = nested(MonitorConfig, "browser monitor")
    alarm: AlarmConfig = nested(AlarmConfig, "failure prediction")
    record_dir: Path | None = None  # drive.py's optional second argument
    stats_every: float = option(30.0, help="seconds between latency/counter log lines; 0 = only at exit")
