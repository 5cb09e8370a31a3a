"""Entry point. Each command module registers its subcommands; errors become one line."""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

# Modules under hood.cli that have `register(subparsers)`. They import their heavy
# dependencies inside handlers, so `hood run` loads only what it needs.
_MODULES = (
    "images_cmd",
    "registry_cmd",
    "digests_cmd",
    "rootfs_cmd",
    "containers_cmd",
    "manifest_cmd",
    "transfer_cmd",
    "push_cmd",
)

# Commands whose module is known without importing the others: for these only that one
# module is imported and only its subcommands are built (`hood run` must start fast). Any
# other command, `--help` or a typo gets the full parser.
_FAST = {
    name: "containers_cmd"
    for name in (
        "run",
        "create",
        "start",
        "ps",
        "logs",
        "stop",
        "kill",
        "rm",
        "container",
        "export",
        "mount",
        "umount",
        "bundle",
    )
}
_GLOBAL_WITH_VALUE = ("--root", "--insecure-registry")


def command_module(argv: list[str]) -> str | None:
    """The one module that handles the command in `argv`, when it can be told cheaply."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in _GLOBAL_WITH_VALUE:
            i += 2
            continue
        if arg == "--debug" or arg.startswith(tuple(f"{o}=" for o in _GLOBAL_WITH_VALUE)):
            i += 1
            continue
        return _FAST.get(arg)
    return None


def default_root() -> str:
    env = os.environ.get("HOOD_ROOT")
    if env:
        return env
    if os.geteuid() == 0:
        return "/var/lib/hood"
    xdg = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local/share")
    return os.path.join(xdg, "hood")


def _help_formatter(prog: str) -> argparse.HelpFormatter:
    """argparse's formatter with the terminal width found by os, not shutil: argparse makes
    a formatter for every add_argument, and importing shutil (bz2, lzma, ...) for that costs
    a millisecond and more."""
    import argparse

    try:
        width = int(os.environ.get("COLUMNS", "0")) or os.get_terminal_size(2).columns
    except (ValueError, OSError):
        width = 80
    return argparse.HelpFormatter(prog, width=max(width - 2, 11))


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser with every command, or with only module `only`'s commands."""
    import argparse
    from importlib import import_module
    class _Parser(argparse.ArgumentParser):
        def __init__(self, *a, **kw) -> None:  # type: ignore[no-untyped-def]
            kw.setdefault("formatter_class", _help_formatter)
            super().__init__(*a, **kw)

    parser = _Parser(prog="hood", description="Docker's image machinery, without the daemon.")
    parser.add_argument("--root", default=None, help="data root (env HOOD_ROOT)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument(
        "--insecure-registry",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help="allow plain HTTP to this registry (env HOOD_INSECURE_REGISTRIES)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in (only,) if only else _MODULES:
        try:
            module = import_module(f"hood.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"hood.cli.{name}":
                continue
            raise
        module.register(sub)
    return parser


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


_fast_exit = False


def _lean_imports() -> None:
    """When installed beside them, httpx imports its own command line (click, pygments,
    rich's console) and httpcore imports trio: ~130 ms that no hood command uses, paid by
    every one that talks to a registry. A hood process (only a whole one: never a caller
    that imported hood) marks them absent, unless something imported them already."""
    for name in ("trio", "click"):
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]


def enable_site() -> None:
    """Under `python -S` (the lean way to start `hood run`), bring site-packages back for
    a command that needs third-party modules (httpx, rich, isal, ...)."""
    if sys.flags.no_site and "site" not in sys.modules:
        import site

        site.main()


class _Args:
    """What argparse's Namespace would hold, for a command parsed without argparse."""

    def __init__(self, values: dict[str, object]) -> None:
        self.__dict__.update(values)


def parse_fast(argv: list[str]) -> _Args | None:
    """`hood [GLOBAL...] run ...` parsed without argparse (see containers_cmd.parse_run);
    None for anything else, or anything that parser leaves to argparse."""
    root = None
    debug = False
    insecure: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--debug":
            debug = True
            i += 1
            continue
        name, eq, value = arg.partition("=")
        if name not in _GLOBAL_WITH_VALUE:
            break
        if not eq:
            if i + 1 >= len(argv):
                return None
            value = argv[i + 1]
            i += 1
        i += 1
        if not value or value.startswith("-"):
            return None
        if name == "--root":
            root = value
        else:
            insecure.append(value)
    if argv[i : i + 1] != ["run"]:
        return None
    from hood.cli.containers_cmd import parse_run

    values = parse_run(argv[i + 1 :])
    if values is None:
        return None
    values.update(root=root or default_root(), debug=debug, insecure_registry=insecure)
    return _Args(values)


def _main(argv: list[str]) -> int:
    global _fast_exit
    args = parse_fast(argv)
    if args is None:
        module = command_module(argv)
        if module is None:
            enable_site()
        args = build_parser(module).parse_args(argv)
    if args.root is None:
        args.root = default_root()
    handler: Callable[[argparse.Namespace], int] = args.handler
    _fast_exit = bool(getattr(args, "fast_exit", False))
    from hood.core.errors import HoodError

    try:
        return handler(args)
    except HoodError as exc:
        if args.debug:
            raise
        print(f"Error: {exc}", file=sys.stderr)
        return getattr(args, "error_status", 1)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 1
    except OSError as exc:
        if args.debug:
            raise
        print(f"Error: {_os_error(exc)}", file=sys.stderr)
        return getattr(args, "error_status", 1)


def _os_error(exc: OSError) -> str:
    """A full or failing disk in words, with the file and what to do; others as they are."""
    from hood.core.fileio import disk_error, is_disk_error

    return str(disk_error(exc)) if is_disk_error(exc) else str(exc)


if __name__ == "__main__":
    sys.exit(main())
