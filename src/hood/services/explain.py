"""`hood digests`: every sha256 of an image, what bytes it is the hash of, where those
bytes are, and whether hashing them again now gives the same answer."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum

from hood.core import oci
from hood.core.digest import Digest, InvalidDigest, chain_id, chain_ids, new_hasher
from hood.core.errors import HoodError
from hood.core.platform import Platform
from hood.places.model import ImageSource, Layer, SourceImage
from hood.services.validate import check_layer
from hood.store.images import ImageRecord, ImageStore


class Status(StrEnum):
    OK = "ok"  # recomputed now and equal
    MISMATCH = "mismatch"  # recomputed now and different
    MISSING = "missing"  # the bytes it is the hash of are not in the store
    NOT_KEPT = "not kept"  # hood does not keep those bytes (compressed blobs)
    NOT_A_DIGEST = "not a digest"  # a random identifier (cache-id)


@dataclass
class Check:
    name: str  # "image ID", "diff ID", …
    value: str
    hash_of: str  # what bytes this is the sha256 of
    where: str  # where those bytes are
    status: Status
    recomputed: str | None = None
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.status in (Status.MISMATCH, Status.MISSING)


@dataclass
class LayerReport:
    index: int
    media_type: str
    blob_size: int | None
    size: int | None
    checks: list[Check] = field(default_factory=list)


@dataclass
class ImageReport:
    image_id: Digest
    names: list[str]
    checks: list[Check] = field(default_factory=list)
    layers: list[LayerReport] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(c.failed for c in self.checks) or any(
            c.failed for layer in self.layers for c in layer.checks
        )

    def to_json(self) -> dict[str, object]:
        def check(c: Check) -> dict[str, object]:
            return {
                "name": c.name,
                "digest": c.value,
                "hashOf": c.hash_of,
                "where": c.where,
                "status": c.status.value,
                "recomputed": c.recomputed,
                "detail": c.detail,
            }

        return {
            "id": str(self.image_id),
            "names": self.names,
            "ok": not self.failed,
            "checks": [check(c) for c in self.checks],
            "layers": [
                {
                    "index": layer.index,
                    "mediaType": layer.media_type,
                    "blobSize": layer.blob_size,
                    "size": layer.size,
                    "checks": [check(c) for c in layer.checks],
                }
                for layer in self.layers
            ],
        }


def _hash_file(path, what: str) -> tuple[Digest | None, Status]:  # type: ignore[no-untyped-def]
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None, Status.MISSING
    return Digest.of_bytes(data), Status.OK


def _blob_digests_recorded(store: ImageStore, diff_id: Digest) -> list[tuple[Digest, str]]:
    """(blob digest, source repository) pairs dockerd's v2metadata-by-diffid holds for a
    diff ID: what a store without the pulled manifest still knows of the blobs."""
    try:
        with open(store.layout.v2metadata_by_diffid(diff_id), "rb") as f:
            doc = json.loads(f.read())
    except (OSError, ValueError, RecursionError):
        return []
    out: list[tuple[Digest, str]] = []
    seen: set[Digest] = set()
    for item in doc if isinstance(doc, list) else []:
        try:
            digest = Digest.parse(str(item["Digest"]))
        except (KeyError, TypeError, InvalidDigest):
            continue
        if digest not in seen:
            seen.add(digest)
            out.append((digest, str(item.get("SourceRepository", ""))))
    return out


def explain_image(store: ImageStore, record: ImageRecord, *, verify: bool = True) -> ImageReport:
    layout = store.layout
    report = ImageReport(record.id, record.repo_tags + record.repo_digests)
    # Manifests: what each RepoDigest names, and the platform manifest inside an index.
    manifest: oci.Manifest | None = None
    for source in store.sources(record.id):
        if source.index is not None:
            report.checks.append(
                _check_blob(
                    store,
                    "index digest",
                    source.index,
                    f"the manifest list / index bytes as pulled from {source.repository}",
                )
            )
        report.checks.append(
            _check_blob(
                store,
                "manifest digest",
                source.manifest,
                f"the image manifest bytes as pulled from {source.repository}"
                + (" (the platform picked from the index)" if source.index else ""),
            )
        )
        raw = store.load_manifest(source.manifest)
        if raw is not None and manifest is None:
            try:
                doc = oci.parse_document(raw)
                if isinstance(doc, oci.Manifest):
                    manifest = doc
            except HoodError:
                pass
    # RepoDigests whose bytes this store does not hold (a dockerd root, a load).
    covered = {c.value for c in report.checks}
    for name in record.repo_digests:
        _, _, digest_text = name.rpartition("@")
        if digest_text in covered:
            continue
        covered.add(digest_text)
        report.checks.append(
            Check(
                "manifest digest",
                digest_text,
                "the manifest (or index) bytes the registry served for " + name.rpartition("@")[0],
                "not in this store (only the RepoDigests entry is)",
                Status.NOT_KEPT,
                None,
                "recorded at pull; the bytes were not kept, so it cannot be recomputed",
            )
        )
    # Image ID.
    config_path = layout.imagedb_content(record.id)
    actual, status = _hash_file(config_path, "config")
    if actual is not None:
        status = Status.OK if actual == record.id else Status.MISMATCH
    report.checks.append(
        Check(
            "image ID",
            str(record.id),
            "the image config JSON (the config blob, byte for byte)",
            str(config_path),
            status,
            str(actual) if actual else None,
        )
    )
    diff_ids = list(record.config.diff_ids)
    chains = chain_ids(diff_ids)
    for i, (diff_id, chain) in enumerate(zip(diff_ids, chains, strict=True)):
        desc = manifest.layers[i] if manifest and i < len(manifest.layers) else None
        stored = store.layers.get(chain)
        layer = LayerReport(
            i,
            desc.media_type if desc else "",
            desc.size if desc else None,
            stored.size if stored else None,
        )
        if desc is not None:
            mapped = layout.diffid_by_digest(desc.digest)
            detail = (
                "hood keeps the extracted files, not the compressed blob; checked at pull; "
                f"{mapped} pairs it with this diff ID"
            )
            blob_status = Status.NOT_KEPT
            try:
                with open(mapped) as f:
                    paired = Digest.parse(f.read().strip())
                if paired != diff_id:
                    detail = f"{mapped} pairs it with another diff ID, {paired}"
                    blob_status = Status.MISMATCH
            except (OSError, InvalidDigest):
                detail = (
                    "hood keeps the extracted files, not the compressed blob; checked at "
                    f"pull; no blob-to-diff-ID record at {mapped}"
                )
            layer.checks.append(
                Check(
                    "blob digest",
                    str(desc.digest),
                    f"the compressed layer blob ({desc.media_type}, {desc.size} bytes)",
                    "the registry (from the manifest's layers)",
                    blob_status,
                    None,
                    detail,
                )
            )
        else:
            for blob, source in _blob_digests_recorded(store, diff_id):
                layer.checks.append(
                    Check(
                        "blob digest",
                        str(blob),
                        "the compressed layer blob, as a registry served it",
                        f"the registry ({source})" if source else "a registry",
                        Status.NOT_KEPT,
                        None,
                        f"known from {layout.v2metadata_by_diffid(diff_id)}; the blob was not kept",
                    )
                )
        where = (
            store.layers.tar_split_path(chain)
            + " + "
            + (str(stored.diff_dir) if stored else "?")
        )
        if stored is None:
            layer.checks.append(
                Check("diff ID", str(diff_id), "the uncompressed layer tar", where, Status.MISSING)
            )
        elif verify:
            found = check_layer(store, chain, limit=5)
            ok = found.rebuilt == diff_id
            layer.checks.append(
                Check(
                    "diff ID",
                    str(diff_id),
                    "the uncompressed layer tar, rebuilt now from tar-split and the layer's files",
                    where,
                    Status.OK if ok else Status.MISMATCH,
                    str(found.rebuilt) if found.rebuilt else None,
                    "" if ok else "; ".join(filter(None, (found.error, found.changed()))),
                )
            )
        parent = chains[i - 1] if i else None
        formula = (
            "chain ID of the first layer = its diff ID"
            if parent is None
            else f'sha256("{parent} {diff_id}") — parent chain ID, a space, this diff ID'
        )
        again_chain = chain_id(parent, diff_id)
        chain_status = Status.OK if again_chain == chain and stored is not None else Status.MISSING
        if stored is not None and stored.diff_id != diff_id:
            chain_status = Status.MISMATCH
        layer.checks.append(
            Check(
                "chain ID",
                str(chain),
                formula,
                str(layout.layerdb(chain)),
                chain_status,
                str(again_chain),
            )
        )
        if stored is not None:
            layer.checks.append(
                Check(
                    "cache-id",
                    stored.cache_id,
                    "nothing: a random name for the layer's overlay2 directory",
                    str(layout.layer_dir(stored.cache_id)),
                    Status.NOT_A_DIGEST,
                )
            )
        report.layers.append(layer)
    return report


def _check_blob(store: ImageStore, name: str, digest: Digest, hash_of: str) -> Check:
    path = store.layout.manifest_blob(digest)
    actual, status = _hash_file(path, name)
    if actual is not None:
        status = Status.OK if actual == digest else Status.MISMATCH
    return Check(name, str(digest), hash_of, str(path), status, str(actual) if actual else None)


# --- any place -------------------------------------------------------------------------


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
        first = ImageReport(Digest("sha256", "0" * 64), [], self.checks).to_json()
        return {
            "place": self.place,
            "ok": not self.failed,
            "checks": first["checks"],
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
        report.images.append(_explain_source_image(source, image, verify))
    return report


def _explain_source_image(source: ImageSource, image: SourceImage, verify: bool) -> ImageReport:
    names = list(image.names)
    if image.platform is not None:
        names.append(str(image.platform))
    out = ImageReport(image.id, names)
    where = source.description
    manifest = image.manifest
    if manifest is not None:
        out.checks.append(
            Check(
                "manifest digest",
                str(manifest.digest),
                f"the image manifest bytes ({manifest.media_type}, {len(manifest.raw)} bytes)",
                where,
                Status.OK,
                str(Digest.of_bytes(manifest.raw)),
                "what a pull by digest names; any change of a blob digest or a media type in "
                "it makes another",
            )
        )
    else:
        out.checks.append(
            Check(
                "manifest digest",
                "",
                "no manifest: the place keeps none (docker-archive, the store); a copy makes one",
                where,
                Status.NOT_KEPT,
            )
        )
    again = Digest.of_bytes(image.config.raw)
    out.checks.append(
        Check(
            "image ID",
            str(image.id),
            f"the image config JSON, byte for byte ({len(image.config.raw)} bytes)",
            where,
            Status.OK if again == image.id else Status.MISMATCH,
            str(again),
        )
    )
    chains = chain_ids(list(image.config.diff_ids))
    for i, (layer, chain) in enumerate(zip(image.layers, chains, strict=True)):
        blob = layer.blob
        entry = LayerReport(i, blob.media_type, blob.size if blob.size >= 0 else None, None)
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
            try:
                got_blob, blob_size, got_diff, tar_size = _hash_layer(source, image, layer)
            except HoodError as exc:
                blob_check.status = diff_check.status = Status.MISMATCH
                blob_check.detail = diff_check.detail = str(exc)
            else:
                entry.size = tar_size
                entry.blob_size = blob_size
                blob_check.recomputed = str(got_blob)
                diff_check.recomputed = str(got_diff)
                if got_blob != blob.digest or (blob.size >= 0 and blob_size != blob.size):
                    blob_check.status = Status.MISMATCH
                    blob_check.detail = f"{blob_size} bytes read, the descriptor says {blob.size}"
                if got_diff != layer.diff_id:
                    diff_check.status = Status.MISMATCH
        else:
            blob_check.status = diff_check.status = Status.NOT_KEPT
            blob_check.detail = diff_check.detail = "not recomputed (--no-verify)"
        entry.checks.append(blob_check)
        entry.checks.append(diff_check)
        parent = chains[i - 1] if i else None
        formula = (
            "chain ID of the first layer = its diff ID"
            if parent is None
            else f'sha256("{parent} {layer.diff_id}") — parent chain ID, a space, this diff ID'
        )
        entry.checks.append(
            Check("chain ID", str(chain), formula, "computed (no bytes of its own)", Status.OK, str(chain_id(parent, layer.diff_id)))
        )
        out.layers.append(entry)
    return out


class _Hashing:
    def __init__(self, stream) -> None:  # type: ignore[no-untyped-def]
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


def _hash_layer(
    source: ImageSource, image: SourceImage, layer: Layer
) -> tuple[Digest, int, Digest, int]:
    """(blob digest, blob size, diff ID, tar size) from one read of the blob."""
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
    if compression == "none":
        return Digest.from_hasher(counted.hasher), counted.count, Digest.from_hasher(counted.hasher), counted.count
    return Digest.from_hasher(counted.hasher), counted.count, Digest.from_hasher(hasher), size
