"""pull, images, inspect, tag, rmi: the image commands that mirror docker's."""

from __future__ import annotations

import argparse
import sys

from hood.cli.common import open_store, registry_client


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("pull", help="pull an image from a registry")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the reference")
    p.add_argument("--platform", help="os/arch[/variant] (default: this machine's)")
    p.add_argument("--max-concurrent-downloads", type=int, default=3, metavar="N")
    p.add_argument(
        "--progress",
        choices=["auto", "tty", "plain", "json"],
        default="auto",
        help="auto: bars on a terminal, plain lines otherwise; json: one docker API "
        "message per line, for programs",
    )
    p.add_argument("reference")
    p.set_defaults(handler=cmd_pull)

    p = sub.add_parser("images", help="list images")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("--digests", action="store_true")
    p.add_argument("--no-trunc", action="store_true")
    p.add_argument("-f", "--format", dest="format")
    p.add_argument("repository", nargs="?")
    p.set_defaults(handler=cmd_images)

    p = sub.add_parser("inspect", help="show images as docker inspect does")
    p.add_argument("-f", "--format", dest="format")
    p.add_argument("names", nargs="+", metavar="NAME")
    p.set_defaults(handler=cmd_inspect)

    p = sub.add_parser("tag", help="add a name to an image")
    p.add_argument("source")
    p.add_argument("target")
    p.set_defaults(handler=cmd_tag)

    p = sub.add_parser("rmi", help="remove images")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("names", nargs="+", metavar="IMAGE")
    p.set_defaults(handler=cmd_rmi)


def cmd_pull(args: argparse.Namespace) -> int:
    from hood import reference
    from hood.cli.progress import JsonPrinter, PullPrinter
    from hood.oci import Platform
    from hood.pull import PullEvent, pull_image

    if args.max_concurrent_downloads < 1:
        from hood.errors import HoodError

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
        events = PullPrinter(tty={"auto": None, "tty": True, "plain": False}[args.progress])
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


def cmd_images(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from hood.cli.formatting import FormatError, render_rows
    from hood.cli.output import write
    from hood.inspect import image_rows

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
    from hood.inspect import go_local_time_string, unix_seconds
    from hood.timefmt import human_size, since

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


def cmd_inspect(args: argparse.Namespace) -> int:
    from hood.cli.output import dumps_indented, write
    from hood.errors import HoodError, NotFound
    from hood.inspect import image_inspect

    if args.format:
        from hood.cli.formatting import FormatError, _compile

        try:  # docker parses the template before looking anything up
            if args.format != "json":
                _compile(args.format)
        except FormatError as exc:
            print(exc, file=sys.stderr)
            return 1
    store = open_store(args)
    found = []
    errors: list[str] = []
    for name in args.names:
        try:
            found.append(image_inspect(store, store.resolve(name)))
        except NotFound:
            container = _inspect_container(args, name)
            if container is None:
                errors.append(f"Error: No such object: {name}")
            else:
                found.append(container)
        except HoodError as exc:  # this image is damaged: the others are still shown
            errors.append(f"Error: {exc}")
    if args.format == "json":
        import json

        write(json.dumps(found, ensure_ascii=False, separators=(",", ":")) + "\n")
    elif args.format:
        from hood.cli.formatting import raw_view, render_inspect
        from hood.inspect import template_data

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


def _inspect_container(args: argparse.Namespace, name: str) -> dict | None:  # type: ignore[type-arg]
    """Containers are inspectable too, when the runtime part is present."""
    try:
        from hood.containers.inspect import inspect_container  # type: ignore[import-not-found]
    except ImportError:
        return None
    try:
        return inspect_container(args.root, name)
    except Exception:  # noqa: BLE001 - any failure means "not a container"
        return None


def cmd_tag(args: argparse.Namespace) -> int:
    from hood import reference

    store = open_store(args)
    image_id = store.resolve_id(args.source)
    target = reference.parse(args.target)
    if target.digest is not None:
        from hood.errors import InvalidReference

        raise InvalidReference(f"refusing to create a tag with a digest reference: {args.target}")
    with store.locked():
        store.add_reference(target, image_id)
        store.set_last_tag_time(image_id)
    return 0


def cmd_rmi(args: argparse.Namespace) -> int:
    from hood.errors import HoodError
    from hood.store.remove import remove_image

    store = open_store(args)
    status = 0
    for name in args.names:
        try:
            for line in remove_image(store, name, force=args.force):
                print(line)
        except HoodError as exc:
            if args.debug:
                raise
            print(f"Error: {exc}", file=sys.stderr)
            status = 1
    return status
