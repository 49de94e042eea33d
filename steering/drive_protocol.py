"""The Udacity simulator's telemetry and command messages, in every locale it runs in.

The simulator formats numbers with its machine's culture (`ToString("N4")`): `"-3.5000"` on an
English machine, `"-3,5000"` in Italy or Germany, possibly with group separators (`"1.234,5000"`,
`"1 234,5000"`, `"1'234.5000"`). It parses our reply with the same culture, so a reply of `"0.1"`
is misread on a comma machine. `parse_number` accepts every such form and reports the decimal
separator it saw; `format_command` answers in that separator.

Wire facts (from the simulator's `CommandServer.cs`): telemetry is
`{"steering_angle": deg, "throttle": t, "speed": mph, "image": base64 JPEG 320x160}`, all strings;
`{}` means a person drives (answer `manual`); the reply is
`steer {"steering_angle": "<[-1, 1]>", "throttle": "<[-1, 1]>"}` with string values.

Decoding the image and the model live elsewhere (`steering.preprocess`, `steering.inference`).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

TELEMETRY_FIELDS = ("steering_angle", "throttle", "speed", "image")
# A 320x160 frame is 10-30 kB of JPEG (about 40 kB of base64). Anything far larger is not a
# simulator frame; refusing it before decoding keeps one bad message from stalling the loop.
DEFAULT_MAX_IMAGE_CHARS = 1_000_000

# Group separators .NET cultures use besides "." and ",": space, no-break space, narrow no-break
# space (fr-FR), apostrophes (de-CH).
_GROUP_CHARS = " \u00a0\u202f'\u2019"
_NUMBER = re.compile(r"^[+-]?[0-9.,]*[0-9][0-9.,]*(?:[eE][+-]?[0-9]+)?$")


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


def parse_number(value: Any) -> tuple[float, str | None]:
    """A simulator number in any culture -> (finite float, decimal separator seen or None).

    Rules: group characters (spaces, apostrophes) are dropped; if both "." and "," occur, the last
    one is the decimal separator and the other groups digits; if one of them occurs more than once
    it groups digits; a single occurrence is the decimal separator. (The simulator's values are
    all below 1000, so a lone separator is never a group separator: `N4` always writes 4 decimals.)
    Raises ValueError for anything else, including NaN and infinities.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"expected a number or a numeric string, got {type(value).__name__}")
    if not isinstance(value, str):
        number, decimal = float(value), None
    else:
        text = value.strip()
        for char in _GROUP_CHARS:
            text = text.replace(char, "")
        if len(text) > 64 or not _NUMBER.match(text):
            raise ValueError(f"not a number: {value[:40]!r}")
        dots, commas = text.count("."), text.count(",")
        if dots and commas:
            decimal = "." if text.rfind(".") > text.rfind(",") else ","
            group = "," if decimal == "." else "."
            if text.count(decimal) > 1:
                raise ValueError(f"two decimal separators in {value!r}")
            text = text.replace(group, "").replace(decimal, ".")
        elif dots > 1 or commas > 1:
            decimal = None
            text = text.replace(".", "").replace(",", "")
        elif commas:
            decimal, text = ",", text.replace(",", ".")
        else:
            decimal = "." if dots else None
        number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"not a finite number: {value!r}")
    return number, decimal


def format_number(value: float, decimal: str = ".", digits: int = 6) -> str:
    """A command value as the simulator's `float.Parse` reads it in a culture with `decimal`."""
    text = f"{value:.{digits}f}"
    if float(text) == 0.0:
        text = f"{0.0:.{digits}f}"  # never "-0.000000"
    return text.replace(".", decimal) if decimal != "." else text


def parse_telemetry(data: Any, max_image_chars: int = DEFAULT_MAX_IMAGE_CHARS) -> Telemetry | None:
    """A telemetry payload -> Telemetry, or None for `{}` (manual mode).

    Raises MalformedTelemetry with a counter key: not_a_dict, missing_field, bad_number,
    bad_image_field, oversized_image.
    """
    if not isinstance(data, dict):
        raise MalformedTelemetry("not_a_dict", f"payload is {type(data).__name__}, expected an object")
    if not data:
        return None
    missing = [name for name in TELEMETRY_FIELDS if name not in data]
    if missing:
        raise MalformedTelemetry("missing_field", f"missing {', '.join(missing)}; got {', '.join(sorted(map(str, data))[:8])}")
    numbers: dict[str, float] = {}
    decimal = None
    for name in ("steering_angle", "throttle", "speed"):
        try:
            numbers[name], seen = parse_number(data[name])
        except ValueError as exc:
            raise MalformedTelemetry("bad_number", f"{name}: {exc}") from None
        decimal = decimal or seen
    image = data["image"]
    if not isinstance(image, str) or not image:
        raise MalformedTelemetry("bad_image_field", f"image is {type(image).__name__}, expected a base64 string")
    if len(image) > max_image_chars:
        raise MalformedTelemetry("oversized_image", f"image is {len(image)} characters, limit {max_image_chars}")
    return Telemetry(image=image, decimal=decimal, **numbers)


def format_command(steering: float, throttle: float, decimal: str = ".") -> dict[str, str]:
    """The `steer` payload: string values in the simulator's culture."""
    return {"steering_angle": format_number(steering, decimal), "throttle": format_number(throttle, decimal)}
