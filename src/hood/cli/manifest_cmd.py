"""`manifest inspect`: a registry's manifest or index as `docker manifest inspect` prints it.

Nothing is pulled or stored. docker's CLI prints a single manifest's own bytes re-indented
with tabs; for an index it rebuilds a manifest list (distribution's struct, three-space
indent) from the descriptors; `--verbose` prints its ImageManifest objects (Ref, Descriptor
with platform, Raw as base64, the manifest decoded as SchemaV2Manifest or OCIManifest)."""

from __future__ import annotations

import base64
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hood.cli.flags import Args

from hood.cli.common import registry_client
from hood.cli.flags import Command, Flag
from hood.core.jsonio import go_indent, go_json

_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


def _inspect() -> Command:
    return Command(
        "[OPTIONS] NAME[:TAG|@DIGEST]",
        "Display an image manifest, or manifest list",
        [
            Flag("insecure", help="Allow communication with an insecure registry"),
            Flag("verbose", "v", help="Output additional info including layers and platform"),
        ],
        ("reference",),
        cmd_manifest_inspect,
        long="Display an image manifest, or manifest list, as the registry has it; nothing\n"
        "is pulled or stored.",
    )


COMMANDS = {"manifest inspect": _inspect}


def go_marshal_indent(value: Any, indent: str) -> str:
    """json.MarshalIndent: insertion order kept, HTML characters escaped as Go does."""
    return go_json(value, indent=indent, html=True)


# --- the structs docker's CLI marshals ---------------------------------------------------


def _omit_empty(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if v not in (None, "", 0, [], {})}


def _platform(obj: Any, *, features: bool = False) -> dict[str, Any] | None:
    if not isinstance(obj, dict):
        return None
    out = {"architecture": obj.get("architecture", ""), "os": obj.get("os", "")}
    out.update(
        _omit_empty(
            {
                "os.version": obj.get("os.version"),
                "os.features": obj.get("os.features"),
                "variant": obj.get("variant"),
            }
        )
    )
    if features and obj.get("features"):
        out["features"] = obj["features"]
    return out


def _distribution_descriptor(obj: Any) -> dict[str, Any]:
    """distribution.Descriptor: mediaType, size, digest, urls, annotations, platform."""
    obj = obj if isinstance(obj, dict) else {}
    return _omit_empty(
        {
            "mediaType": obj.get("mediaType"),
            "size": obj.get("size"),
            "digest": obj.get("digest"),
            "urls": obj.get("urls"),
            "annotations": obj.get("annotations"),
            "platform": _platform(obj.get("platform")),
        }
    )


def _oci_descriptor(media_type: str, digest: str, size: int, platform: Any) -> dict[str, Any]:
    """ocispec.Descriptor: mediaType, digest, size, ..., platform."""
    out: dict[str, Any] = {"mediaType": media_type, "digest": digest, "size": size}
    plat = _platform(platform)
    if plat is not None:
        out["platform"] = plat
    return out


def _decoded_manifest(doc: dict[str, Any], oci: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"schemaVersion": doc.get("schemaVersion", 0)}
    if doc.get("mediaType") or not oci:
        out["mediaType"] = doc.get("mediaType", "")
    out["config"] = _distribution_descriptor(doc.get("config"))
    out["layers"] = [_distribution_descriptor(d) for d in doc.get("layers") or []] or None
    if oci and doc.get("annotations"):
        out["annotations"] = doc["annotations"]
    return out


def _image_manifest(
    ref: str, media_type: str, digest: str, raw: bytes, platform: Any
) -> dict[str, Any]:
    doc = _loads(raw, f"manifest {ref}")
    out: dict[str, Any] = {
        "Ref": ref,
        "Descriptor": _oci_descriptor(media_type, digest, len(raw), platform),
        "Raw": base64.b64encode(raw).decode(),
    }
    if media_type == _OCI_MANIFEST:
        out["OCIManifest"] = _decoded_manifest(doc, oci=True)
    else:
        out["SchemaV2Manifest"] = _decoded_manifest(doc, oci=False)
    return out


def _loads(raw: bytes, what: str) -> Any:
    """A document from the registry: bounded in size and depth, valid JSON, an object."""
    from hood.core.imageconfig import MAX_CONFIG_SIZE
    from hood.core.jsonlimits import loads_bounded

    doc = loads_bounded(raw, what=what, max_size=MAX_CONFIG_SIZE)
    if not isinstance(doc, dict):
        raise ValueError(f"{what} is not a JSON object")
    return doc


def _manifest_list(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """distribution's manifestlist.FromDescriptors: an OCI index as soon as one entry is an
    OCI manifest, a docker manifest list otherwise."""
    media = _DOCKER_LIST
    if any(e.get("mediaType") == _OCI_MANIFEST for e in entries):
        media = _OCI_INDEX
    manifests = []
    for e in entries:
        desc = _omit_empty(
            {
                "mediaType": e.get("mediaType"),
                "size": e.get("size"),
                "digest": e.get("digest"),
                "urls": e.get("urls"),
                "annotations": e.get("annotations"),
            }
        )
        desc["platform"] = _platform(e.get("platform") or {}, features=True)
        manifests.append(desc)
    return {"schemaVersion": 2, "mediaType": media, "manifests": manifests}


# --- the command -------------------------------------------------------------------------


def cmd_manifest_inspect(args: Args) -> int:
    from hood.cli.output import write
    from hood.core import reference
    from hood.core.digest import Digest
    from hood.core.errors import HoodError, NotFound

    ref = reference.parse(args.reference)
    if args.insecure:
        args.insecure_registry = [*args.insecure_registry, ref.registry_host]
    tagged = reference.parse(args.reference)  # docker keeps the tag it was given (or latest)
    try:
        with registry_client(args, ref.registry_host) as client:
            fetched = client.get_manifest(ref.path, ref.digest or ref.tag or "latest")
            # validated first: go_indent below prints the bytes themselves
            doc = _loads(fetched.raw, f"manifest {tagged}")
            media = doc.get("mediaType") or fetched.content_type.split(";")[0].strip()
            if "manifests" in doc and media in (_OCI_INDEX, _DOCKER_LIST, ""):
                entries = [e for e in doc.get("manifests") or [] if isinstance(e, dict)]
                if not args.verbose:
                    write(go_marshal_indent(_manifest_list(entries), "   ") + "\n")
                    return 0
                items = []
                for e in entries:
                    digest = Digest.parse(e["digest"])
                    child = client.get_manifest(ref.path, digest)
                    items.append(
                        _image_manifest(
                            f"{tagged}@{digest}",
                            e.get("mediaType", ""),
                            str(digest),
                            child.raw,
                            e.get("platform"),
                        )
                    )
                write(go_marshal_indent(items, "\t") + "\n")
                return 0
            if not args.verbose:
                write(go_indent(fetched.raw, "\t") + "\n")
                return 0
            config = doc.get("config") or {}
            platform = None
            if config.get("digest"):
                with client.fetch_blob_bytes(
                    ref.path, Digest.parse(config["digest"]), int(config.get("size", 0))
                ) as blob:
                    platform = _loads(blob, f"image config {config['digest']}")
            item = _image_manifest(str(tagged), media, str(fetched.digest), fetched.raw, platform)
            write(go_marshal_indent(item, "\t") + "\n")
            return 0
    except NotFound:
        if args.debug:
            raise
        print(f"no such manifest: {tagged}", file=sys.stderr)
        return 1
    except (ValueError, KeyError) as exc:
        raise HoodError(f"{tagged}: the registry sent a manifest hood cannot read: {exc}") from None
