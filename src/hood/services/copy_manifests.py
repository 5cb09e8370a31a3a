"""What a copy writes beside the layers, in the format it writes: each blob's descriptor
with that format's media type, the config's descriptor, the manifest and (with --all) the
index. The source's manifest and index are kept byte for byte when every descriptor in
them is what was written, so their digests stay; otherwise new ones are made, and each
comes with the reason why."""

from __future__ import annotations

from hood.core import oci
from hood.core.digest import Digest
from hood.core.errors import HoodError
from hood.core.jsonio import dumps, load_object
from hood.core.oci import Descriptor
from hood.places import convert
from hood.places.model import SourceImage
from hood.services.copy_report import ImageCopy

OPAQUE = "opaque"


def blob_compression(desc: Descriptor) -> str:
    """gzip, zstd, none; OPAQUE for a blob that is no layer tar hood knows (copied as is)."""
    if desc.media_type not in oci.COMPRESSION_BY_MEDIA_TYPE:
        return OPAQUE
    return convert.compression_of(desc.media_type)


def as_type(desc: Descriptor, fmt: str) -> Descriptor:
    """The same blob described with `fmt`'s media type for its compression."""
    if blob_compression(desc) == OPAQUE:
        return desc
    media_type = convert.layer_media_type(fmt, blob_compression(desc))
    if media_type == desc.media_type:
        return desc
    return Descriptor(media_type, desc.digest, desc.size, desc.urls)


def config_descriptor(image: SourceImage, fmt: str) -> Descriptor:
    """The config blob as the manifest names it: the source's media type when it is
    `fmt`'s, else `fmt`'s (the bytes, so the image ID, never change)."""
    media_type = image.config_media_type
    if not media_type or convert.format_of_config(media_type) != fmt:
        media_type = convert.config_media_type(fmt)
    return Descriptor(media_type, image.id, len(image.config.raw))


def manifest_to_write(
    image: SourceImage, fmt: str, config: Descriptor, layers: list[Descriptor]
) -> tuple[bytes, str, str]:
    """The manifest to write, and why it is not the source's ('' when it is)."""
    kept = image.manifest
    if kept is None:
        why = "the source keeps no manifest (its layers are stored uncompressed): one is made"
    elif convert.format_of(kept.media_type) != fmt:
        why = f"the manifest's format changed ({convert.format_of(kept.media_type)} to {fmt})"
    elif kept.config != config:
        why = "the config's media type changed"
    elif list(kept.layers) != layers:
        changed = [i for i, (a, b) in enumerate(zip(kept.layers, layers, strict=True)) if a != b]
        why = (
            f"layer blob{'s' if len(changed) > 1 else ''} {', '.join(map(str, changed))} "
            "changed (recompressed, decompressed or another known blob reused)"
        )
    else:
        return kept.raw, kept.media_type, ""
    raw, media_type = convert.build_manifest(fmt, config, layers)
    return raw, media_type, why


def index_to_write(
    index: oci.Index, fmt: str, moved: dict[Digest, ImageCopy]
) -> tuple[bytes, str, str]:
    """The index to write over the images copied (`moved`: the copy of each, by the
    digest of its manifest in `index`), and why it is not the source's ('' when it is)."""
    index_type = oci.OCI_INDEX if fmt == "oci" else oci.DOCKER_MANIFEST_LIST
    dropped = [d for d in index.manifests if d.digest not in moved]
    changed = [
        d
        for d in index.manifests
        if d.digest in moved
        and (
            moved[d.digest].manifest != d.digest
            or moved[d.digest].manifest_media_type != d.media_type
        )
    ]
    if index_type == index.media_type and not dropped and not changed:
        return index.raw, index.media_type, ""
    raw = _rewritten_index(index, index_type, fmt, moved)
    reasons = []
    if index_type != index.media_type:
        reasons.append(
            f"the index's format changed ({convert.format_of(index.media_type)} to {fmt})"
        )
    if changed:
        reasons.append(f"{len(changed)} of its manifests got new digests")
    if dropped:
        reasons.append(f"{len(dropped)} entries that are not images were left out")
    return raw, index_type, "; ".join(reasons)


def _rewritten_index(
    index: oci.Index, index_type: str, fmt: str, moved: dict[Digest, ImageCopy]
) -> bytes:
    """The source's index document over the manifests written: each entry's other keys
    kept, entries of images not copied left out, serialized as `fmt`'s tools do."""
    doc = load_object(index.raw, "index", HoodError)
    entries = []
    for item, desc in zip(doc.get("manifests") or [], index.manifests, strict=False):
        result = moved.get(desc.digest)
        if result is None or result.manifest is None:
            continue
        entry = dict(item)
        entry["mediaType"] = result.manifest_media_type
        entry["digest"] = str(result.manifest)
        entry["size"] = result.manifest_size
        entries.append(entry)
    doc["manifests"] = entries
    if "mediaType" in doc or index_type != index.media_type:
        doc["mediaType"] = index_type
    if fmt == "docker":
        return convert.indent3(doc).encode()
    return dumps(doc, separators=(",", ":")).encode()
