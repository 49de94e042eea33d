"""Telemetry parsing in every culture, command formatting, and the controller parts, without a server."""
from __future__ import annotations

import math

import pytest

from steering.drive.control import ControlConfig, Controller, SpeedController, SteeringFilter
from steering.drive.udacity.protocol import MalformedTelemetry, format_command, parse_telemetry
from steering.udacity import format_n4, format_number, parse_number


@pytest.mark.parametrize("text,value,decimal", [
    ("-3.5000", -3.5, "."),
    ("-3,5000", -3.5, ","),
    ("30,1903", 30.1903, ","),
    ("0,0000", 0.0, ","),
    ("1,234.5000", 1234.5, "."),  # en-US group separator
    ("1.234,5000", 1234.5, ","),  # de-DE
    ("1\u00a0234,5000", 1234.5, ","),  # fr-FR no-break space
    ("1\u202f234,5000", 1234.5, ","),  # fr-FR narrow no-break space
    ("1'234.5000", 1234.5, "."),  # de-CH
    ("1.234.567", 1234567.0, None),  # only group separators
    ("25", 25.0, None),
    (" 7.25 ", 7.25, "."),
    ("1e-3", 0.001, None),
    (0.5, 0.5, None),
    (3, 3.0, None),
])
def test_parse_number_accepts_every_culture(text, value, decimal):
    assert parse_number(text) == (pytest.approx(value), decimal)


@pytest.mark.parametrize("text", ["NaN", "nan", "Infinity", "-inf", "∞", "", "abc", "1.2.3,4,5", "1,2,3.4.5",
                                  "--1", "1-", True, None, [1.0], "9" * 100])
def test_parse_number_rejects_non_numbers(text):
    with pytest.raises(ValueError):
        parse_number(text)


@pytest.mark.parametrize("value,decimal,group,text", [
    (-3.5, ",", ".", "-3,5000"), (1234.5, ",", ".", "1.234,5000"), (0.25, ".", ",", "0.2500"),
    (1234.5, ",", "\u00a0", "1\u00a0234,5000"),
])
def test_format_n4_matches_dotnet_and_parses_back(value, decimal, group, text):
    assert format_n4(value, decimal, group) == text
    assert parse_number(text)[0] == pytest.approx(value)


def test_format_command_uses_the_decimal_separator_and_never_negative_zero():
    assert format_command(0.123456789, -0.5, ",") == {"steering_angle": "0,123457", "throttle": "-0,500000"}
    assert format_command(-1e-9, 0.0) == {"steering_angle": "0.000000", "throttle": "0.000000"}
    assert format_number(-0.25) == "-0.250000"


def test_parse_telemetry_reads_simulator_payload_and_manual_mode():
    t = parse_telemetry({"steering_angle": "-3,5000", "throttle": "0,2000", "speed": "30,1903", "image": "QUJD"})
    assert (t.steering_angle, t.throttle, t.speed, t.image, t.decimal) == (-3.5, 0.2, 30.1903, "QUJD", ",")
    assert parse_telemetry({}) is None
    # the edge of plausible still parses: a modded simulator may be faster, or sign its speed
    assert parse_telemetry({"steering_angle": "-50", "throttle": "-1.5", "speed": "-90", "image": "QUJD"}).speed == -90


@pytest.mark.parametrize("payload,reason", [
    ("text", "not_a_dict"), ([], "not_a_dict"), (None, "not_a_dict"),
    ({"speed": "1"}, "missing_field"),
    ({"steering_angle": "x", "throttle": "0", "speed": "1", "image": "QUJD"}, "bad_number"),
    ({"steering_angle": "0", "throttle": "0", "speed": "NaN", "image": "QUJD"}, "bad_number"),
    ({"steering_angle": "0", "throttle": "0", "speed": "-1e300", "image": "QUJD"}, "out_of_range"),
    ({"steering_angle": "0", "throttle": "0", "speed": "90,5", "image": "QUJD"}, "out_of_range"),
    ({"steering_angle": "-50,5", "throttle": "0", "speed": "1", "image": "QUJD"}, "out_of_range"),
    ({"steering_angle": "0", "throttle": "2", "speed": "1", "image": "QUJD"}, "out_of_range"),
    ({"steering_angle": "0", "throttle": "0", "speed": "1", "image": ""}, "bad_image_field"),
    ({"steering_angle": "0", "throttle": "0", "speed": "1", "image": ["QUJD"]}, "bad_image_field"),
    ({"steering_angle": "0", "throttle": "0", "speed": "1", "image": "Q" * 2001}, "oversized_image"),
])
def test_parse_telemetry_names_the_problem(payload, reason):
    with pytest.raises(MalformedTelemetry) as err:
        parse_telemetry(payload, max_image_chars=2000)
    assert err.value.reason == reason


def test_speed_controller_is_the_classic_pi_with_anti_windup():
    pi = SpeedController(kp=0.1, ki=0.002, max_throttle=0.6, max_brake=1.0)
    assert pi.run(10.0, 12.0) == pytest.approx(0.1 * 2 + 0.002 * 2)
    assert pi.run(10.0, 12.0) == pytest.approx(0.1 * 2 + 0.002 * 4)
    for _ in range(1000):  # stuck at 0 mph: saturated, the integral must stop growing
        assert pi.run(0.0, 12.0) == 0.6
    assert pi.integral < 300, "integral wound up while saturated"
    assert pi.run(20.0, 12.0) < 0, "above target speed the controller brakes"


def test_steering_filter_clips_and_smooths():
    assert SteeringFilter().run(1.7) == 1.0
    assert SteeringFilter().run(-3.0) == -1.0
    smooth = SteeringFilter(smooth=0.75)
    assert smooth.run(0.4) == pytest.approx(0.4)
    assert smooth.run(0.0) == pytest.approx(0.3)
    smooth.reset()
    assert smooth.run(-0.2) == pytest.approx(-0.2)


def test_controller_slows_in_turns_keeps_steering_when_unsafe_and_resets():
    controller = Controller(ControlConfig(target_speed=20.0, turn_slowdown=0.5, max_throttle=1.0))
    steering, throttle = controller.run(1.0, 10.0)  # full lock: target 20 * (1 - 0.5) = 10 mph
    assert (steering, throttle) == (1.0, pytest.approx(0.0))
    assert controller.run(0.3, math.nan) == (1.0, 0.0), "non-finite input gives the safe command"
    assert controller.safe_command() == (1.0, 0.0)
    controller.reset()
    assert controller.safe_command() == (0.0, 0.0)
    assert controller.speed.integral == 0.0


@pytest.mark.parametrize("field,value", [("smooth", 1.0), ("turn_slowdown", -0.1), ("max_throttle", 0.0),
                                         ("target_speed", -1.0)])
def test_control_config_rejects_out_of_range_values(field, value):
    with pytest.raises(ValueError, match=field):
        ControlConfig(**{field: value})
