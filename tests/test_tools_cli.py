"""The command-line contract every data tool shares through data_tools.cli: arguments, exit codes, messages."""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from data_tools.cli import add_common, add_logs_input, run_tool
from steering.checkpoint import CheckpointError
from steering.data import DrivingLogError


def tool_parser(progress: bool = False) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="steering-example")
    add_logs_input(parser, "where to write")
    add_common(parser, progress=progress)
    return parser


def test_run_tool_prints_the_body_message_and_returns_0(capsys):
    seen = []

    def body(args: argparse.Namespace) -> str:
        seen.append(args)
        return "line one\nline two"

    assert run_tool(tool_parser(), body, ["a", "b", "--out", "x.csv", "--lenient"]) == 0
    out, err = capsys.readouterr()
    assert out == "line one\nline two\n"
    assert err == ""
    assert seen[0].logs == ["a", "b"]
    assert seen[0].out == Path("x.csv")
    assert seen[0].lenient is True
    assert seen[0].verbose is False


@pytest.mark.parametrize("error, text", [
    (DrivingLogError("log.csv", 3, "bad row"), "log.csv:3: bad row"),
    (CheckpointError("m.pt: not a checkpoint"), "m.pt: not a checkpoint"),
    (FileNotFoundError("lap: no such folder"), "lap: no such folder"),
    (ValueError("--n must be at least 1"), "--n must be at least 1"),
])
def test_run_tool_reports_user_errors_in_one_line_with_exit_2(error, text, capsys):
    def body(args: argparse.Namespace) -> str:
        raise error

    assert run_tool(tool_parser(), body, ["a", "--out", "o"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"steering-example: error: {text}\n"


def test_run_tool_lets_bugs_and_errors_outside_the_given_set_propagate():
    def key_error(args: argparse.Namespace) -> str:
        raise KeyError("steering")

    def value_error(args: argparse.Namespace) -> str:
        raise ValueError("not a user error for this tool")

    with pytest.raises(KeyError):
        run_tool(tool_parser(), key_error, ["a", "--out", "o"])
    with pytest.raises(ValueError):
        run_tool(tool_parser(), value_error, ["a", "--out", "o"], errors=(DrivingLogError, OSError))


def test_logs_and_out_are_required(capsys):
    with pytest.raises(SystemExit) as missing_out:
        tool_parser().parse_args(["a"])
    assert missing_out.value.code == 2
    assert "--out" in capsys.readouterr().err
    with pytest.raises(SystemExit) as missing_logs:
        tool_parser().parse_args(["--out", "o"])
    assert missing_logs.value.code == 2


def test_no_progress_only_on_tools_that_ask_for_it():
    assert tool_parser(progress=True).parse_args(["a", "--out", "o", "--no-progress"]).no_progress is True
    assert tool_parser(progress=True).parse_args(["a", "--out", "o"]).no_progress is False
    with pytest.raises(SystemExit):
        tool_parser(progress=False).parse_args(["a", "--out", "o", "--no-progress"])


def test_logs_positional_can_be_renamed_for_merge():
    parser = argparse.ArgumentParser(prog="steering-example")
    add_logs_input(parser, "dataset folder", logs="inputs", logs_help="recording folders")
    args = parser.parse_args(["a", "b", "--out", "all"])
    assert args.inputs == ["a", "b"]
    assert "recording folders" in parser.format_help()
