"""diff, commit and import: images made by hand."""

from __future__ import annotations

import argparse
import sys

from hood.cli.common import open_store


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("diff", help="inspect changes to files or directories on a container's filesystem")
    p.add_argument("container")
    p.set_defaults(handler=cmd_diff)

    p = sub.add_parser("commit", help="create a new image from a container's changes")
    p.add_argument("-a", "--author", default="", help='author (e.g., "John Hannibal Smith <hannibal@a-team.com>")')
    p.add_argument("-c", "--change", action="append", default=[], help="apply Dockerfile instruction to the created image")
    p.add_argument("-m", "--message", default="", help="commit message")
    p.add_argument("-p", "--pause", default=True, action=argparse.BooleanOptionalAction, help="pause the container during commit (default true)")
    p.add_argument("container")
    p.add_argument("target", nargs="?", metavar="REPOSITORY[:TAG]")
    p.set_defaults(handler=cmd_commit)

    p = sub.add_parser("import", help="import the contents from a tarball to create a filesystem image")
    p.add_argument("-c", "--change", action="append", default=[], help="apply Dockerfile instruction to the created image")
    p.add_argument("-m", "--message", default="", help="set commit message for imported image")
    p.add_argument("--platform", help="set platform if server is multi-platform capable")
    p.add_argument("source", metavar="file|URL|-")
    p.add_argument("target", nargs="?", metavar="REPOSITORY[:TAG]")
    p.set_defaults(handler=cmd_import)


def cmd_diff(args: argparse.Namespace) -> int:
    from hood.services.build import container_changes

    for change in container_changes(open_store(args).layout, args.container):
        print(change)
    return 0


def cmd_commit(args: argparse.Namespace) -> int:
    from hood.services.build import commit

    done = commit(
        open_store(args).layout,
        args.container,
        args.target,
        author=args.author,
        message=args.message,
        changes=args.change,
        pause=args.pause,
    )
    print(done.image_id)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from hood.core.platform import Platform
    from hood.services.build import import_image

    image_id = import_image(
        open_store(args).layout,
        args.source,
        args.target,
        stdin=sys.stdin.buffer,
        changes=args.change,
        message=args.message,
        platform=Platform.parse(args.platform) if args.platform else None,
    )
    print(image_id)
    return 0
