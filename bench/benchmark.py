"""What a benchmark is: one registry entry, and the typed results it returns read back from JSON.

A benchmark is one module of `bench/` that owns its measurement (`run(config) -> Result`, a
dataclass), its markdown (`section(result)`) and what its numbers say (`findings(result)`). Each
module ends with one `BENCHMARK = Benchmark(...)`; `bench.registry` lists them in the order
`python -m bench all` runs them. Running, the page and the command line live in `bench.registry`,
`bench.page` and `bench.__main__`; this module knows none of the benchmarks.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def no_findings(result: Any, **_: Any) -> list[str]:
    return []


@dataclass(frozen=True)
class Benchmark:
    """One benchmark. `section` and `findings` take the result, plus, as keyword arguments, the
    results of the benchmarks named in `reads` (None when not measured)."""

    name: str
    help: str  # one line, shown by `python -m bench`
    config: Callable[[], Any]  # the settings `python -m bench all` (`make bench`) measures with
    quick: Callable[[], Any]  # the smallest settings: every code path in seconds, figures meaningless
    run: Callable[[Any], Any]  # config -> result (a dataclass)
    result: type  # the result's dataclass, to read results.json back
    section: Callable[..., str]  # result -> markdown
    findings: Callable[..., list[str]] = no_findings  # result -> markdown bullets ("- ...")
    page: bool = False  # its section is part of docs/benchmarks.md; otherwise it is printed
    reads: tuple[str, ...] = ()
    feed: Callable[[Any, Mapping[str, Any]], Any] | None = None  # (config, earlier results) -> config
    plot: Callable[[Any, Any], None] | None = None  # (result, matplotlib axes): one panel of the page's chart
    publish: Callable[[Any], Path] | None = None  # writes its figures into a doc of their own; returns the path
    doc: str = "docs/benchmarks.md"  # where its figures go or are quoted (shown by `python -m bench`)
    own_process: bool = False  # `all` runs it in a fresh process, as it always ran (it sets process-wide state)

    def others(self, results: Mapping[str, Any]) -> dict[str, Any]:
        """The keyword arguments `section` and `findings` take: the results this one reads."""
        return {name: results.get(name) for name in self.reads}


def to_jsonable(result: Any) -> Any:
    """A result as plain JSON values (dataclasses become dicts, tuples lists)."""
    return dataclasses.asdict(result) if dataclasses.is_dataclass(result) else result


def from_jsonable(kind: Any, data: Any) -> Any:
    """Rebuild a value of type `kind` (a dataclass, dict[str, X], list[X], tuple[...], X | None, a
    scalar) from its JSON form; a key the dataclass does not know is an error that names it."""
    if data is None:
        return None
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        kinds = [a for a in args if a is not type(None)]
        if len(kinds) != 1:
            raise TypeError(f"from_jsonable reads X | None only, not {kind}")
        return from_jsonable(kinds[0], data)
    if dataclasses.is_dataclass(kind):
        hints = typing.get_type_hints(kind)
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(kind)})
        if unknown:
            raise ValueError(f"{kind.__name__} has no field(s) {', '.join(unknown)}")
        return kind(**{key: from_jsonable(hints[key], value) for key, value in data.items()})
    if origin is dict:
        return {key: from_jsonable(args[1], value) for key, value in data.items()}
    if origin is list:
        return [from_jsonable(args[0], value) for value in data]
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(from_jsonable(args[0], value) for value in data)
        return tuple(from_jsonable(a, value) for a, value in zip(args, data, strict=False))
    if kind is float:
        return float(data)  # JSON writes 2.0 as 2
    return data
