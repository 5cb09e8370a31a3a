"""`save` and `load`: images out of the store into an archive, and back in; `copy`
between any two places."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO

from hood.core import reference
from hood.core.digest import Digest
from hood.core.errors import HoodError, InvalidReference
from hood.core.platform import Platform
from hood.places.archive import DockerArchiveSource, open_input
from hood.places.layout import LayoutDestination, LayoutSource, TarSink
from hood.places.model import ImageSource, SourceImage
from hood.places.store import StoreDestination, StoreSource
from hood.services.copy import CopyOptions, copy_images, copy_many
from hood.services.copy_report import Copied, ImageCopy
from hood.services.events import EventSink, ProgressEvent
from hood.store.images import ImageStore

if TYPE_CHECKING:
    from hood.registry.client import RegistryClient

SAVE_FORMATS = ("docker", "oci")


def _names_to_save(store: ImageStore, name: str, image_id: Digest) -> list[str]:
    """The tags `docker save NAME` records: NAME's own tag, every tag of the repository
    when NAME has none, none when NAME is an ID or a digest."""
    try:
        ref = reference.parse(name, default_tag=False)
    except InvalidReference:
        return []
    if ref.digest is not None:
        return []
    if ref.tag is not None:
        return [ref.familiar()]
    tags = [
        k
        for k, v in store.references().items()
        if v == image_id and "@" not in k and k.rsplit(":", 1)[0] == ref.familiar_name
    ]
    return sorted(tags) or []


def save(
    store: ImageStore,
    names: list[str],
    *,
    path: str | None = None,
    out: BinaryIO | None = None,
    fmt: str = "docker",
    events: EventSink | None = None,
) -> list[ImageCopy]:
    """Write the images `names` name into one tar: at `path` (a temp file renamed into
    place when complete) or to `out`. `docker`: docker 25+'s archive (an OCI layout with
    docker's manifest.json and repositories: docker 20.10 loads it too); `oci`: the OCI
    layout alone (an oci-archive). Layers are their exact tars, rebuilt from tar-split."""
    if fmt not in SAVE_FORMATS:
        raise HoodError(f"unknown format {fmt!r}: choose docker or oci")
    if not names:
        raise HoodError("save needs at least one image")
    picks: dict[Digest, tuple[StoreSource, SourceImage]] = {}
    for name in names:
        source = StoreSource(store, name)
        (image,) = source.images()
        tags = _names_to_save(store, name, image.id)
        if image.id in picks:
            known = picks[image.id][1]
            known.names.extend(t for t in tags if t not in known.names)
        else:
            image.names = tags
            picks[image.id] = (source, image)
    for _, image in picks.values():
        if not image.layers:
            raise HoodError(f"image {image.id.short} has no layers: empty export - not implemented")
    sink = TarSink(path=path, out=out)
    dest = LayoutDestination(sink, docker_save=fmt == "docker", uncompressed=True)
    return copy_many(
        [(source, [image]) for source, image in picks.values()],
        dest,
        CopyOptions(format="oci"),
        events or _ignore,
    )


@dataclass
class Loaded:
    """What a load did, as docker prints it."""

    images: list[ImageCopy] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # Loaded image: … / renaming notices


def load(
    store: ImageStore,
    *,
    path: str | None = None,
    stdin: BinaryIO | None = None,
    events: EventSink | None = None,
) -> Loaded:
    """Load every image of an archive (docker save's, 20.10 or 25+; hood save's; skopeo's
    docker-archive or oci-archive; plain or compressed; `path` or `stdin`) into the store.
    Layers the store has are not read; each layer is checked against its diff ID."""
    os.makedirs(store.layout.tmp, exist_ok=True)
    tree, spool = open_input(path, stdin, store.layout.tmp)  # type: ignore[arg-type]
    try:
        source: ImageSource
        if tree.exists("manifest.json"):
            source = DockerArchiveSource(tree, every=True)
        elif tree.exists("index.json"):
            source = LayoutSource(tree, every=True)
        else:
            raise HoodError(
                f"{tree.description}: neither manifest.json nor index.json: not an image archive"
            )
        images = source.images()
        before = store.references()
        done = Loaded()
        done.images = copy_many([(source, images)], StoreDestination(store), CopyOptions(), events or _ignore)
        for image in images:
            tags = [reference.parse(n).familiar() for n in image.names]
            for tag in tags:
                old = before.get(tag)
                if old is not None and old != image.id:
                    done.lines.append(
                        f"The image {tag} already exists, renaming the old one with ID {old} to empty string"
                    )
                done.lines.append(f"Loaded image: {tag}")
            if not tags:
                done.lines.append(f"Loaded image ID: {image.id}")
        return done
    finally:
        tree.close()
        if spool is not None:
            with contextlib.suppress(OSError):
                os.unlink(spool)


def copy(
    store: ImageStore,
    source_name: str,
    dest_name: str,
    *,
    client: Callable[[str], RegistryClient],
    all_platforms: bool = False,
    fmt: str | None = None,
    compression: str | None = None,
    platform: Platform | None = None,
    events: EventSink | None = None,
) -> Copied:
    """`hood copy SRC DST` between places named as skopeo names them. With no conversion
    asked for, digests are kept wherever the destination can hold the blobs as they are;
    a registry-to-registry copy streams blobs through (never into the store) and mounts
    them when both are one registry."""
    from hood.places import transports

    src = transports.parse(source_name)
    dst = transports.parse(dest_name)
    opener = transports.Opener(store, client)
    names = transports.destination_names(dst)
    options = CopyOptions(
        format=fmt,
        compression=compression,
        platform=platform,
        all_platforms=all_platforms,
        names=(lambda _: list(names)) if names is not None else None,
        index_names=names,
    )
    dest = transports.open_destination(dst, opener)
    dest.prepare()  # e.g. reach the registry while the source is being read
    with transports.open_source(src, opener) as source:
        return copy_images(source, dest, options, events or _ignore)


def _ignore(_: ProgressEvent) -> None:
    pass
