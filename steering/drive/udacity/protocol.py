"""The Udacity simulator's telemetry and command messages, as the drive server reads and writes them.

Telemetry is `{"steering_angle": deg, "throttle": t, "speed": mph, "image": base64 JPEG 320x160}`,
all strings formatted in the simulator's culture; `{}` means a person drives (answer `manual`); the
reply is `steer {"steering_angle": "<[-1, 1]>", "throttle": "<[-1, 1]>"}` with string values in
the culture the telemetry used. The number rules live in `steering.udacity`; decoding the image
and the model live in `steering.preprocess` and `steering.inference.predictor`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from steering.udacity import MAX_STEER_DEG, TELEMETRY_FIELDS, TOP_SPEED_MPH, format_number, parse_number

# A 320x160 frame is 10-30 kB of JPEG (about 40 kB of base64). Anything far larger is not a
# simulator frame; refusing it before decoding keeps one bad message from stalling the loop.
DEFAULT_MAX_IMAGE_CHARS = 1_000_000
# Beyond what the car can report (with room for a modded simulator): such a number is corruption, and a
# controller fed a speed of -1e300 mph would floor the throttle. Magnitudes, so a signed speed still passes.
PLAUSIBLE = {"steering_angle": 2 * MAX_STEER_DEG, "throttle": 1.5, "speed": 3 * TOP_SPEED_MPH}

class MalformedTelemetry(ValueError):
    """A telemetry message the server cannot act on; `reason` is a short counter key."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True)
class Telemetry:
    """One parsed telemetry message. `decimal` is "." or "," if any number showed it, else None."""

    steering_angle: float  # degrees, +-25
    throttle: float
    speed: float  # mph
    image: str  # base64 JPEG, not decoded yet
    decimal: str | None


def parse_telemetry(data: Any, max_image_chars: int = DEFAULT_MAX_IMAGE_CHARS) -> Telemetry | None:
    """A telemetry payload -> Telemetry, or None for `{}` (manual mode).

    Raises MalformedTelemetry with a counter key: not_a_dict, missing_field, bad_number,
    out_of_range (finite but beyond `PLAUSIBLE`), bad_image_field, oversized_image.
    """
    if not isinstance(data, dict):
        raise MalformedTelemetry("not_a_dict", f"payload is {type(data).__name__}, expected an object")
    if not data:
        return None
    missing = [name for name in TELEMETRY_FIELDS if name not in data]
    if missing:
        raise MalformedTelemetry(
            "missing_field", f"missing {', '.join(missing)}; got {', '.join(sorted(map(str, data))[:8])}"
        )
    numbers: dict[str, float] = {}
    decimal = None
    for name in ("steering_angle", "throttle", "speed"):
        try:
            numbers[name], seen = parse_number(data[name])
        except ValueError as exc:
            raise MalformedTelemetry("bad_number", f"{name}: {exc}") from None
        if abs(numbers[name]) > PLAUSIBLE[name]:
            raise MalformedTelemetry("out_of_range", f"{name} {numbers[name]:.6g} is beyond +-{PLAUSIBLE[name]:g}")
        decimal = decimal or seen
    image = data["image"]
    if not isinstance(image, str) or not image:
        raise MalformedTelemetry("bad_image_field", f"image is {type(image).__name__}, expected a base64 string")
    if len(image) > max_image_chars:
        raise MalformedTelemetry("oversized_image", f"image is {len(image)} characters, limit {max_image_chars}")
    return Telemetry(image=image, decimal=decimal, **numbers)


def format_command(steering: float, throttle: float, decimal: str = ".",
                   confidence: float | None = None) -> dict[str, str]:
    """The `steer` payload: string values in the simulator's culture.

    `confidence`: a failure monitor's score for the frame (higher = less like the nominal frames), sent
    under the name SelfOracle's simulator reads; the Unity simulator ignores keys it does not know.
    """
    payload = {"steering_angle": format_number(steering, decimal), "throttle": format_number(throttle, decimal)}
    if confidence is not None:
        # 6 significant digits, not 6 decimals: an mc-dropout variance of 2e-8 must not read as 0
        payload["confidence"] = f"{confidence:.6g}".replace(".", decimal)
    return payload
