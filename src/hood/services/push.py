"""`hood push`: an image of the store to its registry, as dockerd pushes it.

Per layer (several at once): a compressed blob recorded for it (an earlier pull or push,
or docker's distribution metadata) that the repository has (HEAD) is not sent; one in
another repository of the same registry is mounted; otherwise the layer's tar, rebuilt
from tar-split, is compressed as it uploads (gzip; zstd with an OCI manifest). Then the
config and, last, the manifest: the one pulled when every blob in it is the one there,
else a new docker schema 2 (OCI for zstd). Afterwards the store records what it pushed as
dockerd does: v2metadata-by-diffid (with dockerd's HMAC), diffid-by-digest, and the
RepoDigest in repositories.json."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hood.core import oci, reference
from hood.core.digest import Digest
from hood.core.errors import HoodError, InvalidReference, NotFound
from hood.core.reference import Reference
from hood.places.registry import RegistryDestination
from hood.places.store import StoreSource
from hood.services.copy import CopyOptions, copy_images
from hood.services.copy_report import Copied, ImageCopy
from hood.services.events import EventSink, ProgressEvent
from hood.store.distribution import Distribution, hmac_key, metadata_hmac
from hood.store.images import ImageStore, ManifestSource

if TYPE_CHECKING:
    from hood.registry.client import RegistryClient

COMPRESSIONS = ("gzip", "zstd")


@dataclass
class Pushed:
    ref: Reference  # with the tag pushed
    digest: Digest
    size: int
    copied: Copied

    @property
    def image(self) -> ImageCopy:
        return self.copied.images[0]


def push_targets(store: ImageStore, name: str, all_tags: bool) -> tuple[Reference, list[str]]:
    """The repository and the tags to push, as docker resolves `push [-a] NAME[:TAG]`."""
    try:
        ref = reference.parse(name, default_tag=False)
    except InvalidReference as exc:
        raise HoodError(str(exc)) from None
    if ref.digest is not None:
        raise HoodError(f"cannot push a digest reference ({name}): name a tag")
    if all_tags:
        if ref.tag is not None:
            raise HoodError("tag can't be used with --all-tags/-a")
        prefix = ref.familiar_name + ":"
        tags = sorted(k[len(prefix) :] for k in store.references() if k.startswith(prefix))
        if not tags:
            raise NotFound(f"An image does not exist locally with the tag: {ref.familiar_name}")
        return ref, tags
    tag = ref.tag or "latest"
    if ref.with_tag(tag).familiar() not in store.references():
        raise NotFound(f"tag does not exist: {ref.with_tag(tag).familiar()}")
    return ref, [tag]


def push(
    store: ImageStore,
    client: RegistryClient,
    ref: Reference,
    tag: str,
    *,
    compression: str | None = None,
    events: EventSink | None = None,
) -> Pushed:
    """Push `ref` with `tag` from the store to its registry (`client`)."""
    if compression is not None and compression not in COMPRESSIONS:
        raise HoodError(f"unknown compression {compression!r}: choose gzip or zstd")
    target = ref.with_tag(tag)
    source = StoreSource(store, target.familiar(), prefer=target.repository)
    dest = RegistryDestination(client, target)
    options = CopyOptions(
        format="oci" if compression == "zstd" else "docker",
        compression=compression,
        names=lambda _: [str(target)],
    )
    with source:
        copied = copy_images(source, dest, options, events or _ignore)
    image = copied.images[0]
    assert image.manifest is not None
    _record(store, client, target, image)
    return Pushed(target, image.manifest, image.manifest_size, copied)


def _record(store: ImageStore, client: RegistryClient, ref: Reference, image: ImageCopy) -> None:
    """What dockerd writes after a push: distribution metadata for every layer the
    repository now has, and the image's RepoDigest. hood also keeps the manifest, so the
    next push (or save) can keep its digest."""
    creds = client.auth.credentials()
    key = hmac_key(creds.username, creds.password, creds.identity_token) if creds else hmac_key()
    repository = ref.repository
    distribution = Distribution(store.layout)
    assert image.manifest is not None
    with store.locked():
        for layer in image.layers:
            blob = layer.written.digest
            if oci.COMPRESSION_BY_MEDIA_TYPE.get(layer.written.media_type) != "gzip":
                # v2metadata says nothing of media types and every reader (dockerd too)
                # takes its blobs for gzip: a zstd blob stays known by the kept manifest
                continue
            distribution.record_push(
                blob, layer.diff_id, repository, metadata_hmac(key, blob, repository)
            )
        digest = store.put_manifest(image.manifest_raw)
        store.add_source(
            image.image_id,
            ManifestSource(repository, digest, None, image.manifest_media_type),
        )
        store.update_references(add=[(ref.with_digest(digest).familiar(), image.image_id)])


def _ignore(_: ProgressEvent) -> None:
    pass
