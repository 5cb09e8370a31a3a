"""Entry point. Each command module registers its subcommands; errors become one line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from importlib import import_module
from pathlib import Path

# Modules under hood.cli that have `register(subparsers)`. They import their heavy
# dependencies inside handlers, so `hood run` loads only what it needs.
_MODULES = ("images_cmd", "registry_cmd", "digests_cmd", "rootfs_cmd", "containers_cmd")

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


def default_root() -> Path:
    env = os.environ.get("HOOD_ROOT")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/hood")
    xdg = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local/share")
    return Path(xdg) / "hood"


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser with every command, or with only module `only`'s commands."""
    parser = argparse.ArgumentParser(
        prog="hood", description="Docker's image machinery, without the daemon."
    )
    parser.add_argument("--root", type=Path, default=None, help="data root (env HOOD_ROOT)")
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
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(command_module(argv))
    args = parser.parse_args(argv)
    if args.root is None:
        args.root = default_root()
    handler: Callable[[argparse.Namespace], int] = args.handler
    from hood.errors import HoodError

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
        print(f"Error: {exc}", file=sys.stderr)
        return getattr(args, "error_status", 1)


if __name__ == "__main__":
    sys.exit(main())
