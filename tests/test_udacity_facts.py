"""Each fact the Unity simulator dictates has one definition, and every writer and reader agrees on it."""
from __future__ import annotations

import ast
import datetime as dt
import math
from pathlib import Path

import pytest

from drive_wire import real_center_frames
from steering import udacity
from steering.data import read_logs
from steering.data.synthetic import SyntheticRow, write_log_file, write_recording
from steering.drive.sinks import DriveFrame, Recorder
from steering.sim.recorder import RecordConfig, record
from steering.sim.world import SIM_DT, WorldConfig

REPO = Path(__file__).resolve().parents[1]


def test_a_frame_name_parses_back_to_its_time_through_the_one_function():
    when = dt.datetime(2020, 5, 9, 22, 16, 55, 357_000, tzinfo=dt.timezone.utc)
    name = udacity.frame_name("left", when)
    assert name == "left_2020_05_09_22_16_55_357.jpg"
    assert udacity.frame_timestamp(rf"C:\Users\x\IMG\{name}") == pytest.approx(when.timestamp())
    assert math.isnan(udacity.frame_timestamp("IMG/frame_0001.jpg"))


def test_drive_recorder_headless_simulator_and_synthetic_logs_write_the_same_names_and_rows(tmp_path):
    jpeg = real_center_frames(1)[0]
    import base64

    recorder = Recorder(tmp_path / "drive")
    when = dt.datetime(2024, 5, 1, 12, 0, 0, 250_000)
    recorder.put(DriveFrame(base64.b64encode(jpeg).decode(), when, 0.25, -0.5, 9.0))
    recorder.close()
    record(tmp_path / "sim", WorldConfig(track="oval"), config=RecordConfig(laps=1, max_samples=3, progress=False,
                                                                             start_time=when))
    lines = write_recording(tmp_path / "synthetic", [SyntheticRow(0.1, 0.2, 0.0, 5.0)], first_time=when)
    write_log_file(tmp_path / "synthetic" / udacity.LOG_NAME, lines)

    logs = {name: read_logs(tmp_path / name / udacity.LOG_NAME).rows for name in ("drive", "sim", "synthetic")}
    for name, rows in logs.items():
        center = Path(rows["center"].iloc[0])
        assert center.parent.name == udacity.IMAGE_DIR, name
        assert center.name.startswith("center_") and center.suffix == ".jpg", name
        # the reader derives each row's time from the name with udacity.frame_timestamp
        assert rows["timestamp"].iloc[0] == pytest.approx(udacity.frame_timestamp(center.name)), name
    # all three started at the same instant, so their first names are identical
    assert len({Path(rows["center"].iloc[0]).name for rows in logs.values()}) == 1
    # the drive recorder writes brake for negative throttle, as the simulator's log does
    assert logs["drive"][["steering", "throttle", "brake", "speed"]].iloc[0].tolist() == [0.25, 0.0, 0.5, 9.0]
    # the headless simulator records all three cameras, one sample per record period
    sim = logs["sim"]
    assert all(sim[c].iloc[0] for c in udacity.CAMERAS)
    # millisecond names: each step is the record period to within a millisecond
    assert sim["timestamp"].diff().dropna().tolist() == pytest.approx([udacity.RECORD_PERIOD_S] * 2, abs=1.001e-3)
    assert SIM_DT == udacity.RECORD_PERIOD_S


def test_the_server_the_wire_client_and_the_car_share_the_socket_and_steering_facts():
    from steering.drive import DriveConfig, DriveServer
    from steering.sim.car import CarConfig

    assert DriveConfig().transport.port == udacity.PORT
    server = DriveServer(model=None, config=DriveConfig())  # not started: only its address
    assert server.url == f"ws://127.0.0.1:{udacity.PORT}{udacity.SOCKET_PATH}"
    assert CarConfig().max_steer_deg == udacity.MAX_STEER_DEG
    assert CarConfig().top_speed_mph == udacity.TOP_SPEED_MPH


def _restated_facts(tree: ast.AST) -> list[str]:
    """Simulator facts written as values in code (prose in docstrings, comments and messages is fine)."""
    found = []
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and n.body and isinstance(n.body[0], ast.Expr)}
    for node in ast.walk(tree):
        if id(node) in docstrings:
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value in ("driving_log.csv", "IMG"):
                found.append(f"{node.value!r} (udacity.LOG_NAME / IMAGE_DIR)")
            elif "EIO=4&" in node.value:
                found.append("the socket path (udacity.SOCKET_PATH)")
            elif "_%H_%M_%S" in node.value:
                found.append("the frame-name format (udacity.frame_name)")
        elif isinstance(node, ast.Tuple) and [getattr(e, "value", None) for e in node.elts] == list(udacity.CAMERAS):
            found.append("the camera names (udacity.CAMERAS)")
        elif (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and isinstance(node.right, ast.Constant)
              and node.right.value == 15):
            found.append("the record period (udacity.RECORD_PERIOD_S)")
        elif isinstance(node, ast.Constant) and repr(node.value) == "4567":
            found.append("4567 (udacity.PORT)")
        elif (isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Constant)
              and "steer" in ast.unparse(node.targets[0] if isinstance(node, ast.Assign) else node.target).lower()
              and "deg" in ast.unparse(node.targets[0] if isinstance(node, ast.Assign) else node.target).lower()):
            found.append("a steering limit in degrees (udacity.MAX_STEER_DEG)")
    return found


def test_no_other_module_restates_a_simulator_fact():
    offenders = [f"{path.relative_to(REPO)}: {fact}"
                 for path in sorted([*(REPO / "steering").rglob("*.py"), REPO / "drive.py", REPO / "train.py",
                                     *(REPO / "data_tools").glob("*.py")])
                 if path.name != "udacity.py"
                 for fact in _restated_facts(ast.parse(path.read_text()))]
    assert offenders == []
