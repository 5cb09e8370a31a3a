"""The conversions a copy may make, in one place: layer compression (gzip, zstd, none),
docker ↔ OCI media types, and new manifests.

What each changes (and why a copy keeps or changes a digest):
- recompressing a layer changes its blob digest, never its diff ID (that is the tar's);
- a manifest is new bytes, so a new manifest digest, whenever a blob digest or a media type
  in it changes; the config bytes are never rewritten here, so the image ID stays."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from hood.core import oci
from hood.core.errors import HoodError
from hood.core.jsonio import dumps

DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"

_LAYER_TYPES = {
    ("docker", "gzip"): oci.DOCKER_LAYER_GZIP,
    ("docker", "none"): DOCKER_LAYER,
    ("oci", "gzip"): oci.OCI_LAYER_GZIP,
    ("oci", "zstd"): oci.OCI_LAYER_ZSTD,
    ("oci", "none"): oci.OCI_LAYER,
}
_MANIFEST_TYPES = {"docker": oci.DOCKER_MANIFEST, "oci": oci.OCI_MANIFEST}
_CONFIG_TYPES = {"docker": oci.DOCKER_CONFIG, "oci": oci.OCI_CONFIG}
FORMATS = ("docker", "oci")
COMPRESSIONS = ("gzip", "zstd", "none")


def format_of(manifest_media_type: str) -> str:
    return "docker" if manifest_media_type in (oci.DOCKER_MANIFEST, oci.DOCKER_MANIFEST_LIST) else "oci"


def format_of_config(config_media_type: str) -> str:
    return "docker" if config_media_type == oci.DOCKER_CONFIG else "oci"


def compression_of(media_type: str) -> str:
    """gzip, zstd or none; HoodError for a layer type hood does not know."""
    compression = oci.COMPRESSION_BY_MEDIA_TYPE.get(media_type)
    if compression is None:
        raise HoodError(f"unsupported layer media type {media_type!r}")
    return compression


def layer_media_type(fmt: str, compression: str) -> str:
    try:
        return _LAYER_TYPES[(fmt, compression)]
    except KeyError:
        raise HoodError(
            f"a {fmt} manifest cannot hold {compression} layers (zstd needs --format oci)"
        ) from None


def config_media_type(fmt: str) -> str:
    return _CONFIG_TYPES[fmt]


def manifest_media_type(fmt: str) -> str:
    return _MANIFEST_TYPES[fmt]


def build_manifest(
    fmt: str, config: oci.Descriptor, layers: list[oci.Descriptor]
) -> tuple[bytes, str]:
    """A new image manifest naming `config` and `layers`: docker's schema 2 as `docker push`
    writes it (3-space indent), or an OCI manifest as docker save writes it (compact)."""
    media_type = manifest_media_type(fmt)
    if fmt == "docker":
        doc = {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": {"mediaType": config.media_type, "size": config.size, "digest": str(config.digest)},
            "layers": [
                {"mediaType": d.media_type, "size": d.size, "digest": str(d.digest)} for d in layers
            ],
        }
        return indent3(doc).encode(), media_type
    doc = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {"mediaType": config.media_type, "digest": str(config.digest), "size": config.size},
        "layers": [
            {"mediaType": d.media_type, "digest": str(d.digest), "size": d.size} for d in layers
        ],
    }
    return dumps(doc, separators=(",", ":")).encode(), media_type


def indent3(value: object, depth: int = 0) -> str:
    """Go's json.MarshalIndent(v, "", "   ") for the plain values of a manifest."""
    pad, inner = "   " * depth, "   " * (depth + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{dumps(k)}: {indent3(v, depth + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list):
        if not value:
            return "[]"
        return "[\n" + ",\n".join(inner + indent3(v, depth + 1) for v in value) + f"\n{pad}]"
    return dumps(value)


CHUNK = 1 << 20


def compressed(stream: BinaryIO, compression: str) -> Iterator[bytes]:
    """The uncompressed `stream`, compressed as it is read (isal's gzip, level 1 as docker's
    pigz-less default is not reproducible anyway; zstd at its default level)."""
    if compression == "none":
        while chunk := stream.read(CHUNK):
            yield chunk
        return
    if compression == "gzip":
        from isal import isal_zlib

        comp = isal_zlib.compressobj(1, isal_zlib.DEFLATED, 31)  # 31: gzip header, mtime 0
        while chunk := stream.read(CHUNK):
            out = comp.compress(chunk)
            if out:
                yield out
        yield comp.flush()
        return
    if compression == "zstd":
        import zstandard

        comp = zstandard.ZstdCompressor().compressobj()
        while chunk := stream.read(CHUNK):
            out = comp.compress(chunk)
            if out:
                yield out
        yield comp.flush()
        return
    raise HoodError(f"unknown compression {compression!r}: choose gzip, zstd or none")
