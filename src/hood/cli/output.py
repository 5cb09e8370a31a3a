"""Printing helpers shared by commands: Go tabwriter tables, docker's JSON indentation."""

from __future__ import annotations

import sys
from typing import Any


def go_tabwriter(text: str, *, minwidth: int = 10, padding: int = 3) -> str:
    """Go's text/tabwriter as docker's CLI sets it up (minwidth 10, tabwidth 1, padding 3,
    padded with spaces, no flags), applied to the whole text at once.

    Cells end at tabs; the text after a line's last tab is not part of any column. A column
    is aligned over a block of consecutive lines that all have a cell in it, so a line with
    fewer cells (a newline inside a cell, say) starts new blocks as tabwriter does."""
    lines = [line.split("\t") for line in text.split("\n")]
    out: list[str] = []
    widths: list[int] = []

    def emit(first: int, last: int) -> None:
        for line in lines[first:last]:
            parts = []
            for j, cell in enumerate(line):
                parts.append(cell.ljust(widths[j]) if j < len(widths) else cell)
            out.append("".join(parts))

    def block(first: int, last: int) -> None:
        column = len(widths)
        start = first
        i = first
        while i < last:
            if column >= len(lines[i]) - 1:
                i += 1
                continue
            emit(start, i)  # lines before the block, at the current depth
            start = i
            width = minwidth
            while i < last and column < len(lines[i]) - 1:
                width = max(width, len(lines[i][column]) + padding)
                i += 1
            widths.append(width)
            block(start, i)
            widths.pop()
            start = i
        emit(start, last)

    block(0, len(lines))
    return "\n".join(out)


def dumps_indented(value: Any) -> str:
    """JSON as docker inspect prints it: Go's encoding, 4-space indent, no HTML escaping."""
    from hood.core.jsonio import go_json

    return go_json(value, indent="    ")


def write(text: str) -> None:
    """`text` on stdout; a lone surrogate from a decoded document prints as Go would
    print it, U+FFFD."""
    from hood.core.jsonio import go_text

    sys.stdout.write(go_text(text))
    sys.stdout.flush()


def confirm(warning: str) -> bool:
    """docker's prompt: the warning and `[y/N]` on stdout, one line read from stdin; only
    y (or Y) goes on."""
    sys.stdout.write(f"{warning}\nAre you sure you want to continue? [y/N] ")
    sys.stdout.flush()
    return sys.stdin.readline().strip().lower() == "y"


def print_prune(title: str, lines: list[str], reclaimed: int) -> None:
    """docker's prune report: what went, a blank line, then the bytes it freed."""
    from hood.core.timefmt import human_size

    if lines:
        print(f"{title}:\n" + "".join(line + "\n" for line in lines))
    print(f"Total reclaimed space: {human_size(reclaimed, 4)}")
