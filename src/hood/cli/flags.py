"""What a command line is made of, declared: a `Command` (cobra's command: usage line,
description, arguments, handler) with its `Flag`s (pflag's flags), the `Args` a parse
gives the handler, and the two ways a parse ends without one: `UsageError` (a command line
docker's CLI would refuse) and `Help` (--help asked for). command_line reads argv against
these declarations; help_text prints them.

This module imports nothing: `hood run` declares its command with it."""

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


# A command's settings when it needs nothing from site-packages (see main.enable_site).
LEAN = {"lean": True}

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


def command_name(path: str) -> str:
    """cobra's CommandPath: `hood`, `hood run`, `hood image ls`."""
    return f"{BIN} {path}".rstrip()


def use_line(command: Command, path: str) -> str:
    return f"{command_name(path)} {command.usage}".rstrip()


# --format's help, as docker's commands word it (lists, and inspect)
FORMAT_HELP = (
    "Format output using a custom template:\n"
    "'table':            Print output in table format with column headers (default)\n"
    "'table TEMPLATE':   Print output in table format using the given Go template\n"
    "'json':             Print in JSON format\n"
    "'TEMPLATE':         Print output using the given Go template.\n"
    "Refer to https://docs.docker.com/go/formatting/ for more information about formatting "
    "output with templates"
)
INSPECT_FORMAT_HELP = (
    "Format output using a custom template:\n"
    "'json':             Print in JSON format\n"
    "'TEMPLATE':         Print output using the given Go template.\n"
    "Refer to https://docs.docker.com/go/formatting/ for more information about formatting "
    "output with templates"
)
