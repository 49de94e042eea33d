"""drive.py's failure prediction: `--alarm NAME [--alarm-file F]` picks the monitor that scores every frame.

The monitors themselves (registry, fitting, thresholds) are `steering.monitors`; what the car does on an
alarm (`--on-alarm slow|stop|none`) is `steering.drive.control`; the pipeline scores each answered frame
right after its inference, in the server's own monitor thread, and sends the score to the sinks and, as
`confidence`, in the `steer` reply. With `--alarm-async` the reply does not wait for the score: the
monitor scores in a process of its own (`steering.drive.score_process`) and the reply carries the
previous frame's score (one frame late).
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from steering.cli import option
from steering.monitors import AlarmMonitor, FitContext, get_spec, monitor_help, monitor_names

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlarmConfig:
    """Which failure monitor scores the frames (none by default)."""

    kind: str = option("", flag="alarm", help=lambda: "score every frame with a failure monitor; an alarm when the "
                                                      "score passes its threshold (" + monitor_help() + ")")
    file: Path | None = option(None, flag="alarm-file",
                               help="the monitor file `python -m steering.monitors fit LOG --kind NAME --out F` "
                                    "wrote (threshold, weights); without one, mc-dropout/tta/ensemble score the "
                                    "driven checkpoint(s) and never raise the alarm")

    asynchronous: bool = option(False, flag="alarm-async",
                                help="do not make the reply wait for the score: score each frame in a process "
                                     "of its own (lowest priority) and act on the newest finished score, the "
                                     "previous frame's (one frame late; a frame arriving while the monitor is busy "
                                     "is not scored)")

    def __post_init__(self) -> None:
        if self.kind and self.kind not in monitor_names():
            get_spec(self.kind)  # the error names close matches
        if self.file is not None and not self.kind:
            raise ValueError("--alarm-file needs --alarm NAME (the kind the file holds)")
        if self.asynchronous and not self.kind:
            raise ValueError("--alarm-async needs --alarm NAME")


def model_checkpoints(model: Any) -> list[Path]:
    """The checkpoint files a Predictor or an Ensemble drives with."""
    return [Path(p) for p in getattr(model, "checkpoints", None) or [model.checkpoint]]


def load_alarm(config: AlarmConfig, checkpoints: Sequence[Path]) -> AlarmMonitor | None:
    """The fitted monitor the config asks for, or None. ValueError says what is missing."""
    if not config.kind:
        return None
    if config.file is not None:
        monitor = AlarmMonitor.load(config.file)
        if monitor.kind != config.kind:
            raise ValueError(f"{config.file} holds a {monitor.kind} monitor, not {config.kind}")
    else:
        spec = get_spec(config.kind)
        if spec.learns_from_frames:
            raise ValueError(f"--alarm {config.kind} needs --alarm-file: fit one with `python -m steering.monitors fit "
                             f"data/driving_log.csv --kind {config.kind} --out {config.kind}.pt`")
        monitor = AlarmMonitor(config.kind, spec.fit(FitContext([], list(checkpoints))))
    log.info("alarm: %s", monitor.describe())
    return monitor
