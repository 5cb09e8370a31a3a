"""Help texts as docker's CLI prints them: a command's usage template (usage line,
description, aliases, examples, options), pflag's wrapped flag list, and the command lists
of the root's and the groups' help.

Loaded only when help is printed: `hood run` never imports it."""

from __future__ import annotations

from hood.cli.flag_values import go_quote
from hood.cli.flags import BIN, use_line

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hood.cli.flags import Command, Flag


def terminal_width() -> int:
    """docker's width for help: its stdin's terminal, else 80."""
    import os

    try:
        return os.get_terminal_size(0).columns
    except OSError:
        return 80


def _wrap_n(i: int, slop: int, s: str) -> tuple[str, str]:
    if i + slop > len(s):
        return s, ""
    head = s[:i]
    w = max(head.rfind(" "), head.rfind("\t"), head.rfind("\n"))
    if w <= 0:
        return s, ""
    nl = head.rfind("\n")
    if 0 < nl < w:
        return s[:nl], s[nl + 1 :]
    return s[:w], s[w + 1 :]


def _wrap(i: int, w: int, s: str) -> str:
    """pflag's wrap: `s` wrapped to width `w` with an indent of `i` after the first line."""
    if w == 0:
        return s.replace("\n", "\n" + " " * i)
    width = w - i
    r = ""
    if width < 24:
        i = 16
        width = w - i
        r += "\n" + " " * i
    if width < 24:
        return s.replace("\n", r)
    slop = 5
    width -= slop
    line, s = _wrap_n(width, slop, s)
    r += line.replace("\n", "\n" + " " * i)
    while s:
        line, s = _wrap_n(width, slop, s)
        r += "\n" + " " * i + line.replace("\n", "\n" + " " * i)
    return r


def _default_note(flag: Flag) -> str:
    if flag.default_text is not None:
        return f" (default {flag.default_text})" if flag.default_text else ""
    d = flag.default
    if flag.kind == "bool":
        return " (default true)" if d else ""
    if flag.kind == "str":
        return f" (default {go_quote(d)})" if d else ""
    if flag.kind in ("int", "float"):
        return f" (default {d:g})" if isinstance(d, float) and d else f" (default {d})" if d else ""
    return ""


def flag_usages(flags: list[Flag], cols: int) -> str:
    """pflag's FlagUsagesWrapped: one line per flag, sorted by name, help aligned."""
    lines = []
    maxlen = 0
    for flag in sorted(flags, key=lambda f: f.name):
        if flag.hidden:
            continue
        line = f"  -{flag.short}, --{flag.name}" if flag.short else f"      --{flag.name}"
        if flag.type_word:
            line += " " + flag.type_word
        line += "\x00"
        maxlen = max(maxlen, len(line))
        line += flag.help + _default_note(flag)
        lines.append(line)
    out = []
    for line in lines:
        sidx = line.index("\x00")
        spacing = " " * (maxlen - sidx)
        out.append(f"{line[:sidx]} {spacing} {_wrap(maxlen + 2, cols, line[sidx + 1 :])}\n")
    return "".join(out)


def help_text(command: Command, path: str) -> str:
    """docker's usage template for a command without subcommands."""
    parts = [f"Usage:  {use_line(command, path)}\n\n{(command.long or command.short).strip()}"]
    if command.aliases:
        parts.append("Aliases:\n  " + ", ".join(f"{BIN} {a}" for a in command.aliases))
    if command.examples:
        parts.append("Examples:\n" + command.examples.rstrip("\n"))
    visible = [f for f in command.flags if not f.hidden]
    if visible:
        usages = flag_usages(visible, terminal_width() - 1)
        parts.append("Options:\n" + usages.rstrip())
    return "\n\n".join(parts) + "\n"


def commands_section(title: str, rows: list[tuple[str, str]], padding: int) -> str:
    return title + ":\n" + "\n".join(f"  {name.ljust(padding)} {short}" for name, short in rows)
