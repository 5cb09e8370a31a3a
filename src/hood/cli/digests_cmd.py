"""history, digests, fsck, manifest inspect: the commands that explain and re-verify."""

from __future__ import annotations

from hood.cli.common import open_store
from hood.cli.flags import FORMAT_HELP, Command, Flag

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hood.cli.flags import Args


def _history() -> Command:
    F = Flag
    return Command(
        "[OPTIONS] IMAGE",
        "Show the history of an image",
        [
            F("format", kind="str", help=FORMAT_HELP),
            F("human", "H", default=True, help="Print sizes and dates in human readable format"),
            F("no-trunc", help="Don't truncate output"),
            F("quiet", "q", help="Only show image IDs"),
        ],
        ("image",),
        cmd_history,
    )


def _digests() -> Command:
    return Command(
        "[OPTIONS] IMAGE|PLACE",
        "",
        [
            Flag("json", help="Print the report as JSON, for programs"),
            Flag("no-verify", help="Explain only; do not rebuild the layers' tars"),
            Flag("platform", kind="str", help="One platform of an index (default: all)"),
        ],
        ("image",),
        cmd_digests,
        long="Every sha256 of IMAGE (in the store) or of the image at PLACE (docker://REF,\n"
        "docker-archive:PATH[:REF], oci:DIR[:REF], oci-archive:PATH[:REF]): what bytes each\n"
        "one hashes, where those bytes are, and the digest recomputed from them now (the\n"
        "image ID, manifest, blobs, diff IDs and chain IDs). Exits 1 when one does not match.",
    )


def _fsck() -> Command:
    return Command(
        "[OPTIONS] [IMAGE...]",
        "",
        [
            Flag("json", help="Print the findings as JSON, for programs"),
            Flag("quick", help="Skip rebuilding every layer's tar"),
            Flag("repair", help="Remove leftovers and dangling tags"),
        ],
        ("images*",),
        cmd_fsck,
        long="Re-verify the store (configs, manifests, every layer's files against its diff\n"
        "ID), or only the given images; name what is wrong and what to do. Exits 1 when\n"
        "something is wrong.",
    )


COMMANDS = {"history": _history, "digests": _digests, "fsck": _fsck}


HISTORY_HEADERS = {
    "ID": "IMAGE",
    "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT",
    "CreatedBy": "CREATED BY",
    "Size": "SIZE",
    "Comment": "COMMENT",
}

_HISTORY_TABLE = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
_HISTORY_TABLE_NON_HUMAN = "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"


def history_fields(row, args: Args, now) -> dict:  # type: ignore[no-untyped-def]
    """What docker's history formatter exposes to --format, as its methods compute it."""
    from hood.core.timefmt import human_size
    from hood.services.history import created_at, created_since, ellipsis, short_id

    human = args.human
    created_by = row.created_by.replace("\t", " ")
    return {
        "ID": row.id if args.no_trunc else short_id(row.id),
        "CreatedSince": created_since(row.created, now) if human else created_at(row.created),
        "CreatedAt": created_at(row.created),
        "CreatedBy": created_by if args.no_trunc else ellipsis(created_by, 45),
        "Size": human_size(row.size) if human else str(row.size),
        "Comment": row.comment,
    }


def cmd_history(args: Args) -> int:
    import sys
    from datetime import UTC, datetime

    from hood.cli.formatting import FormatError, render_rows
    from hood.cli.output import write
    from hood.services.history import image_history

    store = open_store(args)
    rows = image_history(store, store.resolve(args.image))
    now = datetime.now(UTC)
    fields = [history_fields(r, args, now) for r in rows]
    fmt = args.format or "table"
    if fmt == "table":  # docker's NewHistoryFormat
        if args.quiet:
            fmt = "{{.ID}}"
        elif args.human:
            fmt = _HISTORY_TABLE
        else:
            fmt = _HISTORY_TABLE_NON_HUMAN
    try:
        write(render_rows(fmt, fields, HISTORY_HEADERS, "*image.historyContext"))
    except FormatError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


_STYLE = {
    "ok": "green",
    "mismatch": "bold red",
    "missing": "bold red",
    "not kept": "yellow",
    "not a digest": "dim",
}


