"""Command lines as docker's CLI reads them (cobra commands over pflag flag sets), declared.

A command is a `Command`: its usage line, description, `Flag`s, the names its arguments bind
to, and its handler. `parse(command, argv, path)` reads argv exactly as pflag would:

- `--name value`, `--name=value`; a bool flag takes no value but accepts `--rm=false`;
- `-n value`, `-nvalue`, `-n=value`; bundled shorthands `-dit`, where a value-taking flag
  ends the bundle and takes the rest (`-ePATH=/x`) or the next argument (`-ie A=1`);
- a value may start with '-' (`--name -x` names the container `-x`), as pflag takes it;
- `--` ends the flags; `-` alone is an argument;
- arguments may come between flags, except for commands that stop at the first one
  (`run`, `create`: everything after the image is the container's command).

Mistakes raise UsageError with docker 28's text: a flag error (unknown flag, missing or bad
value) exits 125 and shows the usage line; a wrong number of arguments exits 1, as docker's
argument validators do. `--help` (and `-h` where the command has no `-h` of its own) raises
Help with the docker-style help text.

This module imports nothing: `hood run` parses its command line with it."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

BIN = "hood"


class UsageError(Exception):
    """A command line docker's CLI would refuse. `str()` is the whole text to print."""

    def __init__(self, message: str, status: int = 125) -> None:
        super().__init__(message)
        self.status = status


class Help(Exception):
    """--help was asked for: `text` goes to stdout, and the command exits 0."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class Args:
    """What a command line says: one attribute per flag and per argument name."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)

    def __repr__(self) -> str:
        return f"Args({self.__dict__!r})"


# What pflag prints after the flag name in help, per kind (bool prints nothing).
_TYPE_WORDS = {"bool": "", "str": "string", "int": "int", "float": "float", "list": "list"}
_TYPE_WORDS.update(map="map", filter="filter")


class Flag:
    """One option. `kind`: bool, str, int, float, list (repeatable, in order), map
    (repeatable KEY=VALUE) or filter (docker's NAME=VALUE filters, as a list of pairs).
    `convert(text)` turns a str value into what the handler gets, raising ValueError with
    the reason docker would give; `choices` limits a str value."""

    __slots__ = (
        "name",
        "short",
        "kind",
        "default",
        "help",
        "type_word",
        "choices",
        "dest",
        "hidden",
        "convert",
        "default_text",
    )

    def __init__(
        self,
        name: str,
        short: str = "",
        *,
        kind: str = "bool",
        default: Any = None,
        help: str = "",  # noqa: A002 - the word every CLI library uses
        type_word: str | None = None,
        choices: tuple[str, ...] = (),
        dest: str | None = None,
        hidden: bool = False,
        convert: Callable[[str], Any] | None = None,
        default_text: str | None = None,
    ) -> None:
        if kind not in _TYPE_WORDS:
            raise ValueError(f"unknown flag kind {kind!r}")
        self.name = name
        self.short = short
        self.kind = kind
        if default is None:
            default = {"bool": False, "list": [], "map": {}, "filter": []}.get(kind)
        self.default = default
        self.help = help
        self.type_word = _TYPE_WORDS[kind] if type_word is None else type_word
        self.choices = choices
        self.dest = dest or name.replace("-", "_")
        self.hidden = hidden
        self.convert = convert
        self.default_text = default_text

    def label(self) -> str:
        """How pflag names the flag in an error: `-t, --timeout` or `--rm`."""
        return f"-{self.short}, --{self.name}" if self.short else f"--{self.name}"

    def fresh_default(self) -> Any:
        d = self.default
        return list(d) if isinstance(d, list) else dict(d) if isinstance(d, dict) else d


class Command:
    """A command: `usage` is what follows its path in the usage line, `params` the names
    its arguments bind to (`name`, `name?` optional, `name*` any number, `name+` one or
    more), `handler(args) -> status`. `settings` are extra attributes for the handler;
    `aliases` are the other paths that call it, for the help's Aliases section."""

    __slots__ = (
        "usage",
        "short",
        "long",
        "flags",
        "params",
        "handler",
        "interspersed",
        "aliases",
        "examples",
        "settings",
        "validators",
    )

    def __init__(
        self,
        usage: str,
        short: str,
        flags: list[Flag],
        params: tuple[str, ...],
        handler: Callable[[Args], int] | None,
        *,
        long: str = "",
        interspersed: bool = True,
        aliases: tuple[str, ...] = (),
        examples: str = "",
        settings: dict[str, Any] | None = None,
    ) -> None:
        self.usage = usage
        self.short = short
        self.long = long
        self.flags = flags
        self.params = params
        self.handler = handler
        self.interspersed = interspersed
        self.aliases = aliases
        self.examples = examples
        self.settings = settings or {}

    def arg_range(self) -> tuple[int, int | None]:
        low, high = 0, 0
        for p in self.params:
            if p.endswith(("*", "+")):
                low += p.endswith("+")
                return low, None
            if p.endswith("?"):
                high += 1
            else:
                low += 1
                high += 1
        return low, high


