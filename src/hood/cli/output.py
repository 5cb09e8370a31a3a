"""Printing helpers shared by commands: Go tabwriter tables, docker's JSON indentation."""

from __future__ import annotations

import json
import sys
from typing import Any


def tabwrite(rows: list[list[str]], *, minwidth: int = 10, padding: int = 3) -> str:
    """Go's text/tabwriter as docker's CLI sets it up (minwidth 10, padding 3, spaces).

    Every cell but the last of a line is padded to its column's width."""
    if not rows:
        return ""
    ncols = max(len(r) for r in rows)
    widths = [0] * ncols
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths[i], len(cell) + padding, minwidth)
    lines = []
    for row in rows:
        parts = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        parts.append(row[-1] if row else "")
        lines.append("".join(parts))
    return "\n".join(lines) + "\n"


def dumps_indented(value: Any) -> str:
    """JSON as docker inspect prints it: 4-space indent, no HTML or non-ASCII escaping."""
    return json.dumps(value, indent=4, ensure_ascii=False, separators=(",", ": "))


def write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()
