"""Serving a model to a simulator: `python drive.py model.pt` is `DriveServer` in the foreground.

The model itself (checkpoint -> steering function, runtimes, the accuracy gate) is `steering.inference`;
this package only serves it. Where things live:
- `config.py`    DriveConfig, nesting ControlConfig, InferenceConfig and TransportConfig;
- `pipeline.py`  the transport-independent step: telemetry in, command out, the newest-frame policy, sinks;
- `control.py`   model steering + reported speed -> (steering, throttle), the safe command;
- `worker.py`    the OS thread the model runs in; `stats.py` counters and latency percentiles;
- `sinks.py`     where answered frames go (the recorder); `monitor.py` the browser monitor's sink and page;
- `hub.py`       the eventlet hub thread every server here runs in (the drive server, the monitor);
- `udacity/`     the Udacity simulator's transport: its messages (`protocol.py`), the Socket.IO/eventlet
                 server (`server.py`), the WebSocket patches (`wire.py`) and the packet guard. A second
                 simulator protocol is a sibling package that reuses `pipeline.py` unchanged.
"""
from steering.drive.config import DriveConfig, TransportConfig
from steering.drive.control import ControlConfig, Controller
from steering.drive.udacity.server import DriveServer, running_server

__all__ = ["ControlConfig", "Controller", "DriveConfig", "DriveServer", "TransportConfig", "running_server"]
