"""One `driving_log.csv` line -> three image paths and four numbers.

This module knows the row layout only; files, line numbers, image lookup and sessions are
`reading.py`'s job. It turns any problem into `RowError`, which the reader re-raises as a
`DrivingLogError` naming the file and line.

Comma-decimal locales (Italy, Germany, Brazil, ...): the simulator formats numbers with the
machine's culture, so `-0.1160349, 1, 0, 30.1903` is written as `-0,1160349,1,0,30,1903` and the
decimal commas mix with the field separators. We recover the four numbers by trying every way of
grouping the remaining tokens into steering, throttle, brake, speed (each one token, or an integer
token followed by a digits-only fraction token) and keeping the groupings whose values lie in
their physical ranges. Exactly one fits -> use it; none or several -> error with the candidates.

Numeric columns after the seventh (drive.py's alarm columns, `steering.drive.sinks.ALARM_COLUMNS`)
are ignored, on a row that cannot be a comma-decimal one (a token holds a '.', `nan` or `inf`, which
a comma-locale writer never writes); anything else there is still an error.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from steering.udacity import LOG_COLUMNS

N_PATHS = 3
N_NUMBERS = len(LOG_COLUMNS) - N_PATHS  # steering, throttle, brake, speed
NUMBER_NAMES = LOG_COLUMNS[N_PATHS:]

# Physical ranges of the simulator's values (CarController.cs clamps throttle and brake to [0, 1];
# top speed is 30 mph and real logs overshoot slightly, e.g. 30.19).
RANGES = {
    "steering": (-1.0, 1.0),
    "throttle": (0.0, 1.0),
    "brake": (0.0, 1.0),
    "speed": (0.0, 30.5),
}

_FLOAT = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
_INTEGER = re.compile(r"[-+]?\d+")
# C# writes tiny values as `7,843922E-05` in comma locales, so a fraction may carry an exponent.
_FRACTION = re.compile(r"\d+(?:[eE][-+]?\d+)?")
# Every token a comma-locale writer produces: integer parts and fraction parts (maybe with exponent).
_COMMA_LOCALE_TOKEN = re.compile(r"[-+]?\d+(?:[eE][-+]?\d+)?")
_MAX_SHOWN_CANDIDATES = 4


class RowError(ValueError):
    """A row that cannot be read; the reader adds the file and line."""


@dataclass(frozen=True)
class ParsedRow:
    center: str
    left: str
    right: str
    steering: float
    throttle: float
    brake: float
    speed: float
    comma_decimal: bool  # True when the numbers had to be regrouped from decimal commas


def is_header(line: str) -> bool:
    """True for the header row of Udacity's sample data (`center,left,right,steering,...`)."""
    tokens = [t.strip().lower() for t in line.split(",")]
    while tokens and tokens[-1] == "":
        tokens.pop()
    return tuple(tokens) == LOG_COLUMNS


def parse_row(line: str) -> ParsedRow:
    """Parse one non-blank, non-header line. Raises RowError with a message that says what to fix."""
    raw = line.split(",")
    # A trailing comma (some editors and exporters add one) leaves empty tokens at the end.
    while len(raw) > 1 and raw[-1].strip() == "":
        raw.pop()
    if len(raw) < len(LOG_COLUMNS):
        raise RowError(
            f"expected {len(LOG_COLUMNS)} columns, found {len(raw)}; "
            "was this written by the simulator's Record mode?"
        )
    center, left, right = (t.strip() for t in raw[:N_PATHS])
    number_tokens = raw[N_PATHS:]
    if len(number_tokens) > N_NUMBERS and _extra_numeric_columns(number_tokens):
        number_tokens = number_tokens[:N_NUMBERS]
    if len(number_tokens) == N_NUMBERS:
        values = tuple(_parse_number(name, tok.strip()) for name, tok in zip(NUMBER_NAMES, number_tokens, strict=False))
        comma_decimal = False
    else:
        # "path, path, path, n, ..." marks every field start with a space; decimal commas never have one.
        spaced = all(raw[i][:1].isspace() for i in range(1, N_PATHS))
        values = _regroup_comma_decimals(number_tokens, spaced, n_columns=len(raw))
        comma_decimal = True
    steering = values[0]
    low, high = RANGES["steering"]
    if not low <= steering <= high:
        raise RowError(
            f"steering {steering:g} outside [{low:g}, {high:g}]; the simulator writes angle/25, "
            "so this log was edited or written in degrees"
        )
    return ParsedRow(center, left, right, *values, comma_decimal=comma_decimal)


