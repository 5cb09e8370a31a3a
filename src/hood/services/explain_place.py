"""`hood digests PLACE`: the digests of what a place (a registry, a docker or OCI archive,
an OCI layout, the store) holds under a name, each recomputed from the bytes the place
serves: blobs read whole, layers decompressed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import BinaryIO

from hood.core import oci
from hood.core.digest import Digest, new_hasher
from hood.core.errors import HoodError
from hood.core.platform import Platform
from hood.places.model import ImageSource, Layer, SourceImage
from hood.services.explain import (
    ChainedLayer,
    Check,
    ImageReport,
    LayerReport,
    Status,
    chain_id_check,
    chained_layers,
    digest_check,
)


@dataclass
class PlaceReport:
    """The digests of what a place holds under a name: the index (if it named one) and
    each image, recomputed from the bytes the place serves."""

    place: str
    checks: list[Check] = field(default_factory=list)  # the index
    images: list[ImageReport] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(c.failed for c in self.checks) or any(i.failed for i in self.images)

    def to_json(self) -> dict[str, object]:
        return {
            "place": self.place,
            "ok": not self.failed,
            "checks": [c.to_json() for c in self.checks],
            "images": [i.to_json() for i in self.images],
        }


def explain_place(
    source: ImageSource,
    *,
    verify: bool = True,
    platform: Platform | None = None,
    all_platforms: bool = True,
) -> PlaceReport:
    """Every sha256 of the image(s) `source` names, what bytes each is the hash of, and
    (with `verify`) each recomputed now: blobs are read whole, layers decompressed."""
    images = source.images(platform=platform, all_platforms=all_platforms and platform is None)
    report = PlaceReport(source.description)
    index = source.index()
    if index is not None:
        # OK by construction: an index's digest is that of its bytes, and a place refuses
        # bytes that do not hash to the digest that named them.
        again = Digest.of_bytes(index.raw)
        report.checks.append(
            Check(
                "index digest",
                str(index.digest),
                f"the index bytes ({index.media_type}, {len(index.raw)} bytes) as the place "
                "serves them",
                source.description,
                Status.OK,
                str(again),
                f"{len(index.manifests)} entries, one manifest per platform",
            )
        )
    for image in images:
        report.images.append(_source_image(source, image, verify))
    return report


def _source_image(source: ImageSource, image: SourceImage, verify: bool) -> ImageReport:
    names = list(image.names)
    if image.platform is not None:
        names.append(str(image.platform))
    out = ImageReport(image.id, names)
    where = source.description
    out.checks.append(_manifest_check(image.manifest, where))
    out.checks.append(
        digest_check(
            "image ID",
            image.id,
            f"the image config JSON, byte for byte ({len(image.config.raw)} bytes)",
            where,
            image.config.raw,
        )
    )
    chain = chained_layers(list(image.config.diff_ids))
    for layer, link in zip(image.layers, chain, strict=True):
        out.layers.append(_source_layer(source, image, layer, link, verify))
    return out


def _manifest_check(manifest: oci.Manifest | None, where: str) -> Check:
    if manifest is None:
        return Check(
            "manifest digest",
            "",
            "no manifest: the place keeps none (docker-archive, the store); a copy makes one",
            where,
            Status.NOT_KEPT,
        )
    # OK by construction, as the index's above.
    return Check(
        "manifest digest",
        str(manifest.digest),
        f"the image manifest bytes ({manifest.media_type}, {len(manifest.raw)} bytes)",
        where,
        Status.OK,
        str(Digest.of_bytes(manifest.raw)),
        "what a pull by digest names; any change of a blob digest or a media type in "
        "it makes another",
    )


def _source_layer(
    source: ImageSource, image: SourceImage, layer: Layer, link: ChainedLayer, verify: bool
) -> LayerReport:
    """A layer's blob digest and diff ID (recomputed with `verify`) and chain ID."""
    blob = layer.blob
    where = source.description
    out = LayerReport(link.index, blob.media_type, blob.size if blob.size >= 0 else None, None)
    compression = oci.COMPRESSION_BY_MEDIA_TYPE.get(blob.media_type, "?")
    what_blob = (
        "the uncompressed layer tar (so the blob digest is the diff ID)"
        if compression == "none"
        else f"the {compression}-compressed layer blob"
    )
    blob_check = Check("blob digest", str(blob.digest), what_blob, where, Status.OK)
    diff_check = Check(
        "diff ID",
        str(layer.diff_id),
        "the uncompressed layer tar (rootfs.diff_ids in the config)",
        where + (" (decompressed now)" if compression not in ("none", "?") else ""),
        Status.OK,
    )
    if verify:
        _recompute(source, image, layer, out, blob_check, diff_check)
    else:
        blob_check.status = diff_check.status = Status.NOT_KEPT
        blob_check.detail = diff_check.detail = "not recomputed (--no-verify)"
    out.checks.append(blob_check)
    out.checks.append(diff_check)
    out.checks.append(
        chain_id_check(
            link.chain, link.parent, layer.diff_id, "computed (no bytes of its own)", Status.OK
        )
    )
    return out


