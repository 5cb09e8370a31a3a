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


def default_root() -> Path:
    env = os.environ.get("HOOD_ROOT")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/hood")
    xdg = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local/share")
    return Path(xdg) / "hood"


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
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
    for name in _MODULES:
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
    parser = build_parser()
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
