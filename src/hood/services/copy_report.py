"""What a copy did, image by image and layer by layer: each digest kept or made anew, and
why (what `hood copy`, `push --json` and `digests` after a copy report)."""

from __future__ import annotations

from dataclasses import dataclass, field

from hood.core import oci
from hood.core.digest import Digest
from hood.core.oci import Descriptor
from hood.core.platform import Platform


@dataclass(frozen=True)
class LayerCopy:
    diff_id: Digest
    source: Descriptor  # the blob as the source holds it
    written: Descriptor  # the blob as the destination holds it now
    how: str  # present | existed | copied | mounted | compressed | decompressed | extracted
    mounted_from: str = ""  # the repository (host/path) a mounted blob came from

    @property
    def kept(self) -> bool:
        return self.written.digest == self.source.digest

    @property
    def why(self) -> str:
        """Why the blob digest is what it is, in a sentence."""
        if self.how == "present":
            return "the destination has this layer already (by its chain of diff IDs)"
        if self.how == "existed" and self.kept:
            return "the destination has this blob already (HEAD)"
        if self.how == "existed":
            return (
                "a compressed form of this layer recorded at an earlier pull or push was "
                "found in the destination (HEAD): its digest is reused, not recomputed"
            )
        if self.how == "mounted":
            return f"mounted from {self.mounted_from} (same registry): the blob is not sent"
        if self.how == "copied":
            return "sent byte for byte: the digest is kept"
        if self.how == "compressed":
            what = oci.COMPRESSION_BY_MEDIA_TYPE.get(self.written.media_type, "?")
            if oci.COMPRESSION_BY_MEDIA_TYPE.get(self.source.media_type) == "none":
                return (
                    f"the source holds the uncompressed tar (digest = diff ID); compressed now "
                    f"with {what}: a new blob digest, the diff ID stays"
                )
            return f"recompressed with {what}: a new blob digest, the diff ID stays"
        if self.how in ("decompressed", "extracted"):
            return "stored as the uncompressed tar: its digest is the diff ID"
        return self.how


@dataclass
class ImageCopy:
    image_id: Digest
    names: list[str]
    layers: list[LayerCopy] = field(default_factory=list)
    manifest: Digest | None = None  # as written (None for the store, which keeps none)
    manifest_kept: bool = False  # the source's manifest bytes, digest and all
    manifest_size: int = 0
    manifest_media_type: str = ""
    source_manifest: Digest | None = None
    why_new: str = ""  # what made a new manifest necessary
    platform: Platform | None = None
    config: Descriptor | None = None
    manifest_raw: bytes = field(default=b"", repr=False)

    def to_json(self) -> dict[str, object]:
        return {
            "id": str(self.image_id),
            "names": self.names,
            "platform": str(self.platform) if self.platform else None,
            "config": {
                "digest": str(self.image_id),
                "mediaType": self.config.media_type if self.config else "",
                "kept": True,
                "why": "the config is copied byte for byte: the image ID never changes",
            },
            "manifest": {
                "digest": str(self.manifest) if self.manifest else None,
                "size": self.manifest_size,
                "mediaType": self.manifest_media_type,
                "source": str(self.source_manifest) if self.source_manifest else None,
                "kept": self.manifest_kept,
                "why": "the source's manifest bytes, unchanged" if self.manifest_kept else self.why_new,
            },
            "layers": [
                {
                    "diffID": str(layer.diff_id),
                    "source": {
                        "digest": str(layer.source.digest),
                        "mediaType": layer.source.media_type,
                        "size": layer.source.size,
                    },
                    "written": {
                        "digest": str(layer.written.digest),
                        "mediaType": layer.written.media_type,
                        "size": layer.written.size,
                    },
                    "how": layer.how,
                    "kept": layer.kept,
                    "why": layer.why,
                }
                for layer in self.layers
            ],
        }


@dataclass
class IndexCopy:
    digest: Digest
    size: int
    media_type: str
    source: Digest
    kept: bool
    why_new: str = ""
    names: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "digest": str(self.digest),
            "size": self.size,
            "mediaType": self.media_type,
            "source": str(self.source),
            "kept": self.kept,
            "why": "the source's index bytes, unchanged" if self.kept else self.why_new,
            "names": self.names,
        }


@dataclass
class Copied:
    images: list[ImageCopy]
    index: IndexCopy | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "index": self.index.to_json() if self.index else None,
            "images": [image.to_json() for image in self.images],
        }
