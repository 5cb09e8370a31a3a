"""save and load: images into an archive and back."""

from __future__ import annotations

import argparse
import sys

from hood.cli.common import open_store


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("save", help="save images to a tar archive (streamed to STDOUT by default)")
    p.add_argument("-o", "--output", help="write to a file, instead of STDOUT")
    p.add_argument("--format", default="docker", choices=["docker", "oci"])
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.set_defaults(handler=cmd_save)

    p = sub.add_parser("load", help="load images from a tar archive or STDIN")
    p.add_argument("-i", "--input", help="read from a tar archive file, instead of STDIN")
    p.add_argument("-q", "--quiet", action="store_true", help="suppress the load output")
    p.set_defaults(handler=cmd_load)


def cmd_save(args: argparse.Namespace) -> int:
    from hood.core.errors import HoodError
    from hood.services.transfer import save

    store = open_store(args)
    if args.output:
        save(store, args.images, path=args.output, fmt=args.format)
        return 0
    if sys.stdout.isatty():
        raise HoodError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    save(store, args.images, out=sys.stdout.buffer, fmt=args.format)
    sys.stdout.buffer.flush()
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    from hood.core.errors import HoodError
    from hood.services.transfer import load

    if args.input is None and sys.stdin.isatty():
        raise HoodError("requested load from stdin, but stdin is empty")
    done = load(open_store(args), path=args.input, stdin=sys.stdin.buffer)
    for line in done.lines:
        print(line)
    return 0
