"""Markdown pieces every benchmark's section is written with: numbers, tables, goal verdicts.

Sections are built from measured results only; these helpers format, they never hold a figure.
"""
from __future__ import annotations


def num(value: float, digits: int = 1) -> str:
    """`1,234.5`: thousands separated, `digits` decimals."""
    return f"{value:,.{digits}f}"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table as lines, followed by a blank line."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines + [""]


def verdict(ok: bool, text: str) -> str:
    """`**met**: text` or `**missed**: text`."""
    return f"**{'met' if ok else 'missed'}**: {text}"
