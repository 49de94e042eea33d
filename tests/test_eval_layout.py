"""The evaluator's modules import each other one way only; the simulator never imports the evaluator."""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _imports(package: str) -> dict[str, set[str]]:
    """module -> the modules of `package` it imports anywhere (TYPE_CHECKING blocks and functions included)."""
    folder = REPO / package.replace(".", "/")
    graph = {}
    for path in folder.glob("*.py"):
        name = f"{package}.{path.stem}"
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
        graph[name] = {m for m in found if m.startswith(package + ".") and m != name and m.count(".") == 2}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt in path:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif len(path) < len(graph):
                visit(nxt, path + [nxt])

    for start in graph:
        visit(start, [start])
    return cycles


def test_no_import_circle_in_the_evaluator_or_the_drive_stack():
    graph = _imports("steering.eval")
    assert {"steering.eval.scoring", "steering.eval.report", "steering.eval.evaluate", "steering.eval.cli"} <= set(
        graph
    )
    assert _cycles(graph) == []
    assert _cycles(_imports("steering.drive")) == []
    assert _cycles(_imports("steering.replay")) == []


def test_the_simulator_package_does_not_import_the_evaluator():
    offenders = [path.name for path in (REPO / "steering" / "sim").glob("*.py") if path.name != "__main__.py"
                 for node in ast.walk(ast.parse(path.read_text()))
                 if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("steering.eval")]
    assert offenders == []


def test_the_circle_finder_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) != []
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