# --- values ----------------------------------------------------------------------------------


def go_quote(text: str) -> str:
    """Go's strconv.Quote, for the values quoted in error messages."""
    from hood.core.jsonio import go_quote as quote

    return quote(text)


_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def parse_bool(text: str) -> bool:
    """strconv.ParseBool."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"strconv.ParseBool: parsing {go_quote(text)}: invalid syntax")


def parse_int(text: str) -> int:
    """strconv.ParseInt(text, 0, 64): decimal, 0x, 0o, 0b or a leading 0 for octal."""
    body = text[1:] if text[:1] in "+-" else text
    base = 10
    if body[:2] in ("0x", "0X"):
        base, body = 16, body[2:]
    elif body[:2] in ("0o", "0O"):
        base, body = 8, body[2:]
    elif body[:2] in ("0b", "0B"):
        base, body = 2, body[2:]
    elif len(body) > 1 and body[0] == "0":
        base, body = 8, body[1:]
    bad = ValueError(f"strconv.ParseInt: parsing {go_quote(text)}: invalid syntax")
    if not body or body.strip() != body or body[0] in "+-_" or body.endswith("_"):
        raise bad
    try:
        value = int(body, base)
    except ValueError:
        raise bad from None
    if text[:1] == "-":
        value = -value
    if not -(2**63) <= value < 2**63:
        raise ValueError(f"strconv.ParseInt: parsing {go_quote(text)}: value out of range")
    return value


def parse_float(text: str) -> float:
    """strconv.ParseFloat(text, 64)."""
    bad = ValueError(f"strconv.ParseFloat: parsing {go_quote(text)}: invalid syntax")
    if not text or text.strip() != text or "_" in text:
        raise bad
    try:
        return float(text)
    except ValueError:
        raise bad from None


def ram_in_bytes(text: str) -> int:
    """docker/go-units RAMInBytes: `64m`, `1.5g`, `512 KiB`, `100` (bytes), binary units."""
    bad = ValueError(f"invalid size: '{text}'")
    i = 0
    while i < len(text) and (text[i].isdigit() or (text[i] == "." and i > 0)):
        i += 1
    number, unit = text[:i], text[i:]
    if not number or not number[0].isdigit() or number.endswith("."):
        raise bad
    unit = unit.removeprefix(" ").lower()
    if unit.endswith("b"):
        unit = unit[:-1]
    if unit.endswith("i") and len(unit) == 2:
        unit = unit[:-1]
    if unit not in ("", "k", "m", "g", "t", "p"):
        raise bad
    try:
        size = float(number)
    except ValueError:
        raise bad from None
    return int(size * 1024 ** ("", "k", "m", "g", "t", "p").index(unit))


def _convert(flag: Flag, text: str) -> Any:
    if flag.kind == "bool":
        return parse_bool(text)
    if flag.convert is not None:
        return flag.convert(text)
    if flag.kind == "int":
        return parse_int(text)
    if flag.kind == "float":
        return parse_float(text)
    if flag.choices and text not in flag.choices:
        raise ValueError("must be one of " + ", ".join(go_quote(c) for c in flag.choices))
    return text


def _store(flag: Flag, values: dict[str, Any], text: str) -> None:
    try:
        if flag.kind == "filter":
            if not text:
                return
            if "=" not in text:
                raise ValueError("bad format of filter (expected name=value)")
            key, _, val = text.partition("=")
            values[flag.dest].append((key.strip().lower(), val.strip()))
            return
        if flag.kind == "map":
            key, _, val = text.partition("=")
            values[flag.dest][key] = _convert(flag, val) if flag.convert else val
            return
        value = _convert(flag, text)
    except ValueError as exc:
        raise _FlagError(f"invalid argument {go_quote(text)} for {go_quote(flag.label())} flag: {exc}") from None
    if flag.kind == "list":
        values[flag.dest].append(value)
    else:
        values[flag.dest] = value


class _FlagError(Exception):
    """pflag's error text; parse() adds the usage lines."""


# --- parsing ---------------------------------------------------------------------------------


