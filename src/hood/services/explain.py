"""`hood digests`: every sha256 of an image, what bytes it is the hash of, where those
bytes are, and whether hashing them again now gives the same answer.

Here: the report, the checks an image in the store and an image in any place share (an
image ID, a chain ID), and the digests of an image in the store. explain_place has those
of an image in a place (a registry, an archive, an OCI layout)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from enum import StrEnum

from hood.core import oci
from hood.core.digest import Digest, InvalidDigest, chain_id, chain_ids
from hood.core.errors import HoodError
from hood.services.validate import check_layer
from hood.store.images import ImageRecord, ImageStore
from hood.store.layers import LayerRecord
from hood.store.layout import Layout


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

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "digest": self.value,
            "hashOf": self.hash_of,
            "where": self.where,
            "status": self.status.value,
            "recomputed": self.recomputed,
            "detail": self.detail,
        }


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
        return {
            "id": str(self.image_id),
            "names": self.names,
            "ok": not self.failed,
            "checks": [c.to_json() for c in self.checks],
            "layers": [
                {
                    "index": layer.index,
                    "mediaType": layer.media_type,
                    "blobSize": layer.blob_size,
                    "size": layer.size,
                    "checks": [c.to_json() for c in layer.checks],
                }
                for layer in self.layers
            ],
        }


# --- what an image in the store and in a place share -----------------------------------


def digest_check(name: str, digest: Digest, hash_of: str, where: str, data: bytes | None) -> Check:
    """A digest recomputed from the bytes it is the hash of (None: they are not there)."""
    if data is None:
        return Check(name, str(digest), hash_of, where, Status.MISSING)
    again = Digest.of_bytes(data)
    status = Status.OK if again == digest else Status.MISMATCH
    return Check(name, str(digest), hash_of, where, status, str(again))


@dataclass(frozen=True)
class ChainedLayer:
    """A layer's place in the chain its image's diff IDs make."""

    index: int
    diff_id: Digest
    chain: Digest
    parent: Digest | None  # the chain ID of the layer below (None: the first layer)


def chained_layers(diff_ids: list[Digest]) -> list[ChainedLayer]:
    chains = chain_ids(diff_ids)
    return [
        ChainedLayer(i, diff_id, chain, chains[i - 1] if i else None)
        for i, (diff_id, chain) in enumerate(zip(diff_ids, chains, strict=True))
    ]


def chain_id_check(
    chain: Digest, parent: Digest | None, diff_id: Digest, where: str, status: Status
) -> Check:
    """A chain ID, recomputed from the chain ID below it and the layer's diff ID."""
    formula = (
        "chain ID of the first layer = its diff ID"
        if parent is None
        else f'sha256("{parent} {diff_id}") — parent chain ID, a space, this diff ID'
    )
    return Check("chain ID", str(chain), formula, where, status, str(chain_id(parent, diff_id)))


# --- an image in the store -------------------------------------------------------------


def explain_image(store: ImageStore, record: ImageRecord, *, verify: bool = True) -> ImageReport:
    report = ImageReport(record.id, record.repo_tags + record.repo_digests)
    manifest_checks, manifest = _pulled_manifests(store, record.id)
    report.checks.extend(manifest_checks)
    report.checks.extend(_repo_digests_not_kept(record, report.checks))
    config_path = store.layout.imagedb_content(record.id)
    report.checks.append(
        digest_check(
            "image ID",
            record.id,
            "the image config JSON (the config blob, byte for byte)",
            str(config_path),
            _read(config_path),
        )
    )
    for layer in chained_layers(list(record.config.diff_ids)):
        i = layer.index
        desc = manifest.layers[i] if manifest and i < len(manifest.layers) else None
        report.layers.append(_stored_layer(store, layer, desc, verify))
    return report


