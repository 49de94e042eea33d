"""Real-time pacing: the world moves by the server's measured round trip (whole simulator frames), so a
slow server costs steering; the report carries the control rate, the round trips and the machine."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from steering.drive import DriveConfig, TransportConfig, running_server
from steering.eval import EvalConfig, EvalReport, evaluate, markdown_table
from steering.eval.report import build_report, machine_description, round_trip_percentiles_ms
from steering.sim.client import ClientConfig, SimClient, realtime_advance_s
from steering.sim.session import Command, DriveResult
from steering.sim.world import SIM_DT, World, WorldConfig

ECHO_SERVER = Path(__file__).with_name("sim_echo_server.py")
FRAME = 1.0 / 60.0


@pytest.fixture()
def echo(tmp_path):
    """Start tests/sim_echo_server.py with arguments; yields a function returning its port."""
    procs = []

    def start(*args: str) -> int:
        proc = subprocess.Popen([sys.executable, str(ECHO_SERVER), "--log", str(tmp_path / f"echo{len(procs)}.jsonl"),
                                 *args], stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        line = proc.stdout.readline()
        assert line.strip().isdigit(), f"echo server did not start (printed {line!r})"
        return int(line)

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


def test_realtime_advance_is_the_wait_rounded_up_to_whole_frames_and_at_least_one():
    assert realtime_advance_s(0.0, FRAME) == pytest.approx(FRAME)
    assert realtime_advance_s(0.004, FRAME) == pytest.approx(FRAME)
    assert realtime_advance_s(0.1, FRAME) == pytest.approx(0.1)  # exactly 6 frames
    assert realtime_advance_s(0.1001, FRAME) == pytest.approx(7 * FRAME)
    assert realtime_advance_s(0.05, 1 / 30) == pytest.approx(2 / 30)
    with pytest.raises(ValueError, match="pacing"):
        ClientConfig(pacing="turbo")
    with pytest.raises(ValueError, match="frame_s"):
        ClientConfig(pacing="realtime", frame_s=0)


def _drive(port: int, pacing: str, steps: int) -> DriveResult:
    world = World(WorldConfig(track="oval", start_speed_mph=10))
    return SimClient(world, ClientConfig(port=port, pacing=pacing, double_open=False)).run(max_steps=steps)


def test_realtime_world_moves_by_the_measured_round_trip_with_the_previous_command(echo):
    slow = _drive(echo("--steer", "0.2", "--throttle", "0.5", "--delay", "0.1"), "realtime", 6)
    assert len(slow.steps) == len(slow.round_trip_s) == 6
    assert min(slow.round_trip_s) >= 0.1, "the server slept 100 ms before every reply"
    times = [0.0, *(s.time_s for s in slow.steps)]
    advances = np.diff(times)
    assert advances == pytest.approx([realtime_advance_s(rt, FRAME) for rt in slow.round_trip_s])
    assert all(a >= 0.1 for a in advances)
    # Replay by hand: during each wait the car drove the command in force before the reply
    # (nothing at first, then the server's), in steps of at most SIM_DT.
    replay = World(WorldConfig(track="oval", start_speed_mph=10))
    previous = Command(0.0, 0.0)
    for advance, command in zip(advances, slow.commands, strict=False):
        left = advance
        while left > 1e-12:
            replay.step(previous.steering, previous.throttle, min(SIM_DT, left))
            left -= min(SIM_DT, left)
        previous = command
    car = replay.car.state
    assert (car.x, car.y, car.heading) == pytest.approx((slow.steps[-1].x, slow.steps[-1].y, slow.steps[-1].heading))


def test_a_server_that_sleeps_100_ms_moves_the_car_further_per_reply_than_one_that_answers_at_once(echo):
    moved = {}
    for delay in ("0", "0.1"):
        drive = _drive(echo("--steer", "0", "--throttle", "0.3", "--delay", delay), "realtime", 8)
        moved[delay] = drive.steps[-1].distance_along_m / len(drive.steps)  # metres per reply
    assert moved["0.1"] > 2 * moved["0"], moved


def test_lock_step_ignores_the_delay_but_still_records_the_round_trips(echo):
    drive = _drive(echo("--steer", "0", "--throttle", "0.3", "--delay", "0.05"), "fixed", 5)
    assert [s.time_s for s in drive.steps] == pytest.approx([SIM_DT * (i + 1) for i in range(5)])
    assert len(drive.round_trip_s) == 5 and min(drive.round_trip_s) >= 0.05


class SleepyModel:
    """A drive-server model that thinks for `delay_s` and steers straight."""

    def __init__(self, delay_s: float):
        self.delay_s = delay_s

    def prepare(self, frame):
        return frame

    def infer(self, x) -> float:
        time.sleep(self.delay_s)
        return 0.0

    def configure_thread(self) -> None:
        pass

    def describe(self) -> str:
        return f"sleepy model ({self.delay_s * 1000:.0f} ms)"


def test_realtime_report_of_a_slow_model_shows_its_latency_and_a_lower_control_rate(tmp_path):
    config = DriveConfig(transport=TransportConfig(port=0), stats_every=0)
    results = {}
    with running_server(SleepyModel(0.1), config) as server:
        for pacing in ("fixed", "realtime"):
            results[pacing] = evaluate(None, EvalConfig(track="oval", laps=0.04, port=server.port, pacing=pacing,
                                                        speed_mph=12, progress=False, out_dir=tmp_path / pacing))
    fixed, real = results["fixed"].report, results["realtime"].report
    assert fixed.control_hz == pytest.approx(15.0), "lock step: one 1/15 s step per reply"
    assert real.round_trip_p50_ms >= 100.0
    # 100 ms + overhead is 7 frames of 1/60 s per reply (the opening's immediate reply can take one)
    assert real.control_hz < 1 / (6 * FRAME), "a 100 ms model cannot be answered at 10 Hz or more"
    waits = results["realtime"].drive.round_trip_s
    assert real.elapsed_s == pytest.approx(sum(realtime_advance_s(rt, FRAME) for rt in waits))
    assert real.steps < fixed.steps, "the same distance took fewer replies"
    assert (real.pacing, fixed.pacing) == ("realtime", "fixed")
    assert real.machine == machine_description() and "cores" in real.machine
    table = markdown_table([fixed, real])
    assert "| realtime |" in table and "| fixed |" in table
    assert f"Real-time rows ran on {real.machine}." in table


def test_report_counts_replies_per_simulated_second_and_round_trip_percentiles():
    world = World(WorldConfig(track="oval"))
    drive = DriveResult(stop_reason="max_steps", wall_s=2.0)
    for i in range(10):  # ten replies, 50 ms of simulated time each
        drive.steps.append(world.step(0.0, 0.5, 0.05))
        drive.commands.append(Command(0.0, 0.5))
        drive.round_trip_s.append(0.01 * (i + 1))
    report = build_report(EvalConfig(track="oval", pacing="realtime"), world, drive, [], None, "test", 20.0)
    assert report.elapsed_s == pytest.approx(0.5)
    assert report.control_hz == pytest.approx(20.0)
    assert report.round_trip_p50_ms == pytest.approx(55.0)  # median of 10..100 ms
    assert report.round_trip_p99_ms == pytest.approx(99.1)  # 90 + 0.91 * 10 (linear interpolation)
    assert report.target_speed_mph == 20.0
    assert report.frames_per_s == pytest.approx(5.0)
    assert round_trip_percentiles_ms([]) == (None, None)


def test_report_fields_round_trip_through_json_and_old_reports_still_read():
    world = World(WorldConfig(track="oval"))
    drive = DriveResult(stop_reason="laps", wall_s=1.0)
    for rt in (0.02, 0.03, 0.04):
        drive.steps.append(world.step(0.1, 0.4))
        drive.commands.append(Command(0.1, 0.4))
        drive.round_trip_s.append(rt)
    report = build_report(EvalConfig(track="oval", pacing="realtime"), world, drive, [], "m.pt", "srv", 15.0)
    again = EvalReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert again == report
    assert (again.pacing, again.target_speed_mph, again.round_trip_p50_ms) == ("realtime", 15.0, pytest.approx(30.0))
    new_in_2 = ("pacing", "target_speed_mph", "control_hz", "round_trip_p50_ms", "round_trip_p99_ms", "machine")
    old = {k: v for k, v in report.to_dict().items() if k not in new_in_2}
    old["version"] = 1
    legacy = EvalReport.from_dict(old)
    assert (legacy.pacing, legacy.control_hz, legacy.machine) == ("fixed", None, ""), "a version-1 report reads"