def _extra_numeric_columns(tokens: list[str]) -> bool:
    """True when tokens past the fourth number are extra numeric columns, not comma-decimal fractions."""
    if all(_COMMA_LOCALE_TOKEN.fullmatch(t.strip()) for t in tokens):
        return False  # could be a comma-locale row: the regrouping decides
    for token in tokens[N_NUMBERS:]:
        try:
            float(token)
        except ValueError:
            return False
    return True


def _parse_number(name: str, token: str) -> float:
    if not _FLOAT.fullmatch(token):
        raise RowError(f"{name}: cannot parse {token!r} as a number")
    value = float(token)
    if not math.isfinite(value):
        raise RowError(f"{name}: {token!r} is not a finite number")
    return value


def _regroup_comma_decimals(tokens: list[str], spaced: bool, n_columns: int) -> tuple[float, ...]:
    """All range-valid groupings of `tokens` into four numbers; exactly one must exist."""
    if not all(_COMMA_LOCALE_TOKEN.fullmatch(t.strip()) for t in tokens):
        # A '.' or a word: not written in a comma locale, so simply the wrong number of columns.
        raise RowError(
            f"expected {len(LOG_COLUMNS)} columns, found {n_columns}; "
            "was this written by the simulator's Record mode?"
        )
    candidates = [values for values in _groupings(tokens, spaced, 0, ()) if _in_ranges(values)]
    shown = "".join(f"\n  {_describe(values)}" for values in candidates[:_MAX_SHOWN_CANDIDATES])
    numbers_text = ",".join(tokens).strip()
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise RowError(
            f"expected {len(LOG_COLUMNS)} columns, found {n_columns}, and no reading of {numbers_text!r} "
            "as decimal-comma numbers puts steering in [-1, 1], throttle and brake in [0, 1] and "
            "speed in [0, 30.5]; fix the row or re-record with a '.' decimal locale"
        )
    more = (
        f"\n  ... and {len(candidates) - _MAX_SHOWN_CANDIDATES} more" if len(candidates) > _MAX_SHOWN_CANDIDATES else ""
    )
    raise RowError(
        f"ambiguous decimal commas in {numbers_text!r}: {len(candidates)} readings fit the value ranges:"
        f"{shown}{more}\nfix the row by hand (e.g. write it with '.' decimals) or read with lenient=True to skip it"
    )


def _groupings(tokens: list[str], spaced: bool, start: int, done: tuple[float, ...]):
    """Yield every way to read tokens[start:] as the remaining numbers (depth <= 4, so brute force is fine)."""
    remaining_values = N_NUMBERS - len(done)
    remaining_tokens = len(tokens) - start
    if remaining_values == 0:
        if remaining_tokens == 0:
            yield done
        return
    if not remaining_values <= remaining_tokens <= 2 * remaining_values:
        return
    first = tokens[start]
    if spaced and start > 0 and not first[:1].isspace():
        return  # a field start without its separator space is the tail of a decimal number
    text = first.strip()
    if _FLOAT.fullmatch(text):
        yield from _groupings(tokens, spaced, start + 1, done + (float(text),))
    if start + 1 < len(tokens) and _INTEGER.fullmatch(text):
        fraction = tokens[start + 1]
        if _FRACTION.fullmatch(fraction) and not (spaced and fraction[:1].isspace()):
            yield from _groupings(tokens, spaced, start + 2, done + (float(f"{text}.{fraction}"),))


def _in_ranges(values: tuple[float, ...]) -> bool:
    return all(
        math.isfinite(v) and RANGES[name][0] <= v <= RANGES[name][1]
        for name, v in zip(NUMBER_NAMES, values, strict=False)
    )


def _describe(values: tuple[float, ...]) -> str:
    return ", ".join(f"{name}={value:g}" for name, value in zip(NUMBER_NAMES, values, strict=False))
