"""The simulator's `driving_log.csv` row format, shared by every writer of logs.

Written by the Unity simulator's Record mode (`CarController.cs`): no header, seven columns
`center,left,right,steering,throttle,brake,speed`, absolute image paths, steering normalised to
[-1, 1] (degrees / 25), speed in mph. Our headless simulator, `drive.py`'s recorder and the
data tools write exactly this, so every log reads back through the one reader.
"""
from __future__ import annotations

LOG_COLUMNS = ("center", "left", "right", "steering", "throttle", "brake", "speed")


def format_number(value: float, decimal: str = ".") -> str:
    """A number as the simulator writes it (shortest round-trip form); `decimal=","` mimics comma locales."""
    text = repr(float(value))
    if text.endswith(".0"):
        text = text[:-2]
    return text.replace(".", decimal) if decimal != "." else text


def format_log_row(center: str, left: str, right: str, steering: float, throttle: float,
                   brake: float, speed: float, decimal: str = ".") -> str:
    """One log line (without newline) in the simulator's layout."""
    numbers = (format_number(v, decimal) for v in (steering, throttle, brake, speed))
    return ",".join([center, left, right, *numbers])
