"""Typed manifests, indexes, descriptors and image configs. The raw bytes are always kept:
digests are over bytes, never over re-serialised JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hood.core.digest import Digest, InvalidDigest
from hood.core.errors import ManifestError, PlatformError
from hood.core.jsonio import load_object
from hood.core.platform import Platform
from hood.core.textsafe import quote_untrusted

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_NONDIST = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_LAYER_NONDIST_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"

MANIFEST_TYPES = (DOCKER_MANIFEST, OCI_MANIFEST)
INDEX_TYPES = (DOCKER_MANIFEST_LIST, OCI_INDEX)
ACCEPT = ", ".join([*MANIFEST_TYPES, *INDEX_TYPES])

# Limits against hostile documents (bytes).
MAX_MANIFEST_SIZE = 4 * 1024 * 1024

COMPRESSION_BY_MEDIA_TYPE = {
    DOCKER_LAYER_GZIP: "gzip",
    DOCKER_LAYER_FOREIGN: "gzip",
    OCI_LAYER_GZIP: "gzip",
    OCI_LAYER_NONDIST_GZIP: "gzip",
    OCI_LAYER_ZSTD: "zstd",
    OCI_LAYER_NONDIST_ZSTD: "zstd",
    OCI_LAYER: "none",
    OCI_LAYER_NONDIST: "none",
    "application/vnd.docker.image.rootfs.diff.tar": "none",
}


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: Digest
    size: int
    urls: tuple[str, ...] = ()
    platform: Platform | None = None
    annotations: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def from_json(cls, obj: Any, what: str) -> Descriptor:
        if not isinstance(obj, dict):
            raise ManifestError(f"{what}: descriptor is not an object")
        try:
            digest = Digest.parse(str(obj.get("digest", "")))
        except InvalidDigest as exc:
            raise ManifestError(f"{what}: {exc}") from None
        size = obj.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ManifestError(f"{what}: descriptor {digest} has no valid size")
        media_type = obj.get("mediaType", "")
        if not isinstance(media_type, str):
            raise ManifestError(f"{what}: descriptor {digest} has a bad mediaType")
        plat = None
        p = obj.get("platform")
        if isinstance(p, dict):
            plat = Platform(
                str(p.get("os", "")),
                str(p.get("architecture", "")),
                str(p.get("variant", "") or ""),
                str(p.get("os.version", "") or ""),
            )
        urls = obj.get("urls") or ()
        annotations = obj.get("annotations") or {}
        return cls(
            media_type,
            digest,
            size,
            tuple(str(u) for u in urls) if isinstance(urls, list) else (),
            plat,
            dict(annotations) if isinstance(annotations, dict) else {},
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": str(self.digest),
            "size": self.size,
        }
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.platform:
            plat: dict[str, Any] = {
                "architecture": self.platform.architecture,
                "os": self.platform.os,
            }
            if self.platform.os_version:
                plat["os.version"] = self.platform.os_version
            if self.platform.variant:
                plat["variant"] = self.platform.variant
            out["platform"] = plat
        return out


@dataclass(frozen=True)
class Manifest:
    """A single-platform image manifest (Docker schema 2 or OCI)."""

    raw: bytes
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]

    @property
    def digest(self) -> Digest:
        return Digest.of_bytes(self.raw)


@dataclass(frozen=True)
class Index:
    """A manifest list or OCI index."""

    raw: bytes
    media_type: str
    manifests: tuple[Descriptor, ...]

    @property
    def digest(self) -> Digest:
        return Digest.of_bytes(self.raw)

    def platforms(self) -> list[Platform]:
        return [d.platform for d in self.manifests if d.platform is not None]

    def select(self, want: Platform) -> Descriptor:
        """The first manifest matching `want`; an exact variant match wins over a bare one."""
        candidates = [
            d
            for d in self.manifests
            if d.platform is not None
            and d.media_type not in INDEX_TYPES
            and want.matches(d.platform)
            and d.annotations.get("vnd.docker.reference.type") != "attestation-manifest"
        ]
        if not candidates:
            available = (
                ", ".join(sorted({quote_untrusted(str(p), 80) for p in self.platforms()})) or "none"
            )
            raise PlatformError(
                f"no matching manifest for {want} in the manifest list entries "
                f"(available: {available})"
            )
        if not want.variant:
            # Prefer the host's default variant (arm → v7), then the first.
            for d in candidates:
                assert d.platform is not None
                if d.platform.normalized().variant == want.normalized().variant:
                    return d
        return candidates[0]


def parse_document(raw: bytes, content_type: str = "", what: str = "manifest") -> Manifest | Index:
    """Parse a manifest or index, deciding its kind from the document, not the header alone."""
    if len(raw) > MAX_MANIFEST_SIZE:
        raise ManifestError(f"{what}: larger than {MAX_MANIFEST_SIZE} bytes")
    doc = load_object(raw, what, ManifestError)
    media_type = doc.get("mediaType") or ""
    if not isinstance(media_type, str):
        raise ManifestError(f"{what}: bad mediaType")
    content_type = content_type.split(";")[0].strip()
    schema = doc.get("schemaVersion")
    if (
        schema == 1
        or media_type in (DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED)
        or content_type
        in (
            DOCKER_SCHEMA1,
            DOCKER_SCHEMA1_SIGNED,
        )
    ):
        raise ManifestError(
            f"{what}: Docker Image manifest schema 1 is not supported "
            "(deprecated since 2017); push the image again with a current client"
        )
    if schema != 2:
        raise ManifestError(f"{what}: unsupported schemaVersion {quote_untrusted(str(schema), 40)}")
    has_layers = "layers" in doc or "config" in doc
    has_manifests = "manifests" in doc
    if has_layers and has_manifests:
        raise ManifestError(f"{what}: document has both layers and manifests")
    if (
        media_type
        and content_type
        and content_type != media_type
        and content_type
        not in (
            "application/json",
            "application/octet-stream",
            "text/plain",
        )
    ):
        raise ManifestError(
            f"{what}: Content-Type {quote_untrusted(content_type, 200)} disagrees with "
            f"mediaType {quote_untrusted(media_type, 200)}"
        )
    kind = media_type or content_type
    if has_manifests:
        if kind and kind not in INDEX_TYPES:
            raise ManifestError(
                f"{what}: mediaType {quote_untrusted(kind, 200)} but the document is an index"
            )
        items = doc.get("manifests")
        if not isinstance(items, list):
            raise ManifestError(f"{what}: manifests is not a list")
        return Index(
            raw,
            kind or OCI_INDEX,
            tuple(Descriptor.from_json(m, what) for m in items),
        )
    if kind and kind not in MANIFEST_TYPES:
        raise ManifestError(f"{what}: unsupported media type {quote_untrusted(kind, 200)}")
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise ManifestError(f"{what}: layers is not a list")
    config = Descriptor.from_json(doc.get("config"), what + " config")
    if config.digest.algorithm != "sha256":
        # The config's digest is the image ID, which docker keys by sha256 alone.
        raise ManifestError(
            f"{what}: config digest {config.digest} is not sha256; "
            "image IDs are sha256 only (as in docker)"
        )
    return Manifest(
        raw,
        kind or OCI_MANIFEST,
        config,
        tuple(Descriptor.from_json(layer, what + " layer") for layer in layers),
    )
