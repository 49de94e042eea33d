"""Driving a simulator with a model: `python drive.py model.pt` is `DriveServer` in the foreground.

Where things live:
- `config.py`    DriveConfig, nesting ControlConfig, InferenceConfig and TransportConfig;
- `pipeline.py`  the transport-independent step: telemetry in, command out, the newest-frame policy, sinks;
- `control.py`   model steering + reported speed -> (steering, throttle), the safe command;
- `predictor.py` a checkpoint as a steering function; `runtimes/` one module per runtime behind a registry;
- `ensemble.py`  several checkpoints and/or the mirrored frame as one steering function (`load_model`);
- `worker.py`    the OS thread the model runs in; `stats.py` counters and latency percentiles;
- `sinks.py`     where answered frames go (the recorder); `monitor.py` the browser monitor's sink and page;
- `protocol.py` + `udacity_server.py`  the Udacity simulator's messages and its Socket.IO/eventlet transport.
"""
from steering.drive.config import DriveConfig, TransportConfig
from steering.drive.control import ControlConfig, Controller
from steering.drive.predictor import InferenceConfig, Predictor
from steering.drive.udacity_server import DriveServer, running_server

__all__ = ["ControlConfig", "Controller", "DriveConfig", "DriveServer", "InferenceConfig", "Predictor",
           "TransportConfig", "running_server"]
