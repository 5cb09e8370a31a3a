"""ps: the containers as a table, IDs alone (-q) or through a Go template (--format), with
docker's columns and headers."""

from __future__ import annotations

import sys

from hood.cli.flags import FORMAT_HELP, LEAN, Command, Flag


def _ps() -> Command:
    F = Flag
    return Command(
        "[OPTIONS]",
        "List containers",
        [
            F("all", "a", help="Show all containers (default shows just running)"),
            F("filter", "f", kind="filter", help="Filter output based on conditions provided"),
            F("format", kind="str", help=FORMAT_HELP),
            F("last", "n", kind="int", default=-1,
              help="Show n last created containers (includes all states)"),
            F("latest", "l", help="Show the latest created container (includes all states)"),
            F("no-trunc", help="Don't truncate output"),
            F("quiet", "q", help="Only display container IDs"),
            F("size", "s", help="Display total file sizes"),
        ],
        (),
        cmd_ps,
        settings=LEAN,
    )  # fmt: skip


COMMANDS = {"ps": _ps}

# docker's container formatter's header row, field by field.
PS_HEADERS = {
    "ID": "CONTAINER ID",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED",
    "Status": "STATUS",
    "State": "STATE",
    "Ports": "PORTS",
    "Names": "NAMES",
    "Size": "SIZE",
    "Labels": "LABELS",
    "LocalVolumes": "LOCAL VOLUMES",
    "Mounts": "MOUNTS",
    "Networks": "NETWORKS",
}
PS_TABLE = ("ID", "Image", "Command", "RunningFor", "Status", "Ports", "Names")


def cmd_ps(args) -> int:
    from hood.cli.output import go_tabwriter
    from hood.services.container_list import list_containers
    from hood.store.layout import Layout

    if args.format and args.quiet:
        print(
            "WARNING: Ignoring custom format, because both --format and --quiet are set.",
            file=sys.stderr,
        )
    size = args.size
    if args.format and not args.quiet and not size and "size" not in args.given_flags:
        size = ".Size" in args.format  # docker asks for sizes when the template shows them
    limit = 1 if args.latest and args.last == -1 else args.last
    rows = list_containers(
        Layout(args.root),
        all=args.all,
        filters=args.filter,
        limit=limit,
        size=size,
        trunc=not args.no_trunc,
    )
    if args.quiet:
        for row in rows:
            print(row.fields["ID"])
        return 0
    if args.format and args.format != "table":
        return _print_template(args.format, rows)
    columns = PS_TABLE + (("Size",) if size else ())
    lines = ["\t".join(PS_HEADERS[k] for k in columns)]
    lines += ["\t".join(row.fields[k] for k in columns) for row in rows]
    for line in go_tabwriter("\n".join(lines)).split("\n"):
        print(line.rstrip())
    return 0


def _print_template(template: str, rows) -> int:
    """--format TEMPLATE (or `table TEMPLATE`, `json`): each row through the template."""
    from hood.cli.formatting import FormatError, render_rows

    try:
        out = render_rows(
            template, [row.fields for row in rows], PS_HEADERS, "*formatter.ContainerContext"
        )
    except FormatError as exc:
        print(exc, file=sys.stderr)
        return 1
    sys.stdout.write(out)
    return 0
