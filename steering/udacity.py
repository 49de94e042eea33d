"""What the Unity simulator dictates, stated once: camera, car, recording, log rows, numbers, socket.

Every other module (the drive server, the headless simulator, the log reader and writers) imports
these facts instead of restating them. Sources: the simulator's `CarController.cs` (recording,
steering limit) and `CommandServer.cs` (socket, telemetry), and real recordings in ../shared.

Numbers. The simulator formats telemetry with `value.ToString("N4")` and parses `steer` replies
with `float.Parse(text)`, both in the machine's culture: `"-3.5000"` on an English machine,
`"-3,5000"` in Italy or Germany (group separators possible: `"1.234,5000"`, `"1 234,5000"`,
`"1'234.5000"`). Worse, on a comma machine a reply of `"0.1"` parses with `.` as the *group*
separator and reads as 1 (full lock). `format_n4`/`parse_culture_float` are the simulator's side
(the headless simulator reproduces both); `parse_number`/`format_number` are the server's side.
"""
from __future__ import annotations

import calendar
import datetime as dt
import math
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

# ---------------------------------------------------------------- camera and car
FRAME_HEIGHT, FRAME_WIDTH = 160, 320  # every camera frame, rows x columns, RGB
CAMERAS = ("center", "left", "right")  # the three cameras Record mode saves
MAX_STEER_DEG = 25.0  # the car multiplies the normalised steering [-1, 1] by this; positive steers right
TOP_SPEED_MPH = 30.0

# The camera rig and the wheelbase, for view synthesis (`steering.replay`). Source: udacity/self-driving-car-sim,
# `CarWaypointBased.prefab` (cameras) and `Car.prefab` at e43aa0c (wheel hubs), checked on the real frames of
# ../shared/data/udacity-real/lake-two-laps-mouse (tests/test_replay_calibration.py): one fixed ground-plane
# homography takes the centre frame to each side camera's view. Car frame: x right, y up, z forward, metres,
# from the car's origin (the centre of its body, between the axles).
CAMERA_VFOV_DEG = 60.0  # Unity's default camera: focal length 80 / tan(30 deg) = 138.6 px at 320x160
CAMERA_POSITIONS_M = {"center": (0.0, 1.2, 1.0), "left": (-0.806, 1.2, 0.984), "right": (0.825, 1.2, 0.999)}
# Down, all three cameras, relative to the road. The prefab says 9.445 deg relative to the car's body; real
# frames put the horizon at row ~60.5 (8 deg), and the centre-to-side warp fits best at 7.8-7.9 deg (left/right
# road error 11.5/12.0 vs 29.7 unwarped, 30 rows; 9.445 deg gives 18.8): the body rides nose up.
CAMERA_PITCH_DEG = 7.9
CAMERA_YAW_DEG = 0.702  # to the right
CAMERA_ROLL_DEG = 1.166  # right side up: the horizon runs from row ~57 (left edge) to ~64 (right edge)
# The prefab's 1.2 m is above the car's origin, which rides above the road: real frames fit a side offset /
# height ratio of 0.643 (left) and 0.658 (right), i.e. 1.25 m above the ground (the warp's fit agrees).
CAMERA_HEIGHT_M = 1.25
HOOD_TOP_ROW = 135  # the car's bonnet fills the rows from here down, differently in each camera
FRONT_AXLE_Z_M, REAR_AXLE_Z_M = 1.27, -1.6  # Car.prefab: WheelHubFront*/WheelHubRear* local z
WHEELBASE_M = FRONT_AXLE_Z_M - REAR_AXLE_Z_M  # 2.87 m

# ---------------------------------------------------------------- recording
RECORD_HZ = 15.0  # Record mode samples (and the car reports telemetry) 15 times per simulated second
RECORD_PERIOD_S = 1.0 / RECORD_HZ
LOG_NAME = "driving_log.csv"
IMAGE_DIR = "IMG"
# No header; absolute image paths; steering normalised to [-1, 1]; speed in mph.
LOG_COLUMNS = ("center", "left", "right", "steering", "throttle", "brake", "speed")
CAMERA_COLUMNS = LOG_COLUMNS[:3]
_FRAME_TIME = re.compile(r"(\d{4})_(\d{2})_(\d{2})_(\d{2})_(\d{2})_(\d{2})_(\d{3})")


def frame_name(camera: str, when: dt.datetime) -> str:
    """`center_2020_05_09_22_16_55_357.jpg`: the simulator's file name for `camera` at `when` (ms)."""
    return f"{camera}_{when:%Y_%m_%d_%H_%M_%S}_{when.microsecond // 1000:03d}.jpg"


def frame_timestamp(name: str) -> float:
    """Seconds (UTC epoch) from a frame name or path written by `frame_name`; NaN if it holds none."""
    matches = _FRAME_TIME.findall(re.split(r"[\\/]", name)[-1])
    if not matches:
        return math.nan
    year, month, day, hour, minute, second, millis = (int(g) for g in matches[-1])
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 61):
        return math.nan
    return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) + millis / 1000.0


def format_log_number(value: float, decimal: str = ".") -> str:
    """A log number as the simulator writes it (shortest round-trip form); `decimal=","` for comma locales."""
    text = repr(float(value))
    if text.endswith(".0"):
        text = text[:-2]
    return text.replace(".", decimal) if decimal != "." else text


def format_log_row(center: str, left: str, right: str, steering: float, throttle: float,
                   brake: float, speed: float, decimal: str = ".") -> str:
    """One `driving_log.csv` line (without newline) in the simulator's layout."""
    numbers = (format_log_number(v, decimal) for v in (steering, throttle, brake, speed))
    return ",".join([center, left, right, *numbers])


# ---------------------------------------------------------------- socket
PORT = 4567  # fixed in the simulator
# A raw WebSocket to this path: no polling handshake, and no `40` CONNECT packet, because the
# simulator speaks Engine.IO 3 / Socket.IO 2 despite asking for EIO=4.
SOCKET_PATH = "/socket.io/?EIO=4&transport=websocket"
PING_INTERVAL_S = 25.0  # Engine.IO 3's default; the simulator pings at the interval the server's open packet names
# Engine.IO 3 (also its default): a client whose ping is this late after the interval is gone. The
# simulator on a busy machine can ping seconds late; a server must not drop the car for that.
PING_TIMEOUT_S = 60.0
TELEMETRY_FIELDS = ("steering_angle", "throttle", "speed", "image")  # all strings; `{}` = a person drives


def socket_url(host: str = "127.0.0.1", port: int = PORT) -> str:
    """What the simulator opens."""
    return f"ws://{host}:{port}{SOCKET_PATH}"


# ---------------------------------------------------------------- numbers, the simulator's side
CULTURES = {".": ",", ",": "."}  # decimal separator -> group separator (en-US, de-DE and friends)


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


# ---------------------------------------------------------------- numbers, the server's side
# Group separators .NET cultures use besides "." and ",": space, no-break space, narrow no-break
# space (fr-FR), apostrophes (de-CH).
_GROUP_CHARS = " \u00a0\u202f'\u2019"
_NUMBER = re.compile(r"^[+-]?[0-9.,]*[0-9][0-9.,]*(?:[eE][+-]?[0-9]+)?$")


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
