"""push and copy: images to a registry, and between any two places."""

from __future__ import annotations

import argparse
import sys
import threading

from hood.cli.common import RegistryClients, open_store


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("push", help="upload an image to a registry")
    p.add_argument("-a", "--all-tags", action="store_true", help="push all tags of the repository")
    p.add_argument("-q", "--quiet", action="store_true", help="suppress verbose output")
    p.add_argument(
        "--compression",
        choices=["gzip", "zstd"],
        default=None,
        help="compress layers with this (zstd makes an OCI manifest); default gzip",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print which digests were kept and which were computed anew, and why",
    )
    p.add_argument("name", metavar="NAME[:TAG]")
    p.set_defaults(handler=cmd_push)

    p = sub.add_parser(
        "copy",
        help="copy an image between places: docker://REF, docker-archive:PATH[:REF], "
        "oci:DIR[:REF], oci-archive:PATH[:REF], hood:REF",
    )
    p.add_argument("--all", "-a", action="store_true", help="copy every platform of an index")
    p.add_argument("--format", "-f", choices=["docker", "oci"], default=None)
    p.add_argument("--dest-compress-format", choices=["gzip", "zstd"], default=None)
    p.add_argument("--platform", default=None, help="the platform to take from an index")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--json", action="store_true", help="the digests kept and new, as JSON")
    p.add_argument("source", metavar="SRC")
    p.add_argument("destination", metavar="DST")
    p.set_defaults(handler=cmd_copy)


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


def cmd_push(args: argparse.Namespace) -> int:
    import json

    from hood.services.push import push, push_targets

    store = open_store(args)
    ref, tags = push_targets(store, args.name, args.all_tags)
    quiet = args.quiet or args.json
    if not quiet and not args.all_tags and ref.tag is None:
        print("Using default tag: latest", flush=True)
    if not quiet:
        print(f"The push refers to repository [{ref.repository}]", flush=True)
    events = None if quiet else _PushPrinter()
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


def cmd_copy(args: argparse.Namespace) -> int:
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
