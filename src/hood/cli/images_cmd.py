"""pull, images, inspect, tag, rmi: the image commands that mirror docker's."""

from __future__ import annotations

import sys

from hood.cli.common import open_store, registry_client
from hood.cli.flags import FORMAT_HELP, INSPECT_FORMAT_HELP, Command, Flag, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hood.cli.flags import Args



def _pull() -> Command:
    F = Flag
    return Command(
        "[OPTIONS] NAME[:TAG|@DIGEST]",
        "Download an image from a registry",
        [
            F("quiet", "q", help="Suppress verbose output"),
            F("platform", kind="str", help="Set platform if server is multi-platform capable "
              "(os/arch[/variant]; default: this machine's)"),
            F("max-concurrent-downloads", kind="int", default=3,
              help="Number of layers downloaded at once"),
            F("progress", kind="str", default="auto", choices=("auto", "tty", "plain", "json"),
              help="Progress output: auto (bars on a terminal, plain lines otherwise), tty, "
              "plain, or json (one docker API message per line, for programs)"),
        ],
        ("reference",),
        cmd_pull,
        examples="  $ hood pull busybox\n  $ hood pull --platform linux/arm64 "
        "registry:5000/team/app:1.2\n  $ hood pull ghcr.io/org/tool@sha256:...",
    )  # fmt: skip


def _images() -> Command:
    F = Flag
    return Command(
        "[OPTIONS] [REPOSITORY[:TAG]]",
        "List images",
        [
            F("all", "a", help="Show all images (default hides intermediate images)"),
            F("digests", help="Show digests"),
            F("filter", "f", kind="filter", help="Filter output based on conditions provided"),
            F("format", kind="str", help=FORMAT_HELP),
            F("no-trunc", help="Don't truncate output"),
            F("quiet", "q", help="Only show image IDs"),
        ],
        ("repository?",),
        cmd_images,
        examples="  $ hood images busybox\n  $ hood images -f dangling=true -q\n"
        "  $ hood images --filter reference='*/app:1.*' --filter since=busybox",
    )


def _inspect(kind: str) -> Command:
    flags = [Flag("format", "f", kind="str", help=INSPECT_FORMAT_HELP)]
    usage = "[OPTIONS] NAME|ID [NAME|ID...]"
    if kind == "":
        flags.append(Flag("type", kind="str", help="Only inspect objects of the given type"))
    else:
        usage = f"[OPTIONS] {kind.upper()} [{kind.upper()}...]"
    return Command(usage, "", flags, ("names+",), cmd_inspect, settings={"kind": kind})


def _tag() -> Command:
    return Command(
        "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
        "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
        [],
        ("source", "target"),
        cmd_tag,
    )


def _rmi() -> Command:
    return Command(
        "[OPTIONS] IMAGE [IMAGE...]",
        "Remove one or more images",
        [Flag("force", "f", help="Force removal of the image")],
        ("names+",),
        cmd_rmi,
    )


def _image_prune() -> Command:
    return Command(
        "[OPTIONS]",
        "Remove unused images",
        [
            Flag("all", "a", help="Remove all unused images, not just dangling ones"),
            Flag("filter", kind="filter", help='Provide filter values (e.g. "until=<timestamp>")'),
            Flag("force", "f", help="Do not prompt for confirmation"),
        ],
        (),
        cmd_image_prune,
    )


COMMANDS = {
    "pull": _pull,
    "image prune": _image_prune,
    "images": _images,
    "inspect": lambda: _inspect(""),
    "image inspect": lambda: _inspect("image"),
    "container inspect": lambda: _inspect("container"),
    "tag": _tag,
    "rmi": _rmi,
}


def cmd_pull(args: Args) -> int:
    from hood.cli.progress import JsonPrinter, ProgressPrinter
    from hood.core import reference
    from hood.core.platform import Platform
    from hood.services.pull import PullEvent, pull_image

    if args.max_concurrent_downloads < 1:
        from hood.core.errors import HoodError

        raise HoodError("--max-concurrent-downloads must be at least 1")
    as_json = args.progress == "json" and not args.quiet
    say = JsonPrinter() if as_json else None

    def status(text: str) -> None:
        if say is not None:
            say(PullEvent(text))
        elif not args.quiet:
            print(text, flush=True)

    ref = reference.parse(args.reference, default_tag=False)
    if ref.tag is None and ref.digest is None:
        status("Using default tag: latest")
        ref = ref.with_tag("latest")
    platform = Platform.parse(args.platform) if args.platform else None
    store = open_store(args)
    if args.quiet:
        events = lambda e: None  # noqa: E731
    elif say is not None:
        events = say
    else:
        events = ProgressPrinter(tty={"auto": None, "tty": True, "plain": False}[args.progress])
    with registry_client(args, ref.registry_host) as client:
        result = pull_image(
            store,
            client,
            ref,
            platform=platform,
            max_concurrent_downloads=args.max_concurrent_downloads,
            events=events,
        )
    if result.updated:
        status(f"Status: Downloaded newer image for {ref.familiar()}")
    else:
        status(f"Status: Image is up to date for {ref.familiar()}")
    if say is None:
        print(str(ref))
    return 0


