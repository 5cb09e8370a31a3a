"""diff, commit and import: images made by hand."""

from __future__ import annotations

import sys

from hood.cli.common import open_store
from hood.cli.flags import Command, Flag

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hood.cli.flags import Args


def _diff() -> Command:
    return Command(
        "CONTAINER",
        "Inspect changes to files or directories on a container's filesystem",
        [],
        ("container",),
        cmd_diff,
    )


def _commit() -> Command:
    return Command(
        "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
        "Create a new image from a container's changes",
        [
            Flag("author", "a", kind="str", help='Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")'),
            Flag("change", "c", kind="list", help="Apply Dockerfile instruction to the created image"),
            Flag("message", "m", kind="str", help="Commit message"),
            Flag("pause", "p", default=True, help="Pause container during commit"),
        ],
        ("container", "target?"),
        cmd_commit,
    )  # fmt: skip


def _import() -> Command:
    return Command(
        "[OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
        "Import the contents from a tarball to create a filesystem image",
        [
            Flag("change", "c", kind="list", help="Apply Dockerfile instruction to the created image"),
            Flag("message", "m", kind="str", help="Set commit message for imported image"),
            Flag("platform", kind="str", help="Set platform if server is multi-platform capable"),
        ],
        ("source", "target?"),
        cmd_import,
    )  # fmt: skip


COMMANDS = {"diff": _diff, "commit": _commit, "import": _import}


def cmd_diff(args: Args) -> int:
    from hood.services.build import container_changes

    for change in container_changes(open_store(args).layout, args.container):
        print(change)
    return 0


def cmd_commit(args: Args) -> int:
    from hood.services.build import commit

    done = commit(
        open_store(args).layout,
        args.container,
        args.target,
        author=args.author or "",
        message=args.message or "",
        changes=args.change,
        pause=args.pause,
    )
    print(done.image_id)
    return 0


def cmd_import(args: Args) -> int:
    from hood.core.platform import Platform
    from hood.services.build import import_image

    image_id = import_image(
        open_store(args).layout,
        args.source,
        args.target,
        stdin=sys.stdin.buffer,
        changes=args.change,
        message=args.message or "",
        platform=Platform.parse(args.platform) if args.platform else None,
    )
    print(image_id)
    return 0
