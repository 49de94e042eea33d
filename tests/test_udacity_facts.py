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


def _numeric_facts() -> dict[str, float]:
    """udacity.py's numbers by name (`MAX_STEER_DEG`: 25.0), read from its source so a new fact is covered too."""
    facts = {}
    for node in ast.parse((REPO / "steering" / "udacity.py").read_text()).body:
        if isinstance(node, ast.Assign):
            for name, value in _named_values(node.targets[0], node.value):
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    facts[name] = value
    return facts


def _named_values(target: ast.expr, value: ast.expr) -> list[tuple[str, object]]:
    """`A, B = 1, 2` -> [("A", 1), ("B", 2)]; values that are no literal come back as None."""
    if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple):
        return [pair for t, v in zip(target.elts, value.elts, strict=False) for pair in _named_values(t, v)]
    if not isinstance(target, ast.Name):
        return []
    if isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.USub) and isinstance(value.operand, ast.Constant):
        return [(target.id, -value.operand.value)]
    return [(target.id, value.value if isinstance(value, ast.Constant) else None)]


def _unit(name: str) -> str:
    """The last word of a name: `DEG` for `MAX_STEER_DEG`, `HZ` for `RECORD_HZ`."""
    return name.rsplit("_", 1)[-1].upper()


def _restated_numbers(tree: ast.AST, facts: dict[str, float]) -> list[str]:
    """Constants (UPPER_CASE names) holding one of udacity.py's numbers in the same unit: `_MAX_WHEEL_DEG = 25.0`."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            for name, value in _named_values(target, node.value):
                if not name.lstrip("_").isupper() or isinstance(value, bool):
                    continue
                for fact, number in facts.items():
                    if value == number and _unit(name) == _unit(fact):
                        found.append(f"{name} = {value!r} (udacity.{fact})")
    return found


def test_the_number_scan_catches_a_restated_steering_limit():
    facts = _numeric_facts()
    assert facts["MAX_STEER_DEG"] == 25.0 and facts["FRAME_HEIGHT"] == 160 and facts["PORT"] == 4567
    code = ("_MAX_WHEEL_DEG = 25.0\nTOP_MPH: float = 30.0\nIMAGE_HEIGHT, IMAGE_WIDTH = 160, 320\n"
            "WATER_REACH_M = 25.0\nLATENCY_FRAMES = 30\nheight = 160\nTIMEOUT_S = 30.0\n")
    assert _restated_numbers(ast.parse(code), facts) == [
        "_MAX_WHEEL_DEG = 25.0 (udacity.MAX_STEER_DEG)", "TOP_MPH = 30.0 (udacity.TOP_SPEED_MPH)",
        "IMAGE_HEIGHT = 160 (udacity.FRAME_HEIGHT)", "IMAGE_WIDTH = 320 (udacity.FRAME_WIDTH)"]


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
    facts = _numeric_facts()
    offenders = [f"{path.relative_to(REPO)}: {fact}"
                 for path in sorted([*(REPO / "steering").rglob("*.py"), REPO / "drive.py", REPO / "train.py",
                                     *(REPO / "data_tools").glob("*.py")])
                 if path.name != "udacity.py"
                 for tree in [ast.parse(path.read_text())]
                 for fact in [*_restated_facts(tree), *_restated_numbers(tree, facts)]]
    assert offenders == []
