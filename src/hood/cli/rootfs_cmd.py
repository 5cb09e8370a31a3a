"""unpack: an image's flattened root filesystem in a plain directory (umoci unpack's job)."""

from __future__ import annotations

import argparse

from hood.cli.common import open_store


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("unpack", help="flatten an image's layers into a plain directory")
    p.add_argument("image")
    p.add_argument("dest", metavar="DIR")
    p.set_defaults(handler=cmd_unpack)


def cmd_unpack(args: argparse.Namespace) -> int:
    from hood.services.rootfs import unpack

    unpack(open_store(args).layout, args.image, args.dest)
    return 0
