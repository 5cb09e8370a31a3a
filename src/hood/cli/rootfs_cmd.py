"""A root filesystem as files: unpack (an image's layers flattened into a directory, umoci
unpack's job), mount and umount (an image's or a container's overlay), bundle (an OCI
runtime bundle) and export (a container's filesystem as a tar)."""

from __future__ import annotations

import sys

from hood.cli.common import open_store
from hood.cli.flags import LEAN, Command, Flag

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hood.cli.flags import Args


def _unpack() -> Command:
    return Command(
        "IMAGE DIR",
        "Flatten an image's layers into a plain directory",
        [],
        ("image", "dest"),
        cmd_unpack,
        long="Flatten IMAGE's layers into DIR (made if missing, else it must be empty):\n"
        "the root filesystem a container of it starts from, whiteouts applied.",
    )


def _mount() -> Command:
    return Command(
        "IMAGE|CONTAINER [DIR]",
        "Mount an image's or a container's filesystem",
        [],
        ("target", "dir?"),
        cmd_mount,
        long="Mount an image's or a container's filesystem (an overlay, read-write for a\n"
        "container) and print where. Without DIR it is mounted under the data root.",
        settings=LEAN,
    )


def _umount() -> Command:
    return Command(
        "IMAGE|CONTAINER|DIR",
        "Unmount what 'hood mount' mounted",
        [],
        ("target",),
        cmd_umount,
        settings=LEAN,
    )


def _bundle() -> Command:
    return Command(
        "IMAGE DIR",
        "Write an OCI runtime bundle (config.json and rootfs)",
        [],
        ("image", "dir"),
        cmd_bundle,
        long="Write an OCI runtime bundle of IMAGE in DIR: config.json and rootfs, which\n"
        "`runc run` runs as is.",
        settings=LEAN,
    )


def _export() -> Command:
    return Command(
        "[OPTIONS] CONTAINER",
        "Export a container's filesystem as a tar archive",
        [Flag("output", "o", kind="str", help="Write to a file, instead of STDOUT")],
        ("container",),
        cmd_export,
        settings=LEAN,
    )


COMMANDS = {
    "unpack": _unpack,
    "mount": _mount,
    "umount": _umount,
    "bundle": _bundle,
    "export": _export,
}


def cmd_unpack(args: Args) -> int:
    from hood.services.rootfs import unpack

    unpack(open_store(args).layout, args.image, args.dest)
    return 0


def cmd_mount(args: Args) -> int:
    from hood.services.rootfs import mount_target

    print(mount_target(_layout(args), args.target, args.dir))
    return 0


def cmd_umount(args: Args) -> int:
    from hood.services.rootfs import umount_target

    umount_target(_layout(args), args.target)
    return 0


def cmd_bundle(args: Args) -> int:
    from hood.services.rootfs import write_bundle

    write_bundle(_layout(args), args.image, args.dir)
    return 0


def cmd_export(args: Args) -> int:
    from hood.core.errors import HoodError
    from hood.services.container_lifecycle import export_container
    from hood.store.containers import ContainerStore

    layout = _layout(args)
    c = ContainerStore(layout).resolve(args.container)
    if args.output:
        with open(args.output, "wb") as f:
            export_container(layout, c, f)
        return 0
    if sys.stdout.isatty():
        raise HoodError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    export_container(layout, c, sys.stdout.buffer)
    return 0


def _layout(args: Args):
    """The --root layout, taken as is (unpack goes through open_store, which checks it)."""
    from hood.store.layout import Layout

    return Layout(args.root)
