"""Command lines read as docker's CLI reads them (cobra commands over pflag flag sets).

`parse(command, argv, path)` reads argv against a flags.Command exactly as pflag would:

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

This module imports nothing heavy: `hood run` parses its command line with it (help_text
is loaded only when help is asked for)."""

from __future__ import annotations

from hood.cli.flag_values import go_quote, parse_bool, parse_float, parse_int
from hood.cli.flags import BIN, Args, Help, UsageError, command_name, use_line

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from hood.cli.flags import Command, Flag


class FlagError(Exception):
    """pflag's error text; parse() adds the usage lines."""


# --- pflag: the flags ------------------------------------------------------------------------


def parse_flags(
    flags: list[Flag], argv: list[str], *, interspersed: bool = True
) -> tuple[dict[str, Any], list[str], bool]:
    """pflag's FlagSet.Parse: (values by dest, the arguments, whether help was asked for).
    values["given_flags"] is the set of the flags (long names) the command line set.
    Raises FlagError with pflag's message."""
    flag_set = _FlagSet(flags, argv)
    positionals: list[str] = []
    while flag_set.i < len(argv):
        arg = argv[flag_set.i]
        flag_set.i += 1
        if len(arg) < 2 or arg[0] != "-":
            positionals.append(arg)
            if not interspersed:  # the first argument ends the flags
                positionals.extend(argv[flag_set.i :])
                break
        elif arg == "--":  # the rest are arguments
            positionals.extend(argv[flag_set.i :])
            break
        elif arg[1] == "-":
            flag_set.long_flag(arg)
        else:
            flag_set.shorthands(arg[1:])
    return flag_set.values, positionals, flag_set.want_help


class _FlagSet:
    """One parse's state: the flags by name, the values so far, where argv is read."""

    def __init__(self, flags: list[Flag], argv: list[str]) -> None:
        self.longs = {f.name: f for f in flags}
        self.shorts = {f.short: f for f in flags if f.short}
        self.values: dict[str, Any] = {}
        for f in flags:  # two flags may share a dest (an alias): the first one's default
            self.values.setdefault(f.dest, f.fresh_default())
        self.given: set[str] = set()
        self.values["given_flags"] = self.given
        self.argv = argv
        self.i = 0
        self.want_help = False

    def long_flag(self, arg: str) -> None:
        """`--name`, `--name=value` or `--name value`."""
        name, eq, value = arg[2:].partition("=")
        if not name or name[0] in "-=":
            raise FlagError(f"bad flag syntax: {arg}")
        flag = self.longs.get(name)
        if flag is None:
            if name != "help":
                raise FlagError(f"unknown flag: --{name}")
            if not eq or parse_bool_or_error(value, "--help"):
                self.want_help = True
            return
        if not eq:
            value = "true" if flag.kind == "bool" else self._next_value(f"--{name}")
        self._set(flag, value)

    def shorthands(self, shorthands: str) -> None:
        """`-n value`, `-nvalue`, `-n=value` and bundles (`-dit`, `-ePATH=/x`)."""
        while shorthands:
            c = shorthands[0]
            flag = self.shorts.get(c)
            if flag is None:
                if c != "h":
                    raise FlagError(f"unknown shorthand flag: '{c}' in -{shorthands}")
                self.want_help = True
                shorthands = shorthands[1:]
                continue
            if len(shorthands) > 2 and shorthands[1] == "=":
                value, rest = shorthands[2:], ""
            elif flag.kind == "bool":
                value, rest = "true", shorthands[1:]
            elif len(shorthands) > 1:
                value, rest = shorthands[1:], ""
            else:
                value, rest = self._next_value(f"'{c}' in -{shorthands}"), ""
            self._set(flag, value)
            shorthands = rest

    def _next_value(self, label: str) -> str:
        """The argument after a flag that takes a value."""
        if self.i >= len(self.argv):
            raise FlagError(f"flag needs an argument: {label}")
        self.i += 1
        return self.argv[self.i - 1]

    def _set(self, flag: Flag, text: str) -> None:
        _store(flag, self.values, text)
        self.given.add(flag.name)


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
        raise FlagError(
            f"invalid argument {go_quote(text)} for {go_quote(flag.label())} flag: {exc}"
        ) from None
    if flag.kind == "list":
        values[flag.dest].append(value)
    else:
        values[flag.dest] = value


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


def parse_bool_or_error(text: str, label: str) -> bool:
    try:
        return parse_bool(text)
    except ValueError as exc:
        raise FlagError(
            f"invalid argument {go_quote(text)} for {go_quote(label)} flag: {exc}"
        ) from None


# --- cobra: the command ----------------------------------------------------------------------


def parse(command: Command, argv: list[str], path: str) -> Args:
    """`argv` (what follows the command's path) as `command` takes it. Raises UsageError,
    or Help when --help was asked for."""
    try:
        values, positionals, want_help = parse_flags(
            command.flags, argv, interspersed=command.interspersed
        )
    except FlagError as exc:
        raise flag_error(str(exc), use_line(command, path), path) from None
    if want_help:
        from hood.cli.help_text import help_text

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