_IMAGE_TABLE = (
    "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t"
    "{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}"
)
_IMAGE_TABLE_DIGEST = (
    "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t"
    "{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}"
)


def cmd_images(args: Args) -> int:
    from datetime import UTC, datetime

    from hood.cli.formatting import FormatError, render_rows
    from hood.cli.output import write
    from hood.services.image_views import image_rows

    fmt = args.format or "table"
    if fmt == "table":  # docker's NewImageFormat
        fmt = "{{.ID}}" if args.quiet else _IMAGE_TABLE_DIGEST if args.digests else _IMAGE_TABLE
    elif fmt.startswith("table") and args.digests and "{{.Digest}}" not in fmt:
        fmt += "\t{{.Digest}}"
    store = open_store(args)
    rows = image_rows(
        store,
        digests=args.digests or "{{.Digest}}" in fmt,
        digest_rows=args.digests,
        filter_ref=args.repository,
        filters=args.filter,
    )
    now = datetime.now(UTC)
    fields = [image_fields(r, args.no_trunc, now) for r in rows]
    try:
        write(render_rows(fmt, fields, IMAGE_HEADERS, "*formatter.imageContext"))
    except FormatError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


IMAGE_HEADERS = {
    "ID": "IMAGE ID",
    "Repository": "REPOSITORY",
    "Tag": "TAG",
    "Digest": "DIGEST",
    "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT",
    "Size": "SIZE",
    "Containers": "CONTAINERS",
    "VirtualSize": "SIZE",
    "SharedSize": "SHARED SIZE",
    "UniqueSize": "UNIQUE SIZE",
}


def image_fields(row, no_trunc: bool, now) -> dict:  # type: ignore[no-untyped-def]
    """The methods of docker's image formatter context, as values. Shared and unique sizes
    and the container count are what docker shows when the daemon does not compute them."""
    from hood.cli.template_views import go_local_time_string, unix_seconds
    from hood.core.timefmt import human_size, since

    created = row.created
    return {
        "Containers": "N/A",
        "CreatedAt": go_local_time_string(unix_seconds(created)),
        "CreatedSince": since(created.datetime if created else None, now),
        "Digest": row.digest,
        "ID": str(row.id) if no_trunc else row.id.short,
        "Repository": row.repository,
        "SharedSize": "N/A",
        "Size": human_size(row.size),
        "Tag": row.tag,
        "UniqueSize": "N/A",
        "VirtualSize": human_size(row.size, 4),
    }


_NOT_FOUND = {"": "object", "image": "image", "container": "container"}


def cmd_inspect(args: Args) -> int:
    from hood.cli.output import dumps_indented, write
    from hood.services.image_views import inspect_objects

    kind = args.kind or args.type or ""
    if kind not in _NOT_FOUND:
        raise UsageError(
            f'unknown type: "{kind}": must be one of "container", "image"', 1
        )
    if args.format:
        from hood.cli.formatting import FormatError, _compile

        try:  # docker parses the template before looking anything up
            if args.format != "json":
                _compile(args.format)
        except FormatError as exc:
            print(exc, file=sys.stderr)
            return 1
    results = inspect_objects(open_store(args), args.names, kind)
    found = [doc for _, doc, _ in results if doc is not None]
    errors = [
        f"Error: {why}" if why else f"Error: No such {_NOT_FOUND[kind]}: {name}"
        for name, doc, why in results
        if doc is None
    ]
    if args.format == "json":
        from hood.core.jsonio import go_json

        write(go_json(found) + "\n")
    elif args.format:
        from hood.cli.formatting import raw_view, render_inspect
        from hood.cli.template_views import template_data

        out, failures = render_inspect(
            args.format, [(template_data(doc), raw_view(doc)) for doc in found]
        )
        write(out)
        errors += failures
    else:
        write(dumps_indented(found) + "\n")
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 1
    return 0


def cmd_tag(args: Args) -> int:
    from hood.services.images import tag_image

    tag_image(open_store(args), args.source, args.target)
    return 0


def cmd_rmi(args: Args) -> int:
    from hood.core.errors import HoodError
    from hood.services.images import remove_image

    store = open_store(args)
    status = 0
    for name in args.names:
        try:
            done = remove_image(store, name, force=args.force)
        except HoodError as exc:
            if args.debug:
                raise
            print(f"Error: {exc}", file=sys.stderr)
            status = 1
            continue
        for key in done.untagged:
            print(f"Untagged: {key}")
        for digest in done.deleted:
            print(f"Deleted: {digest}")
    return status


_PRUNE_WARNING = {
    False: "WARNING! This will remove all dangling images.",
    True: "WARNING! This will remove all images without at least one container associated "
    "to them.",
}


def cmd_image_prune(args: Args) -> int:
    from hood.cli.output import confirm, print_prune
    from hood.services.images import prune_images

    if not args.force and not confirm(_PRUNE_WARNING[args.all]):
        return 0  # docker: cancelled, nothing said
    report = prune_images(open_store(args), all=args.all, filters=args.filter)
    print_prune("Deleted Images", [f"{kind}: {what}" for kind, what in report.removed], report.reclaimed)
    return 0
