"""The simulator's wire client: exact telemetry bytes, culture quirks, double open, chains, pings.

A python-socketio 4.6 + eventlet echo server (tests/sim_echo_server.py) runs in a subprocess on a
loopback port and logs what it received, so both sides of the wire are checked.
"""
from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from steering.preprocess import decode_jpeg, encode_jpeg
from steering.sim.client import ClientConfig, SimClient, SimClientError, parse_command, telemetry_packet
from steering.sim.world import SIM_DT, World, WorldConfig
from steering.udacity import format_n4, parse_culture_float

ECHO_SERVER = Path(__file__).with_name("sim_echo_server.py")
N4 = {".": re.compile(r"-?\d{1,3}(,\d{3})*\.\d{4}"), ",": re.compile(r"-?\d{1,3}(\.\d{3})*,\d{4}")}


class EchoServer:
    def __init__(self, tmp_path: Path, *args: str):
        self.log = tmp_path / f"echo_{abs(hash(args))}.jsonl"
        self.proc = subprocess.Popen([sys.executable, str(ECHO_SERVER), "--log", str(self.log), *args],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.strip().isdigit(), f"echo server did not start (printed {line!r})"
        self.port = int(line)

    def records(self, event: str = "telemetry", expect: int = 0) -> list[dict]:
        """Logged events; waits (up to 5 s) until at least `expect` of them arrived."""
        deadline = time.monotonic() + 5
        while True:
            lines = self.log.read_text().splitlines() if self.log.exists() else []
            found = [r for r in map(json.loads, lines) if r["event"] == event]
            if len(found) >= expect or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture()
def echo(tmp_path):
    servers = []

    def start(*args: str) -> EchoServer:
        servers.append(EchoServer(tmp_path, *args))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def oval_world() -> World:
    return World(WorldConfig(track="oval", start_speed_mph=10))


# -- pure functions --------------------------------------------------------------------------------
def test_telemetry_packet_is_the_simulators_compact_json():
    packet = telemetry_packet(-3.5, 0.2, 30.19034, b"\xff\xd8jpeg")
    image = base64.b64encode(b"\xff\xd8jpeg").decode()
    assert packet == ('42["telemetry",{"steering_angle":"-3.5000","throttle":"0.2000","speed":"30.1903",'
                      f'"image":"{image}"}}]')


def test_comma_locale_telemetry_uses_decimal_commas():
    packet = telemetry_packet(-3.5, 0.2, 30.19034, b"x", decimal=",")
    data = json.loads(packet[2:])[1]
    assert (data["steering_angle"], data["throttle"], data["speed"]) == ("-3,5000", "0,2000", "30,1903")


def test_n4_formatting_rounds_half_away_and_groups_thousands():
    assert format_n4(0.00005) == "0.0001"
    assert format_n4(-0.00005, ",") == "-0,0001"
    assert format_n4(-0.00001) == "0.0000"  # rounds to zero: no sign
    assert format_n4(1234.5) == "1,234.5000"
    assert format_n4(1234.5, ",") == "1.234,5000"


def test_comma_culture_reads_a_dot_reply_as_a_group_separator():
    assert parse_culture_float("0.1", ",") == 1.0
    assert parse_culture_float("-0.0125", ",") == -125.0
    assert parse_culture_float("-0,05", ",") == -0.05
    assert parse_culture_float("1,5", ".") == 15.0
    command = parse_command("steer", {"steering_angle": "0.1", "throttle": "0.3"}, ",")
    assert (command.steering, command.throttle) == (1.0, 1.0), "dot replies must read as full lock on a comma machine"
    command = parse_command("steer", {"steering_angle": "-0,25", "throttle": "0,3"}, ",")
    assert (command.steering, command.throttle) == (-0.25, 0.3)


def test_unparseable_reply_raises_like_the_runtimes_format_exception():
    with pytest.raises(ValueError, match="decimal separator ','"):
        parse_culture_float("1,5.2", ",")
    with pytest.raises(ValueError):
        parse_culture_float("", ".")


def test_unreachable_server_error_names_the_url_and_the_fix():
    config = ClientConfig(port=1, connect_timeout_s=2)  # nothing listens on port 1
    with pytest.raises(SimClientError, match=r"ws://127\.0\.0\.1:1/socket\.io/\?EIO=4&transport=websocket.*drive\.py"):
        SimClient(oval_world(), config).run(max_steps=1)


# -- over a loopback socket -------------------------------------------------------------------------
@pytest.mark.parametrize("double_open, expected", [(True, 2), (False, 1)])
def test_connect_sends_two_telemetries_with_double_open_and_one_without(echo, double_open, expected):
    server = echo("--steer", "0", "--throttle", "0")
    result = SimClient(oval_world(), ClientConfig(port=server.port, double_open=double_open)).run(max_steps=0)
    assert result.opening_telemetry == expected
    server.records(expect=expected)
    time.sleep(0.2)  # nothing more may arrive
    assert len(server.records()) == expected


@pytest.mark.parametrize(
    "double_open, steer_on_connect, chains", [(True, True, 3), (True, False, 2), (False, False, 1)]
)
def test_request_chains_seen_by_a_slow_server(echo, double_open, steer_on_connect, chains):
    """Each telemetry answer triggers the next telemetry, so every opening message starts a chain."""
    extra = ("--steer-on-connect",) if steer_on_connect else ()
    server = echo("--steer", "0.05", "--throttle", "0.3", "--delay", "0.05", *extra)
    result = SimClient(oval_world(), ClientConfig(port=server.port, double_open=double_open)).run(max_steps=24)
    assert len(result.steps) == 24
    pending = [r["pending"] for r in server.records(expect=20)]
    assert max(pending) == chains, pending


def test_single_open_runs_one_lock_step_chain(echo):
    server = echo("--steer", "0.05", "--throttle", "0.3")
    result = SimClient(oval_world(), ClientConfig(port=server.port, double_open=False)).run(max_steps=40)
    assert result.max_in_flight == 1
    assert result.telemetry_sent == 40  # one on open, then one per reply except the last
    assert len(server.records(expect=40)) == 40


def test_telemetry_on_the_wire_is_n4_strings_and_a_320x160_jpeg(echo):
    server = echo("--steer", "0", "--throttle", "0.5")
    SimClient(oval_world(), ClientConfig(port=server.port, double_open=False)).run(max_steps=5)
    records = server.records(expect=5)
    assert len(records) == 5
    for record in records:
        assert record["keys"] == ["steering_angle", "throttle", "speed", "image"]
        assert record["jpeg"], "image must be a base64 JPEG"
        for key in ("steering_angle", "throttle", "speed"):
            assert N4["."].fullmatch(record[key]), f"{key}={record[key]!r} is not an N4 string"
    assert float(records[-1]["throttle"]) == 0.5
    frame = decode_jpeg(encode_jpeg(oval_world().render()))
    assert frame.shape == (160, 320, 3)


@pytest.mark.parametrize("decimal, reply, expected", [(",", "0,1", 0.1), (",", "0.1", 1.0), (".", "0.1", 0.1)])
def test_replies_are_read_in_the_simulators_culture_over_the_wire(echo, decimal, reply, expected):
    server = echo("--steer", reply, "--throttle", "0,3" if decimal == "," else "0.3")
    result = SimClient(oval_world(), ClientConfig(port=server.port, decimal=decimal, double_open=False)).run(
        max_steps=10
    )
    assert [c.steering for c in result.commands] == [expected] * 10
    records = server.records(expect=10)
    for key in ("steering_angle", "throttle", "speed"):
        assert all(N4[decimal].fullmatch(r[key]) for r in records), [r[key] for r in records]


def test_fixed_pacing_advances_one_step_per_reply_and_is_repeatable(echo):
    server = echo("--steer", "-0.1", "--throttle", "0.4")
    runs = [SimClient(oval_world(), ClientConfig(port=server.port)).run(max_steps=25) for _ in range(2)]
    times = [info.time_s for info in runs[0].steps]
    assert times == pytest.approx([SIM_DT * (i + 1) for i in range(25)])
    assert [(s.x, s.y, s.heading) for s in runs[0].steps] == [(s.x, s.y, s.heading) for s in runs[1].steps]
    assert runs[0].steps[-1].steering == pytest.approx(-0.1), "the wheels reach the commanded angle"


def test_client_pings_at_the_servers_interval_and_gets_pongs(echo):
    server = echo("--ping-interval", "0.1")
    result = SimClient(oval_world(), ClientConfig(port=server.port, pacing="wallclock")).run(max_steps=20)
    assert result.pings_sent >= 2  # 20 steps at 1/15 s of wall clock each take >= 1.3 s
    assert result.pongs_received >= 1
