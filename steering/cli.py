"""Command lines from config dataclasses, and the one logging set-up every entry point uses.

A config field that should be a flag is declared with `option(default, help=...)`; a nested
config with `nested(Cls, "title")`. `add_config_flags` turns them into argparse flags (names
from the fields, `--max-throttle`; defaults and help from the dataclass; bools as `--x/--no-x`),
and `config_from_args` builds the config back from what was given, over a base (defaults, or
values from a YAML file). One new knob is one new field.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
_KEY = "steering.cli"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def option(default: Any = dataclasses.MISSING, *, help: str | Callable[[], str], flag: str | None = None,
           default_factory: Any = dataclasses.MISSING, **argparse_kwargs: Any) -> Any:
    """A dataclass field that is also a command-line flag. `help`/`choices` may be callables (built late).

    `flag` renames it (`--speed` for `target_speed`); other keywords go to `add_argument`.
    """
    meta = {_KEY: {"help": help, "flag": flag, **argparse_kwargs}}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def nested(cls: type, title: str) -> Any:
    """A field holding another config; its flags form the argparse group `title`."""
    return dataclasses.field(default_factory=cls, metadata={_KEY: {"group": title}})


def _late(value: Any) -> Any:
    return value() if callable(value) and not isinstance(value, type) else value


def _value_type(hint: Any) -> Any:
    """`float` for `float`, `Path` for `Path | None`; None for types argparse cannot convert to."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return _value_type(args[0]) if len(args) == 1 else None
    return hint if hint in (int, float, str, Path, bool) else None


def _dest(prefix: str, name: str) -> str:
    return f"{prefix}{name}"


def add_config_flags(parser: argparse.ArgumentParser | argparse._ArgumentGroup, cls: type, *,
                     prefix: str = "", group_parser: argparse.ArgumentParser | None = None) -> None:
    """Add a flag for every `option` field of `cls` (recursing into `nested` ones).

    Flags that are not given leave no attribute (argparse.SUPPRESS), so `config_from_args` can
    tell a given value from a default.
    """
    root = group_parser or (parser if isinstance(parser, argparse.ArgumentParser) else None)
    hints = typing.get_type_hints(cls)
    defaults = cls()
    for f in dataclasses.fields(cls):
        meta = f.metadata.get(_KEY)
        if meta is None:
            continue
        if "group" in meta:
            target = root.add_argument_group(meta["group"]) if root is not None else parser
            add_config_flags(target, hints[f.name], prefix=f"{prefix}{f.name}.", group_parser=root)
            continue
        kwargs = {k: _late(v) for k, v in meta.items() if k not in ("help", "flag")}
        default = getattr(defaults, f.name)
        value_type = _value_type(hints[f.name])
        flag = "--" + (meta["flag"] or f.name).replace("_", "-")
        text = _late(meta["help"])
        if value_type is bool:
            kwargs.setdefault("action", argparse.BooleanOptionalAction)
        elif value_type is not None and "action" not in kwargs:
            kwargs.setdefault("type", value_type)
            if "choices" not in kwargs:
                kwargs.setdefault("metavar", (meta["flag"] or f.name).upper())
        shown = "off" if default is None or default == "" else default
        if value_type is not bool and "%(default)" not in text:
            text = f"{text} (default {shown})"
        parser.add_argument(flag, dest=_dest(prefix, f.name), default=argparse.SUPPRESS, help=text, **kwargs)


def given_values(cls: type, args: argparse.Namespace, prefix: str = "") -> dict[str, Any]:
    """The flags of `cls` that were given, as a (nested) dict of field name -> value."""
    hints = typing.get_type_hints(cls)
    given: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        meta = f.metadata.get(_KEY)
        if meta is None:
            continue
        if "group" in meta:
            inner = given_values(hints[f.name], args, f"{prefix}{f.name}.")
            if inner:
                given[f.name] = inner
        elif hasattr(args, _dest(prefix, f.name)):
            given[f.name] = getattr(args, _dest(prefix, f.name))
    return given


def merge_values(cls: type[T], base: T, values: dict[str, Any]) -> T:
    """`base` with `values` (a nested dict, as from `given_values`) applied."""
    hints = typing.get_type_hints(cls)
    changes = {}
    for name, value in values.items():
        if isinstance(value, dict) and dataclasses.is_dataclass(hints.get(name)):
            changes[name] = merge_values(hints[name], getattr(base, name), value)
        else:
            changes[name] = value
    return dataclasses.replace(base, **changes)


def config_from_args(cls: type[T], args: argparse.Namespace, base: T | None = None) -> T:
    """The config the command line asks for: `base` (default: `cls()`) with every given flag applied."""
    return merge_values(cls, base if base is not None else cls(), given_values(cls, args))


def setup_logging(verbose: bool = False) -> None:
    """INFO (DEBUG with -v) to stderr in one format, for every command line of the project."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=LOG_FORMAT, datefmt="%H:%M:%S")
    logging.getLogger("matplotlib").setLevel(logging.WARNING)  # its font search floods --verbose
