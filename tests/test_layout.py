"""The package's layout holds: no import circle at any depth, no upward import, no hidden imports.

Every module under steering/, bench/ and data_tools/ (and train.py, drive.py) is read with `ast`: imports at
the top, inside functions and in TYPE_CHECKING blocks all count. `from steering.x import y` is an edge to
`steering.x.y` when that is a module, else to `steering.x`. Parents a package import loads implicitly are not
edges (every module would then circle through its package's `__init__`).
"""
from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROOTS = ("steering", "bench", "data_tools")

# Lower layers never import higher ones. Same-layer imports are allowed (the circle check still applies).
LAYERS = {
    "steering.udacity": 0, "steering.cli": 0, "steering.preprocess": 0, "steering.safe_load": 0,
    "steering.model": 1, "steering.model_families": 1, "steering.model_weights": 1, "steering.efficientnet_lite": 1,
    "steering.checkpoint": 1, "steering.data": 1, "steering.perturb": 1,
    "steering.explain": 2,
    "steering.training": 3, "steering.inference": 3, "steering.monitors": 3,
    "steering.drive": 4, "steering.export": 4,
    "steering.sim": 5,
    "steering.replay": 6,
    "steering.eval": 6,
    "steering.study": 7,
    "steering.demo": 8,
    "bench": 9, "data_tools": 9, "train": 9, "drive": 9,
}


@dataclass(frozen=True)
class Import:
    source: str  # importing module
    target: str  # imported module (resolved to a module that exists)
    line: int
    hidden: bool  # inside a function or a TYPE_CHECKING block
    explained: bool  # a comment on its line or the line above says why


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    paths = [p for root in ROOTS for p in (REPO / root).rglob("*.py")] + [REPO / "train.py", REPO / "drive.py"]
    return {_module_name(p): p for p in paths if "__pycache__" not in p.parts}


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _is_type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def _imports_of(name: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    found: list[Import] = []

    def explained(lineno: int) -> bool:
        """A comment on the line, or above the block of import lines it belongs to."""
        if "#" in lines[lineno - 1]:
            return True
        above = lineno - 2
        while above >= 0 and lines[above].strip().startswith(("from ", "import ")):
            above -= 1
        line = lines[above].strip() if above >= 0 else ""
        return line.startswith("#") or (line.startswith("if TYPE_CHECKING") and "#" in line)

    def add(module: str, node: ast.stmt, hidden: bool) -> None:
        target = _resolve(module, modules)
        if target is not None and target != name and target.split(".")[0] in (*ROOTS, "train", "drive"):
            found.append(Import(name, target, node.lineno, hidden, explained(node.lineno)))

    def visit(node: ast.AST, hidden: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    add(alias.name, child, hidden)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                for alias in child.names:
                    add(f"{child.module}.{alias.name}", child, hidden)
            inner = hidden or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) or (
                isinstance(child, ast.If) and _is_type_checking(child))
            visit(child, inner)

    visit(ast.parse(source), False)
    return found


def _all_imports() -> list[Import]:
    modules = _modules()
    return [imp for name, path in sorted(modules.items()) for imp in _imports_of(name, path, modules)]


def _layer(module: str) -> int:
    if module.endswith(".__main__"):
        return LAYERS["bench"]  # a package's command line composes whatever it runs, like the top-level CLIs
    if module == "steering":
        return 0
    while module not in LAYERS:
        if "." not in module:
            raise KeyError(module)
        module = module.rpartition(".")[0]
    return LAYERS[module]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every elementary circle's nodes, found by depth-first search from each node (small graphs only)."""
    cycles: list[list[str]] = []
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def visit(node: str, path: list[str], on_path: set[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt == path[0]:
                cycles.append(path + [nxt])
            elif nxt not in on_path and nxt > path[0]:  # each circle once, from its smallest node
                visit(nxt, path + [nxt], on_path | {nxt})

    for start in sorted(graph):
        visit(start, [start], {start})
    return cycles


def test_no_import_circle_anywhere_at_any_depth():
    graph: dict[str, set[str]] = {}
    for imp in _all_imports():
        graph.setdefault(imp.source, set()).add(imp.target)
    assert _cycles(graph) == [], "import circles (function-level and TYPE_CHECKING imports count)"


def test_no_module_imports_a_higher_layer():
    upward = [f"{imp.source}:{imp.line} imports {imp.target}" for imp in _all_imports()
              if _layer(imp.target) > _layer(imp.source)]
    assert upward == [], "lower layers must not import higher ones (LAYERS in this test)"


def test_every_module_has_a_layer():
    missing = []
    for name in _modules():
        try:
            _layer(name)
        except KeyError:
            missing.append(name)
    assert missing == [], "give each new top-level module a layer in LAYERS"


def test_hidden_imports_of_the_project_say_why():
    unexplained = [f"{imp.source}:{imp.line} imports {imp.target}" for imp in _all_imports()
                   if imp.hidden and not imp.explained]
    assert unexplained == [], ("a function-level or TYPE_CHECKING import of the project's own modules needs a "
                               "comment saying why (an optional heavy dependency, start-up time); else import it "
                               "at the top")


@pytest.mark.parametrize("package", ["steering.inference", "steering.export", "steering.study", "bench.timing"])
def test_inference_side_imports_no_server_stack(package):
    import subprocess

    code = (f"import sys, {package}; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'eventlet', 'socketio', 'engineio'}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", f"importing {package} loaded {out.stdout.strip()}"


def test_the_circle_finder_finds_circles_at_any_depth():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    assert _cycles({"a.x.y": {"b"}, "b": {"a.x.y"}}) == [["a.x.y", "b", "a.x.y"]]


def test_hidden_imports_are_seen(tmp_path, monkeypatch):
    pkg = tmp_path / "steering"
    pkg.mkdir()
    (pkg / "one.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from steering import two\n")
    (pkg / "two.py").write_text("def f():\n    # start-up time\n    from steering.one import g\n")
    modules = {"steering.one": pkg / "one.py", "steering.two": pkg / "two.py"}
    one = _imports_of("steering.one", pkg / "one.py", modules)
    two = _imports_of("steering.two", pkg / "two.py", modules)
    assert [(i.target, i.hidden, i.explained) for i in one] == [("steering.two", True, False)]
    assert [(i.target, i.hidden, i.explained) for i in two] == [("steering.one", True, True)]