def _pulled_manifests(
    store: ImageStore, image_id: Digest
) -> tuple[list[Check], oci.Manifest | None]:
    """What each pull of the image named (the index, the platform manifest in it), checked
    against the bytes kept as pulled; and the first of those manifests that parses."""
    checks: list[Check] = []
    manifest: oci.Manifest | None = None
    for source in store.sources(image_id):
        if source.index is not None:
            checks.append(
                _stored_manifest_check(
                    store.layout,
                    "index digest",
                    source.index,
                    f"the manifest list / index bytes as pulled from {source.repository}",
                )
            )
        checks.append(
            _stored_manifest_check(
                store.layout,
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
    return checks, manifest


def _stored_manifest_check(layout: Layout, name: str, digest: Digest, hash_of: str) -> Check:
    path = layout.manifest_blob(digest)
    return digest_check(name, digest, hash_of, str(path), _read(path))


def _repo_digests_not_kept(record: ImageRecord, checks: list[Check]) -> list[Check]:
    """The RepoDigests whose bytes this store does not hold (a dockerd root, a load)."""
    covered = {c.value for c in checks}
    out: list[Check] = []
    for name in record.repo_digests:
        repository, _, digest_text = name.rpartition("@")
        if digest_text in covered:
            continue
        covered.add(digest_text)
        out.append(
            Check(
                "manifest digest",
                digest_text,
                "the manifest (or index) bytes the registry served for " + repository,
                "not in this store (only the RepoDigests entry is)",
                Status.NOT_KEPT,
                None,
                "recorded at pull; the bytes were not kept, so it cannot be recomputed",
            )
        )
    return out


def _read(path: str | os.PathLike[str]) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def _stored_layer(
    store: ImageStore, layer: ChainedLayer, desc: oci.Descriptor | None, verify: bool
) -> LayerReport:
    """A stored layer's blob digest (as the manifest or the distribution metadata knows
    it), diff ID, chain ID and cache-id."""
    layout = store.layout
    stored = store.layers.get(layer.chain)
    out = LayerReport(
        layer.index,
        desc.media_type if desc else "",
        desc.size if desc else None,
        stored.size if stored else None,
    )
    if desc is not None:
        out.checks.append(_blob_check(layout, desc, layer.diff_id))
    else:
        out.checks.extend(_recorded_blob_checks(layout, layer.diff_id))
    diff_check = _stored_diff_id_check(store, layer, stored, verify)
    if diff_check is not None:
        out.checks.append(diff_check)
    out.checks.append(_stored_chain_id_check(layout, layer, stored))
    if stored is not None:
        out.checks.append(
            Check(
                "cache-id",
                stored.cache_id,
                "nothing: a random name for the layer's overlay2 directory",
                str(layout.layer_dir(stored.cache_id)),
                Status.NOT_A_DIGEST,
            )
        )
    return out


def _blob_check(layout: Layout, desc: oci.Descriptor, diff_id: Digest) -> Check:
    """The manifest's blob digest: not kept, but paired with the diff ID at pull."""
    mapped = layout.diffid_by_digest(desc.digest)
    detail = (
        "hood keeps the extracted files, not the compressed blob; checked at pull; "
        f"{mapped} pairs it with this diff ID"
    )
    status = Status.NOT_KEPT
    try:
        with open(mapped) as f:
            paired = Digest.parse(f.read().strip())
        if paired != diff_id:
            detail = f"{mapped} pairs it with another diff ID, {paired}"
            status = Status.MISMATCH
    except (OSError, InvalidDigest):
        detail = (
            "hood keeps the extracted files, not the compressed blob; checked at "
            f"pull; no blob-to-diff-ID record at {mapped}"
        )
    return Check(
        "blob digest",
        str(desc.digest),
        f"the compressed layer blob ({desc.media_type}, {desc.size} bytes)",
        "the registry (from the manifest's layers)",
        status,
        None,
        detail,
    )


def _recorded_blob_checks(layout: Layout, diff_id: Digest) -> list[Check]:
    """Without the pulled manifest, the blob digests dockerd's v2metadata-by-diffid holds
    for the diff ID."""
    known_from = layout.v2metadata_by_diffid(diff_id)
    return [
        Check(
            "blob digest",
            str(blob),
            "the compressed layer blob, as a registry served it",
            f"the registry ({source})" if source else "a registry",
            Status.NOT_KEPT,
            None,
            f"known from {known_from}; the blob was not kept",
        )
        for blob, source in _blob_digests_recorded(known_from)
    ]


def _blob_digests_recorded(v2metadata: str) -> list[tuple[Digest, str]]:
    """(blob digest, source repository) pairs of a v2metadata-by-diffid file."""
    try:
        with open(v2metadata, "rb") as f:
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


def _stored_diff_id_check(
    store: ImageStore, layer: ChainedLayer, stored: LayerRecord | None, verify: bool
) -> Check | None:
    """The diff ID, recomputed from the tar the layer's files rebuild (None: not verifying)."""
    where = (
        store.layers.tar_split_path(layer.chain) + " + " + (str(stored.diff_dir) if stored else "?")
    )
    if stored is None:
        return Check(
            "diff ID", str(layer.diff_id), "the uncompressed layer tar", where, Status.MISSING
        )
    if not verify:
        return None
    found = check_layer(store, layer.chain, limit=5)
    ok = found.rebuilt == layer.diff_id
    return Check(
        "diff ID",
        str(layer.diff_id),
        "the uncompressed layer tar, rebuilt now from tar-split and the layer's files",
        where,
        Status.OK if ok else Status.MISMATCH,
        str(found.rebuilt) if found.rebuilt else None,
        "" if ok else "; ".join(filter(None, (found.error, found.changed()))),
    )


def _stored_chain_id_check(
    layout: Layout, layer: ChainedLayer, stored: LayerRecord | None
) -> Check:
    """The chain ID, and whether layerdb has it for this very diff ID."""
    again = chain_id(layer.parent, layer.diff_id)
    status = Status.OK if again == layer.chain and stored is not None else Status.MISSING
    if stored is not None and stored.diff_id != layer.diff_id:
        status = Status.MISMATCH
    return chain_id_check(
        layer.chain, layer.parent, layer.diff_id, str(layout.layerdb(layer.chain)), status
    )
