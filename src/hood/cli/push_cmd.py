"""push and copy: images to a registry, and between any two places."""

from __future__ import annotations

import sys
import threading

from hood.cli.common import RegistryClients, open_store
from hood.cli.flags import Command, Flag

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hood.cli.flags import Args


def _push() -> Command:
    return Command(
        "[OPTIONS] NAME[:TAG]",
        "Upload an image to a registry",
        [
            Flag("all-tags", "a", help="Push all tags of an image to the repository"),
            Flag("quiet", "q", help="Suppress verbose output"),
            Flag("compression", kind="str", choices=("gzip", "zstd"),
                 help="Compress layers with this (zstd makes an OCI manifest; default gzip)"),
            Flag("json", help="Print which digests were kept and which computed anew, and why"),
        ],
        ("name",),
        cmd_push,
    )  # fmt: skip


def _copy() -> Command:
    return Command(
        "[OPTIONS] SRC DST",
        "Copy an image between places",
        [
            Flag("all", "a", help="Copy every platform of an index"),
            Flag("format", "f", kind="str", choices=("docker", "oci"),
                 help="The manifest format to write (default: keep the source's)"),
            Flag("dest-compress-format", kind="str", choices=("gzip", "zstd"),
                 help="Compress layers with this at the destination"),
            Flag("platform", kind="str", help="The platform to take from an index"),
            Flag("quiet", "q", help="Suppress the summary"),
            Flag("json", help="Print the digests kept and made anew, and why, as JSON"),
        ],
        ("source", "destination"),
        cmd_copy,
        long="Copy an image between any two of docker://REF, docker-archive:PATH[:REF],\n"
        "oci:DIR[:REF], oci-archive:PATH[:REF] and hood:REF (the store). No digest changes\n"
        "unless a conversion is asked for; the summary says which were kept and why.",
    )  # fmt: skip


COMMANDS = {"push": _push, "copy": _copy}


class _PushPrinter:
    """docker push's plain (non-terminal) lines: one per layer state."""

    SHOWN = ("Preparing", "Waiting", "Layer already exists", "Pushed", "Mounted from")

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def __call__(self, event) -> None:  # type: ignore[no-untyped-def]
        if not event.id or not event.status.startswith(self.SHOWN):
            return
        with self.lock:
            print(f"{event.id}: {event.status}", flush=True)


def cmd_push(args: Args) -> int:
    import json

    from hood.services.push import push, push_targets

    store = open_store(args)
    ref, tags = push_targets(store, args.name, args.all_tags)
    quiet = args.quiet or args.json
    if not quiet and not args.all_tags and ref.tag is None:
        print("Using default tag: latest", flush=True)
    if not quiet:
        print(f"The push refers to repository [{ref.repository}]", flush=True)
    events = None
    if not quiet:  # on a terminal, docker's live lines; elsewhere one line per state
        from hood.cli.progress import ProgressPrinter

        events = ProgressPrinter() if sys.stdout.isatty() else _PushPrinter()
    clients = RegistryClients(args)
    reports = []
    try:
        for tag in tags:
            pushed = push(
                store,
                clients(ref.registry_host),
                ref,
                tag,
                compression=args.compression,
                events=events,
            )
            if args.json:
                reports.append({"reference": str(pushed.ref), **pushed.copied.to_json()})
            elif not args.quiet:
                print(f"{tag}: digest: {pushed.digest} size: {pushed.size}", flush=True)
    finally:
        clients.close()
    if args.json:
        print(json.dumps(reports, indent=2))
    elif args.quiet:
        print(str(ref))  # the name as given, fully qualified (docker push -q)
    return 0


def cmd_copy(args: Args) -> int:
    import json

    from hood.core.platform import Platform
    from hood.services.transfer import copy

    store = open_store(args)
    clients = RegistryClients(args)
    try:
        copied = copy(
            store,
            args.source,
            args.destination,
            client=clients,
            all_platforms=args.all,
            fmt=args.format,
            compression=args.dest_compress_format,
            platform=Platform.parse(args.platform) if args.platform else None,
        )
    finally:
        clients.close()
    if args.json:
        print(json.dumps(copied.to_json(), indent=2))
        return 0
    if args.quiet:
        return 0
    out = sys.stdout
    kept = new = 0
    for image in copied.images:
        if len(copied.images) > 1 and image.platform:
            print(f"Copying image for {image.platform}", file=out)
        for layer in image.layers:
            if layer.how in ("present", "existed", "mounted"):
                print(f"Copying blob {layer.written.digest} skipped: {layer.why}", file=out)
            else:
                print(f"Copying blob {layer.source.digest} done", file=out)
        print(f"Copying config {image.image_id} done", file=out)
        if image.manifest is not None:
            print("Writing manifest to image destination", file=out)
    if copied.index is not None:
        print("Writing manifest list to image destination", file=out)
    print("Digests:", file=out)
    for image in copied.images:
        prefix = f"  {image.platform} " if len(copied.images) > 1 and image.platform else "  "
        for i, layer in enumerate(image.layers):
            state = "kept" if layer.kept else "new "
            kept, new = kept + layer.kept, new + (not layer.kept)
            line = f"{prefix}layer {i} blob {layer.written.digest} {state}"
            if not layer.kept:
                line += f" (was {layer.source.digest}: {layer.why})"
            print(line, file=out)
        print(f"{prefix}config  {image.image_id} kept (copied byte for byte)", file=out)
        kept += 1
        if image.manifest is not None:
            if image.manifest_kept:
                print(f"{prefix}manifest {image.manifest} kept", file=out)
                kept += 1
            else:
                print(f"{prefix}manifest {image.manifest} new ({image.why_new})", file=out)
                new += 1
    if copied.index is not None:
        index = copied.index
        if index.kept:
            print(f"  index {index.digest} kept", file=out)
            kept += 1
        else:
            print(f"  index {index.digest} new ({index.why_new})", file=out)
            new += 1
    print(f"{kept} digests kept, {new} new", file=out)
    return 0
