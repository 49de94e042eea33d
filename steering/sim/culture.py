"""Numbers as the Unity simulator writes and reads them, in dot- and comma-decimal locales.

The simulator formats telemetry with `value.ToString("N4")` and parses `steer` replies with
`float.Parse(text)`, both in the machine's culture. On a German, Italian or Brazilian machine that
means `"-3,5000"` on the wire and, worse, a reply of `"0.1"` parsed with `.` as the *group*
separator: it reads as 1 (steering 0.1 becomes full lock). The headless simulator reproduces both
so drive servers can be tested against them.

Only two cultures matter here: `decimal="."` (en-US: group separator `,`) and `decimal=","`
(de-DE and friends: group separator `.`).
"""
from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

CULTURES = {".": ",", ",": "."}  # decimal separator -> group separator


def _group(decimal: str) -> str:
    if decimal not in CULTURES:
        raise ValueError(f"decimal separator must be '.' or ',', got {decimal!r}")
    return CULTURES[decimal]


def format_n4(value: float, decimal: str = ".", group: str | None = None) -> str:
    """`value.ToString("N4")`: 4 decimals, rounded half away from zero, digit groups of three.

    `format_n4(-3.5, ",") == "-3,5000"`, `format_n4(1234.5) == "1,234.5000"`. A value that rounds
    to zero prints without a sign, as the simulator's runtime does. `group` overrides the culture's
    group separator (fr-FR uses a no-break space, de-CH an apostrophe).
    """
    group = _group(decimal) if group is None else group
    rounded = Decimal(repr(float(value))).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    if rounded == 0:
        rounded = abs(rounded)
    sign = "-" if rounded < 0 else ""
    whole, frac = f"{abs(rounded):.4f}".split(".")
    grouped = f"{int(whole):,}".replace(",", group)
    return f"{sign}{grouped}{decimal}{frac}"


def parse_culture_float(text: str, decimal: str = ".") -> float:
    """`float.Parse(text)` in the culture with this decimal separator (NumberStyles.Float | AllowThousands).

    Group separators are accepted anywhere before the decimal separator and ignored, which is why
    `parse_culture_float("0.1", ",") == 1.0`. Raises ValueError (the runtime's FormatException)
    for text that culture cannot read, e.g. a group separator after the decimal one.
    """
    group = _group(decimal)
    pattern = rf"\s*([+-]?)([\d{re.escape(group)}]*)(?:{re.escape(decimal)}(\d*))?(?:[eE]([+-]?\d+))?\s*"
    match = re.fullmatch(pattern, str(text))
    if match is None or not re.search(r"\d", (match.group(2) or "") + (match.group(3) or "")):
        raise ValueError(f"{text!r} is not a number in a culture with decimal separator {decimal!r}")
    sign, whole, frac, exponent = match.groups()
    number = f"{sign}{whole.replace(group, '') or '0'}.{frac or '0'}"
    if exponent:
        number += f"e{exponent}"
    return float(number)
