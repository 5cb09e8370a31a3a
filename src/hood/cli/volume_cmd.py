"""hood volume create|inspect|ls|rm|prune, as docker's."""

from __future__ import annotations

import sys

from hood.cli.flags import FORMAT_HELP, INSPECT_FORMAT_HELP, Command, Flag

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hood.cli.flags import Args



def _create() -> Command:
    F = Flag
    return Command(
        "[OPTIONS] [VOLUME]",
        "Create a volume",
        [
            F("driver", "d", kind="str", default="local", help="Specify volume driver name"),
            F("label", kind="list", help="Set metadata for a volume"),
            F("name", kind="str", hidden=True, help="Specify volume name"),
            F("opt", "o", kind="list", type_word="map", help="Set driver specific options"),
        ],
        ("volume?",),
        cmd_create,
        examples="  $ hood volume create data\n  $ hood run --rm -v data:/data busybox ls /data",
    )  # fmt: skip


def _inspect() -> Command:
    return Command(
        "[OPTIONS] VOLUME [VOLUME...]",
        "Display detailed information on one or more volumes",
        [Flag("format", "f", kind="str", help=INSPECT_FORMAT_HELP)],
        ("volumes+",),
        cmd_inspect,
    )


def _ls() -> Command:
    F = Flag
    return Command(
        "[OPTIONS]",
        "List volumes",
        [
            F("filter", "f", kind="filter", help="Provide filter values (e.g. \"dangling=true\")"),
            F("format", kind="str", help=FORMAT_HELP),
            F("quiet", "q", help="Only display volume names"),
        ],
        (),
        cmd_ls,
    )  # fmt: skip


def _rm() -> Command:
    return Command(
        "[OPTIONS] VOLUME [VOLUME...]",
        "Remove one or more volumes",
        [Flag("force", "f", help="Force the removal of one or more volumes")],
        ("volumes+",),
        cmd_rm,
        long="Remove one or more volumes. You cannot remove a volume that is in use by a container.",
    )


def _prune() -> Command:
    F = Flag
    return Command(
        "[OPTIONS]",
        "Remove unused local volumes",
        [
            F("all", "a", help="Remove all unused volumes, not just anonymous ones"),
            F("filter", kind="filter", help='Provide filter values (e.g. "label=<label>")'),
            F("force", "f", help="Do not prompt for confirmation"),
        ],
        (),
        cmd_prune,
    )  # fmt: skip


COMMANDS = {
    "volume create": _create,
    "volume inspect": _inspect,
    "volume ls": _ls,
    "volume rm": _rm,
    "volume prune": _prune,
}


def _layout(args):
    from hood.store.layout import Layout

    return Layout(args.root)


def cmd_create(args: Args) -> int:
    from hood.core.errors import HoodError
    from hood.services.volumes import create_volume

    if args.volume and args.name and args.volume != args.name:
        raise HoodError("conflicting options: cannot specify a volume-name through both "
                        "--name and as a positional arg")  # fmt: skip
    if args.driver != "local":
        raise HoodError(f"volume driver {args.driver!r}: only the local driver is supported")
    if args.opt:
        raise HoodError("volume options (-o) are not supported: hood's volumes are directories")
    labels = {}
    for item in args.label:
        key, _, value = item.partition("=")
        labels[key] = value
    print(create_volume(_layout(args), args.volume or args.name, labels).name)
    return 0


def cmd_inspect(args: Args) -> int:
    from hood.cli.output import dumps_indented, write
    from hood.services.volumes import inspect_volumes

    docs, errors = inspect_volumes(_layout(args), args.volumes)
    if args.format == "json":
        from hood.core.jsonio import go_json

        write(go_json(docs) + "\n")
    elif args.format:
        from hood.cli.formatting import FormatError, raw_view, render_inspect
        from hood.cli.template_views import template_data

        try:
            out, failures = render_inspect(
                args.format, [(template_data(doc), raw_view(doc)) for doc in docs]
            )
        except FormatError as exc:
            print(exc, file=sys.stderr)
            return 1
        write(out)
        errors += failures
    else:
        write(dumps_indented(docs) + "\n")
    if errors:
        print("\n".join(f"Error: {e}" for e in errors), file=sys.stderr)
        return 1
    return 0


_HEADERS = {
    "Name": "VOLUME NAME",
    "Driver": "DRIVER",
    "Scope": "SCOPE",
    "Mountpoint": "MOUNTPOINT",
    "Labels": "LABELS",
    "Links": "LINKS",
    "Size": "SIZE",
}


def cmd_ls(args: Args) -> int:
    from hood.services.volumes import list_volumes

    volumes = list_volumes(_layout(args), args.filter)
    if args.quiet:
        for v in volumes:
            print(v.name)
        return 0
    rows = [
        {
            "Name": v.name,
            "Driver": "local",
            "Scope": "local",
            "Mountpoint": v.mountpoint,
            "Labels": ",".join(f"{k}={val}" for k, val in v.labels.items()),
            "Links": "N/A",
            "Size": "N/A",
        }
        for v in volumes
    ]
    if args.format and args.format != "table":
        from hood.cli.formatting import FormatError, render_rows

        try:
            sys.stdout.write(render_rows(args.format, rows, _HEADERS, "*formatter.volumeContext"))
        except FormatError as exc:
            print(exc, file=sys.stderr)
            return 1
        return 0
    from hood.cli.output import go_tabwriter

    lines = ["DRIVER\tVOLUME NAME"] + [f"{r['Driver']}\t{r['Name']}" for r in rows]
    for line in go_tabwriter("\n".join(lines)).split("\n"):
        print(line.rstrip())
    return 0


def cmd_rm(args: Args) -> int:
    from hood.services.volumes import remove_volumes

    status = 0
    for name, error in remove_volumes(_layout(args), args.volumes, args.force):
        if error:
            print(f"Error: {error}", file=sys.stderr)
            status = 1
        else:
            print(name)
    return status


def cmd_prune(args: Args) -> int:
    from hood.cli.output import confirm, print_prune
    from hood.services.volumes import prune_volumes

    which = "all local volumes" if args.all else "anonymous local volumes"
    warning = f"WARNING! This will remove {which} not used by at least one container."
    if not args.force and not confirm(warning):
        return 0
    removed, reclaimed = prune_volumes(_layout(args), all=args.all, filters=args.filter)
    print_prune("Deleted Volumes", removed, reclaimed)
    return 0
