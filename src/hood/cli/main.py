"""Entry point: global flags, the command's one module, its one parser; errors become lines.

`hood run` must start fast: this module, flags, command_line and commands import nothing
heavy, and only the module that holds the command is imported (see commands.COMMANDS)."""

from __future__ import annotations

import os
import sys

from hood.cli import command_line
from hood.cli import flags as _flags
from hood.cli.commands import COMMANDS, COMMON, GROUPS, PATHS, aliases, resolve, subcommands

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hood.cli.flags import Args, Command

DESCRIPTION = "Docker's image machinery, without the daemon"


def global_flags() -> list[_flags.Flag]:
    F = _flags.Flag
    return [
        F("root", kind="str", default_text="", help="Location of the data root (default: $HOOD_ROOT, "
          "else /var/lib/hood for root and $XDG_DATA_HOME/hood for others)"),
        F("debug", "D", help="Enable debug mode: show tracebacks"),
        F("insecure-registry", kind="list", help="Allow plain HTTP to this registry (HOST[:PORT]; "
          "env HOOD_INSECURE_REGISTRIES)"),
        F("version", "v", help="Print version information and quit"),
    ]  # fmt: skip


def command(key: str) -> Command:
    """The flags.Command for `key`, from its own module only."""
    name = "hood.cli." + COMMANDS[key][0]
    __import__(name)
    build = sys.modules[name].COMMANDS[key]
    cmd = build()
    cmd.short = cmd.short or COMMANDS[key][1]
    cmd.aliases = aliases(key)
    return cmd


def enable_site() -> None:
    """Under `python -S` (the lean way to start `hood run`), bring site-packages back for
    a command that needs third-party modules (httpx, rich, isal, ...)."""
    if sys.flags.no_site and "site" not in sys.modules:
        import site

        site.main()


# --- help for the root and the groups ------------------------------------------------------


def _padding(names: list[str]) -> int:
    return max([11, *map(len, names)])


def root_help() -> str:
    top = sorted(k for k in PATHS if " " not in k)
    pad = _padding([*top, *GROUPS])
    common = [(k, COMMANDS[k][1]) for k in COMMON]
    others = [(k, COMMANDS[k][1]) for k in top if k not in COMMON]
    from hood.cli.help_text import commands_section, flag_usages, terminal_width

    usages = flag_usages(global_flags(), terminal_width() - 1)
    return "\n\n".join(
        [
            f"Usage:  {_flags.BIN} [OPTIONS] COMMAND",
            DESCRIPTION,
            commands_section("Common Commands", common, pad),
            commands_section("Management Commands", sorted(GROUPS.items()), pad),
            commands_section("Commands", others, pad),
            "Global Options:\n" + usages.rstrip(),
            f"Run '{_flags.BIN} COMMAND --help' for more information on a command.\n",
        ]
    )


def group_help(group: str) -> str:
    from hood.cli.help_text import commands_section

    rows = subcommands(group)
    pad = _padding([name for name, _ in rows])
    return "\n\n".join(
        [
            f"Usage:  {_flags.BIN} {group} COMMAND",
            GROUPS[group],
            commands_section("Commands", rows, pad),
            f"Run '{_flags.BIN} {group} COMMAND --help' for more information on a command.\n",
        ]
    )


def _unknown(path: str, group: str | None) -> _flags.UsageError:
    name = _flags.command_name(path)
    if group is None:
        text = f"{_flags.BIN}: unknown command: {name}\n\nRun '{_flags.BIN} --help' for more information"
    else:
        text = (
            f"{_flags.BIN}: unknown command: {name}\n\nUsage:  {_flags.BIN} {group}\n\n"
            f"Run '{_flags.BIN} {group} --help' for more information"
        )
    return _flags.UsageError(text, 1)


def version_line() -> str:
    from hood.core.version import VERSION as __version__

    return f"hood version {__version__}"


# --- parsing ----------------------------------------------------------------------------------


