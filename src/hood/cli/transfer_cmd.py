"""save and load: images into an archive and back."""

from __future__ import annotations

import sys

from hood.cli.common import open_store
from hood.cli.flags import Command, Flag

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hood.cli.flags import Args


def _save() -> Command:
    return Command(
        "[OPTIONS] IMAGE [IMAGE...]",
        "Save one or more images to a tar archive (streamed to STDOUT by default)",
        [
            Flag("output", "o", kind="str", help="Write to a file, instead of STDOUT"),
            Flag("format", kind="str", default="docker", choices=("docker", "oci"),
                 help="docker: what docker 25+ saves (docker 20.10 loads it too); oci: an oci-archive"),
        ],
        ("images+",),
        cmd_save,
        examples="hood save -o busybox.tar busybox\nhood save busybox alpine:3 | gzip > images.tar.gz",
    )  # fmt: skip


def _load() -> Command:
    return Command(
        "[OPTIONS]",
        "Load an image from a tar archive or STDIN",
        [
            Flag("input", "i", kind="str", help="Read from tar archive file, instead of STDIN"),
            Flag("quiet", "q", help="Suppress the load output"),
        ],
        (),
        cmd_load,
        long="Load images from a tar archive: what docker save writes (20.10 and 25+), what\n"
        "hood save writes, skopeo's docker-archive and oci-archive; plain, gzip or zstd.",
    )


COMMANDS = {"save": _save, "load": _load}


def cmd_save(args: Args) -> int:
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


def cmd_load(args: Args) -> int:
    from hood.core.errors import HoodError
    from hood.services.transfer import load

    if args.input is None and sys.stdin.isatty():
        raise HoodError("requested load from stdin, but stdin is empty")
    done = load(open_store(args), path=args.input, stdin=sys.stdin.buffer)
    for line in done.lines:
        print(line)
    return 0
