"""unpack: an image's flattened root filesystem in a plain directory (umoci unpack's job)."""

from __future__ import annotations

import argparse
from pathlib import Path

from hood.cli.common import open_store


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("unpack", help="flatten an image's layers into a plain directory")
    p.add_argument("image")
    p.add_argument("dest", metavar="DIR")
    p.set_defaults(handler=cmd_unpack)


def cmd_unpack(args: argparse.Namespace) -> int:
    from hood.errors import HoodError
    from hood.layer.flatten import flatten
    from hood.store.disk import DiskError, disk_error, is_disk_error

    store = open_store(args)
    record = store.resolve(args.image)
    dest = Path(args.dest)
    if dest.is_symlink():
        raise HoodError(f"refusing to unpack into {dest}: it is a symlink")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise HoodError(f"refusing to unpack into {dest}: not an empty directory")
    with store.locked():
        layers = store.image_layers(record.id)
    created = not dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    try:
        flatten([layer.diff_dir for layer in layers], dest)
    except (HoodError, OSError) as exc:
        # Never leave a half-written tree that looks like an unpacked image: remove what
        # was written (DIR too, if unpack made it), and say so.
        _remove_written(dest, created)
        said = f"unpack of {args.image} into {dest} failed; what was written is removed"
        if isinstance(exc, DiskError):
            raise exc.within(said) from None
        if isinstance(exc, OSError) and is_disk_error(exc):
            raise disk_error(exc, "writing", dest, said) from None
        raise HoodError(f"{exc} ({said})") from None
    return 0


def _remove_written(dest: Path, created: bool) -> None:
    import contextlib

    from hood.store.atomic import remove_tree

    with contextlib.suppress(OSError):
        if created:
            remove_tree(dest)
        else:
            for child in dest.iterdir():
                remove_tree(child)