def parse(argv: list[str]) -> Args:
    """The whole command line: global flags, then the command and its own. Raises
    flags.UsageError or flags.Help (with the text to print on stdout)."""
    root_usage = f"{_flags.BIN} [OPTIONS] COMMAND [ARG...]"
    try:
        glob, rest, want_help = command_line.parse_flags(global_flags(), argv, interspersed=False)
    except command_line.FlagError as exc:
        raise command_line.flag_error(str(exc), root_usage, "") from None
    if glob["version"]:
        raise _flags.Help(version_line() + "\n")
    if want_help:
        raise _flags.Help(root_help())
    if not rest:
        raise _flags.UsageError(root_help().rstrip("\n"), 0)  # docker: help on stderr, exit 0
    if rest[0] == "help":  # `hood help [COMMAND...]`
        rest = [*rest[1:], "--help"]
        if len(rest) == 1:
            raise _flags.Help(root_help())
    path, key, rest = resolve(rest)
    if key is None:
        if path in GROUPS:
            try:
                _, extra, group_wants_help = command_line.parse_flags([], rest)
            except command_line.FlagError as exc:
                raise command_line.flag_error(str(exc), f"{_flags.BIN} {path}", path) from None
            if group_wants_help:
                raise _flags.Help(group_help(path))
            if not extra:
                raise _flags.UsageError(group_help(path).rstrip("\n"), 0)
            raise _unknown(f"{path} {extra[0]}", path)
        group = path.partition(" ")[0]
        raise _unknown(path, group if group in GROUPS else None)
    args = command_line.parse(command(key), rest, path)
    from hood.store.layout import default_root

    args.root = glob["root"] or default_root()
    args.debug = glob["debug"]
    args.insecure_registry = glob["insecure_registry"]
    return args


# --- running ----------------------------------------------------------------------------------

_fast_exit = False
# commands that run as the user, not in its data root's user namespace: those that touch
# no data root, and exec, which enters its container's user namespace (a sibling's it could not)
_OUTSIDE_USER_NAMESPACE = frozenset({"login", "logout", "version", "exec"})


def main(argv: list[str] | None = None) -> int:
    """Run the command in `argv` (default: this process's). As a whole process, a command
    that sets `fast_exit` ends with os._exit once its output is flushed: tearing the
    interpreter down costs `hood run` several milliseconds and frees nothing the kernel
    would not."""
    if argv is None:
        _lean_imports()
        status = _main(sys.argv[1:])
        if _fast_exit:
            for stream in (sys.stdout, sys.stderr):
                try:  # noqa: SIM105 - contextlib is an import `hood run` does without
                    stream.flush()
                except (OSError, ValueError):
                    pass
            os._exit(status)
        return status
    return _main(argv)


def _lean_imports() -> None:
    """When installed beside them, httpx imports its own command line (click, pygments,
    rich's console) and httpcore imports trio: ~130 ms that no hood command uses, paid by
    every one that talks to a registry. A hood process (only a whole one: never a caller
    that imported hood) marks them absent, unless something imported them already."""
    for name in ("trio", "click"):
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]


def _main(argv: list[str]) -> int:
    global _fast_exit
    try:
        args = parse(argv)
    except _flags.Help as done:
        sys.stdout.write(done.text)
        sys.stdout.flush()
        return 0
    except _flags.UsageError as exc:
        print(exc, file=sys.stderr)
        return exc.status
    if not getattr(args, "lean", False):
        enable_site()
    if os.geteuid() != 0 and args.command_path not in _OUTSIDE_USER_NAMESPACE:
        from hood.runtime.user_namespace import enter_for_data_root

        enter_for_data_root(lambda message: print(message, file=sys.stderr))
    _fast_exit = bool(getattr(args, "fast_exit", False))
    from hood.core.errors import HoodError

    try:
        return args.handler(args)
    except HoodError as exc:
        if args.debug:
            raise
        print(f"Error: {exc}", file=sys.stderr)
        return getattr(args, "error_status", 1)
    except _flags.UsageError as exc:  # a value the handler found wrong, as docker words it
        print(exc, file=sys.stderr)
        return exc.status
    except KeyboardInterrupt as exc:
        if str(exc):  # what an interrupted command kept (a pull's layers and downloads)
            print(exc, file=sys.stderr)
        _fast_exit = True  # threads stuck on the network do not hold the exit up
        return 130
    except BrokenPipeError:
        return 1
    except OSError as exc:
        if args.debug:
            raise
        print(f"Error: {os_error_text(exc, args)}", file=sys.stderr)
        return getattr(args, "error_status", 1)
    except Exception as exc:  # a bug: one line for the user, the traceback on request
        if args.debug or os.environ.get("HOOD_TRACEBACK"):
            raise
        print(
            f"Error: unexpected {type(exc).__name__}: {exc} (a bug in hood; "
            "--debug shows where)",
            file=sys.stderr,
        )
        return getattr(args, "error_status", 1)


def os_error_text(exc: OSError, args: Args) -> str:
    """An OSError that reached the top, as one line: what failed, and what to do."""
    from hood.cli.errors import describe_os_error

    return describe_os_error(exc, root=args.root, command=args.command_path)


if __name__ == "__main__":
    sys.exit(main())