def _recompute(
    source: ImageSource,
    image: SourceImage,
    layer: Layer,
    out: LayerReport,
    blob_check: Check,
    diff_check: Check,
) -> None:
    """Read the blob once: its digest and size, and the diff ID and size of its tar."""
    blob = layer.blob
    try:
        got = _hash_layer(source, image, layer)
    except HoodError as exc:
        blob_check.status = diff_check.status = Status.MISMATCH
        blob_check.detail = diff_check.detail = str(exc)
        return
    out.size = got.tar_size
    out.blob_size = got.blob_size
    blob_check.recomputed = str(got.blob_digest)
    diff_check.recomputed = str(got.diff_id)
    if got.blob_digest != blob.digest or (blob.size >= 0 and got.blob_size != blob.size):
        blob_check.status = Status.MISMATCH
        blob_check.detail = f"{got.blob_size} bytes read, the descriptor says {blob.size}"
    if got.diff_id != layer.diff_id:
        diff_check.status = Status.MISMATCH


class _Hashing:
    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.hasher = new_hasher("sha256")
        self.count = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self.stream.read(n)
        self.hasher.update(data)
        self.count += len(data)
        return data

    def readinto(self, buf) -> int:  # type: ignore[no-untyped-def]
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)


@dataclass(frozen=True)
class _LayerHashes:
    blob_digest: Digest
    blob_size: int
    diff_id: Digest
    tar_size: int


def _hash_layer(source: ImageSource, image: SourceImage, layer: Layer) -> _LayerHashes:
    """The blob's digest and size, and its tar's, from one read of the blob."""
    from hood.core.errors import DigestMismatch
    from hood.layer.codecs import open_decompressed

    compression = oci.COMPRESSION_BY_MEDIA_TYPE.get(layer.blob.media_type)
    if compression is None:
        raise HoodError(f"unsupported layer media type {layer.blob.media_type!r}")
    hasher = new_hasher("sha256")
    size = 0
    with source.open_blob(image, layer.blob) as blob:
        counted = _Hashing(blob)
        try:
            tar = counted if compression == "none" else open_decompressed(counted, compression)  # type: ignore[arg-type]
            while data := tar.read(1 << 20):
                hasher.update(data)
                size += len(data)
            while counted.read(1 << 20):
                pass
        except DigestMismatch:
            pass  # the source's own check: the recomputed digests say what is wrong
    blob_digest = Digest.from_hasher(counted.hasher)
    if compression == "none":
        return _LayerHashes(blob_digest, counted.count, blob_digest, counted.count)
    return _LayerHashes(blob_digest, counted.count, Digest.from_hasher(hasher), size)
