"""unpack: an image's flattened root filesystem in a plain directory (umoci unpack's job)."""

from __future__ import annotations

from hood.cli.common import open_store
from hood.cli.flags import Command

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


COMMANDS = {"unpack": _unpack}


def cmd_unpack(args: Args) -> int:
    from hood.services.rootfs import unpack

    unpack(open_store(args).layout, args.image, args.dest)
    return 0
