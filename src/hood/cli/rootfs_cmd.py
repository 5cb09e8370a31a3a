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
    from pathlib import Path

    from hood.errors import HoodError
    from hood.layer.flatten import flatten

    store = open_store(args)
    record = store.resolve(args.image)
    dest = Path(args.dest)
    if dest.is_symlink():
        raise HoodError(f"refusing to unpack into {dest}: it is a symlink")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise HoodError(f"refusing to unpack into {dest}: not an empty directory")
    dest.mkdir(parents=True, exist_ok=True)
    with store.locked():
        layers = store.image_layers(record.id)
    flatten([layer.diff_dir for layer in layers], dest)
    return 0