def cmd_digests(args: Args) -> int:
    import json

    from hood.places import transports
    from hood.services.explain import explain_image

    if transports.is_place(args.image):
        return _place_digests(args)
    store = open_store(args)
    record = store.resolve(args.image)
    report = explain_image(store, record, verify=not args.no_verify)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
        return 1 if report.failed else 0
    return _print_reports([report], [])


def _place_digests(args: Args) -> int:
    import json

    from hood.cli.common import RegistryClients
    from hood.core.platform import Platform
    from hood.places import transports
    from hood.services.explain_place import explain_place

    store = open_store(args)
    clients = RegistryClients(args)
    try:
        opener = transports.Opener(store, clients)
        with transports.open_source(transports.parse(args.image), opener) as source:
            report = explain_place(
                source,
                verify=not args.no_verify,
                platform=Platform.parse(args.platform) if args.platform else None,
            )
    finally:
        clients.close()
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
        return 1 if report.failed else 0
    return _print_reports(report.images, report.checks, report.place)


def _print_reports(reports, top_checks, place: str = "") -> int:  # type: ignore[no-untyped-def]
    from rich.console import Console
    from rich.markup import escape
    from rich.tree import Tree

    def node(tree: Tree, check) -> None:  # type: ignore[no-untyped-def]
        style = _STYLE.get(check.status.value, "")
        mark = {"ok": "✓", "mismatch": "✗", "missing": "✗"}.get(check.status.value, "·")
        label = (
            f"[bold]{escape(check.name)}[/bold] {escape(check.value)} "
            f"[{style}]{mark} {escape(check.status.value)}[/{style}]"
        )
        branch = tree.add(label)
        branch.add(f"sha256 of: {escape(check.hash_of)}")
        branch.add(f"bytes at: {escape(check.where)}")
        if check.recomputed and check.recomputed != check.value:
            branch.add(f"[{style}]recomputed: {escape(check.recomputed)}[/{style}]")
        if check.detail:
            branch.add(escape(check.detail))

    import sys

    # On a terminal, rich wraps to its width; in a pipe or a log, a digest must never be
    # cut, so lines are as long as they need to be.
    tty = sys.stdout.isatty()
    console = Console(highlight=False, soft_wrap=True, width=None if tty else 10_000)
    if place:
        top = Tree(f"[bold]{escape(place)}[/bold]")
        for check in top_checks:
            node(top, check)
        console.print(top)
    failed = any(c.failed for c in top_checks)
    for report in reports:
        title = f"[bold]{escape(str(report.image_id))}[/bold]"
        if report.names:
            title += " (" + escape(", ".join(report.names)) + ")"
        tree = Tree(title)
        for check in report.checks:
            node(tree, check)
        for layer in report.layers:
            sizes = []
            if layer.blob_size is not None:
                sizes.append(f"blob {layer.blob_size} bytes")
            if layer.size is not None:
                sizes.append(f"layer size {layer.size} bytes")
            sub = tree.add(
                f"[bold]layer {layer.index}[/bold] {escape(layer.media_type)} "
                + escape(", ".join(sizes))
            )
            for check in layer.checks:
                node(sub, check)
        console.print(tree)
        failed = failed or report.failed
    if failed:
        console.print("[bold red]some digests do not match what is stored[/bold red]")
        return 1
    return 0


def cmd_fsck(args: Args) -> int:
    import json

    from hood.services.fsck import Severity, check_store, findings_json, repair

    store = open_store(args)
    only = [store.resolve_id(name) for name in args.images] if args.images else None
    with store.locked():
        findings = check_store(store, only, verify_content=not args.quick)
        repaired = repair(findings) if args.repair else []
    errors = [f for f in findings if f.severity == Severity.ERROR and f not in repaired]
    if args.json:
        print(json.dumps({"ok": not errors, "findings": findings_json(findings)}, indent=2))
        return 1 if errors else 0
    for f in findings:
        state = " (repaired)" if f in repaired else ""
        print(f"{f.severity.value}: {f.path}: {f.problem}{state}")
        if not state:
            print(f"  fix: {f.fix}")
    images = len(only) if only is not None else len(store.image_ids())
    summary = (
        f"checked {images} image(s): {len(errors)} error(s), "
        + str(sum(1 for f in findings if f.severity == Severity.LEFTOVER))
        + " leftover(s)"
    )
    print(summary)
    return 1 if errors else 0