def parse_flags(
    flags: list[Flag], argv: list[str], *, interspersed: bool = True
) -> tuple[dict[str, Any], list[str], bool]:
    """pflag's FlagSet.Parse: (values by dest, the arguments, whether help was asked for).
    values["given_flags"] is the set of the flags (long names) the command line set.
    Raises _FlagError with pflag's message."""
    longs = {f.name: f for f in flags}
    shorts = {f.short: f for f in flags if f.short}
    values: dict[str, Any] = {}
    for f in flags:  # two flags may share a dest (an alias): the first one's default
        values.setdefault(f.dest, f.fresh_default())
    given: set[str] = set()
    values["given_flags"] = given
    positionals: list[str] = []
    want_help = False
    i = 0
    n = len(argv)
    while i < n:
        arg = argv[i]
        i += 1
        if len(arg) < 2 or arg[0] != "-":
            if not interspersed:
                positionals.append(arg)
                positionals.extend(argv[i:])
                break
            positionals.append(arg)
            continue
        if arg[1] == "-":
            if len(arg) == 2:  # "--": the rest are arguments
                positionals.extend(argv[i:])
                break
            name, eq, value = arg[2:].partition("=")
            if not name or name[0] in "-=":
                raise _FlagError(f"bad flag syntax: {arg}")
            flag = longs.get(name)
            if flag is None:
                if name == "help":
                    if eq and not parse_bool_or_error(value, "--help"):
                        continue
                    want_help = True
                    continue
                raise _FlagError(f"unknown flag: --{name}")
            if not eq:
                if flag.kind == "bool":
                    value = "true"
                elif i < n:
                    value = argv[i]
                    i += 1
                else:
                    raise _FlagError(f"flag needs an argument: --{name}")
            _store(flag, values, value)
            given.add(flag.name)
            continue
        shorthands = arg[1:]
        while shorthands:
            c = shorthands[0]
            flag = shorts.get(c)
            if flag is None:
                if c == "h":
                    want_help = True
                    shorthands = shorthands[1:]
                    continue
                raise _FlagError(f"unknown shorthand flag: '{c}' in -{shorthands}")
            if len(shorthands) > 2 and shorthands[1] == "=":
                value, rest = shorthands[2:], ""
            elif flag.kind == "bool":
                value, rest = "true", shorthands[1:]
            elif len(shorthands) > 1:
                value, rest = shorthands[1:], ""
            elif i < n:
                value, rest = argv[i], ""
                i += 1
            else:
                raise _FlagError(f"flag needs an argument: '{c}' in -{shorthands}")
            _store(flag, values, value)
            given.add(flag.name)
            shorthands = rest
    return values, positionals, want_help


def parse_bool_or_error(text: str, label: str) -> bool:
    try:
        return parse_bool(text)
    except ValueError as exc:
        raise _FlagError(f"invalid argument {go_quote(text)} for {go_quote(label)} flag: {exc}") from None


def command_name(path: str) -> str:
    """cobra's CommandPath: `hood`, `hood run`, `hood image ls`."""
    return f"{BIN} {path}".rstrip()


def use_line(command: Command, path: str) -> str:
    return f"{command_name(path)} {command.usage}".rstrip()


def flag_error(message: str, usage: str, path: str) -> UsageError:
    """docker's FlagErrorFunc: the error, the usage line, where help is; status 125."""
    return UsageError(
        f"{message}\n\nUsage:  {usage}\n\nRun '{command_name(path)} --help' for more information",
        125,
    )


def _arg_count_error(command: Command, path: str, count: int) -> UsageError | None:
    """docker's argument validators (cli.NoArgs, ExactArgs, RequiresMinArgs, ...); exit 1."""
    low, high = command.arg_range()
    if low <= count and (high is None or count <= high):
        return None
    where = command_name(path)

    def plural(k: int) -> str:
        return "argument" if k == 1 else "arguments"

    see = "Run"
    if high == 0:
        what = "accepts no arguments"
    elif high is None:
        what = f"requires at least {low} {plural(low)}"
        see = "See"
    elif low == high:
        what = f"requires {low} {plural(low)}"
    elif low == 0:
        what = f"requires at most {high} {plural(high)}"
    else:
        what = f"requires at least {low} and at most {high} {plural(high)}"
    return UsageError(
        f"{BIN}: '{where}' {what}\n\nUsage:  {use_line(command, path)}\n\n"
        f"{see} '{where} --help' for more information",
        1,
    )


def parse(command: Command, argv: list[str], path: str) -> Args:
    """`argv` (what follows the command's path) as `command` takes it. Raises UsageError,
    or Help when --help was asked for."""
    try:
        values, positionals, want_help = parse_flags(
            command.flags, argv, interspersed=command.interspersed
        )
    except _FlagError as exc:
        raise flag_error(str(exc), use_line(command, path), path) from None
    if want_help:
        raise Help(help_text(command, path))
    error = _arg_count_error(command, path, len(positionals))
    if error is not None:
        raise error
    out = dict(command.settings)
    out.update(values)
    rest = list(positionals)
    for p in command.params:
        name = p.rstrip("?*+")
        if p.endswith(("*", "+")):
            out[name] = rest
            rest = []
        else:
            out[name] = rest.pop(0) if rest else None
    out["handler"] = command.handler
    out["command_path"] = path
    return Args(out)


# --- help ------------------------------------------------------------------------------------


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
