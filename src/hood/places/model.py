"""One image model for every place an image can be: a registry repository, the hood store,
a docker-archive tar, an OCI layout directory, an oci-archive tar.

A place read as a source gives `SourceImage`s: the config bytes, each layer as the place
holds it (a descriptor: media type, digest, size; and its diff ID), and the manifest bytes
when the place keeps them (so a copy that changes nothing can keep the manifest digest).
A place written as a destination takes blobs with the digest and size they must have
(checked before anything becomes visible), and then the image: config, manifest, names.

The copy between any two (services.copy) knows nothing of a place's insides; a new place
only implements these two classes."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from hood.core.digest import Digest
from hood.core.imageconfig import ImageConfig
from hood.core.oci import Descriptor, Index, Manifest
from hood.core.platform import Platform


@dataclass(frozen=True)
class KnownBlob:
    """A compressed blob of a layer that a registry repository (`host/path`) is known to
    hold: what pulled it there, or docker's distribution metadata. Size and media type
    are known when a manifest named it."""

    digest: Digest
    repository: str
    media_type: str = ""
    size: int | None = None


@dataclass(frozen=True)
class Layer:
    """A layer as a place holds it: the blob (compressed or not) and the tar's digest."""

    blob: Descriptor
    diff_id: Digest


@dataclass
class SourceImage:
    """One image read from a place."""

    config: ImageConfig
    config_media_type: str
    layers: list[Layer]
    manifest: Manifest | None = None  # the manifest as the place keeps it, bytes and all
    names: list[str] = field(default_factory=list)  # references it is known by there
    platform: Platform | None = None  # from the index entry that led to it

    @property
    def id(self) -> Digest:
        return self.config.id


@dataclass
class WrittenImage:
    """What a copy hands a destination once every blob is in: the image's config, its
    layers as written there, and the manifest (bytes and media type) that names them."""

    config: ImageConfig
    config_descriptor: Descriptor
    layers: list[Layer]
    manifest_raw: bytes
    manifest_media_type: str
    names: list[str]
    platform: Platform | None = None
    # One platform of an index being copied (--all): put by digest, named by the index.
    child: bool = False

    @property
    def manifest_digest(self) -> Digest:
        return Digest.of_bytes(self.manifest_raw)


class ImageSource:
    """A place read from. `images()` resolves what the reference names (one image, or with
    `all_platforms` every image of an index)."""

    description = "source"
    # Its tars read local files only (an archive, a layout): one can be read in a forked
    # child, which has none of this process's other threads.
    local = False

    def images(self, *, platform: Platform | None = None, all_platforms: bool = False) -> list[SourceImage]:
        raise NotImplementedError

    def index(self) -> Index | None:
        """The index the reference named, as the place keeps it (None: it named an image)."""
        return None

    def index_names(self) -> list[str]:
        """The names the index is known by there (what an --all copy names it)."""
        return []

    def open_blob(self, image: SourceImage, desc: Descriptor) -> BinaryIO:
        """The blob's exact bytes (a layer as the place holds it, or the config)."""
        raise NotImplementedError

    def open_tar(self, image: SourceImage, layer: Layer) -> BinaryIO:
        """The layer's uncompressed tar; by default the blob, decompressed."""
        from hood.core.oci import COMPRESSION_BY_MEDIA_TYPE
        from hood.layer.codecs import open_decompressed

        compression = COMPRESSION_BY_MEDIA_TYPE.get(layer.blob.media_type)
        blob = self.open_blob(image, layer.blob)
        if compression in (None, "none"):
            return blob
        return _Closing(open_decompressed(blob, compression), blob)

    def known_blobs(self, image: SourceImage, index: int) -> list[KnownBlob]:
        """Compressed blobs of this layer known to be in registries (the store's
        distribution metadata): a push can skip or mount them instead of uploading."""
        return []

    def close(self) -> None:
        pass

    def __enter__(self) -> ImageSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ImageDestination:
    """A place written to. Nothing written is visible there before `commit()`, where the
    place allows it (a file is renamed into place, the store registers last)."""

    description = "destination"
    # Layers go in as uncompressed tars (archives, the store) rather than as blobs.
    wants_tar = False
    # An uncompressed layer is compressed on its way in (registries), unless told otherwise.
    prefers_compressed = False
    # Manifest format when one must be made: "docker" (schema 2) or "oci".
    default_format = "oci"
    # Whether put_index is possible (registries, OCI layouts; not the store or docker's
    # archive format, which name single images).
    holds_indexes = False
    # Layers written at once (threads); 1 for places that take them in order.
    concurrency = 1
    # Whether the place keeps the manifest it is given (the store keeps only the config).
    keeps_manifests = True

    def prepare(self) -> None:
        """Get ready in the background (connect, authenticate) while the source is read;
        a failure here is left for the first real request to report."""

    def blob_size(self, digest: Digest) -> int | None:
        """The size of the blob if the place has it already, else None."""
        return None

    def mount_blob(self, digest: Digest, repository: str) -> bool:
        """Take the blob from another repository (`host/path`) of the same registry."""
        return False

    def write_blob(
        self, stream: BinaryIO, desc: Descriptor, reopen: Callable[[], BinaryIO] | None = None
    ) -> Descriptor:
        """Write a blob that must hash to `desc.digest` and be `desc.size` bytes (a size
        below 0: not known). `reopen` gives the same bytes again from the start, for a place
        that must start over (a registry that lost an upload)."""
        raise NotImplementedError

    def write_new_blob(
        self,
        chunks: Iterator[bytes],
        media_type: str,
        reopen: Callable[[], Iterator[bytes]] | None = None,
    ) -> Descriptor:
        """Write a blob made on the way (a layer compressed now): its digest and size are
        known at the end. `reopen` makes the same bytes again."""
        raise NotImplementedError

    def write_layer_tar(
        self,
        image: SourceImage,
        index: int,
        stream: BinaryIO,
        size: int | None,
        turn: Callable[[], None] | None = None,
    ) -> Descriptor:
        """For `wants_tar` places: layer `index`'s tar (`size` bytes, None: not known),
        which must hash to its diff ID. Layers come lowest first; for a place whose
        `concurrency` is above 1 they may come several at once, each with a `turn` to
        call once its tar is in and before it makes the layer visible: it returns when
        every layer below is (or raises when the copy was cancelled)."""
        raise NotImplementedError

    def write_layer_opened(
        self,
        image: SourceImage,
        index: int,
        opener: Callable[[], BinaryIO],
        size: int | None,
        turn: Callable[[], None],
        cancel: threading.Event,
    ) -> Descriptor:
        """write_layer_tar of the tar `opener()` opens, which reads local files only (a
        `local` source's): a place may open and read it in a forked child of its own,
        stopped once `cancel` is set."""
        with opener() as stream:
            return self.write_layer_tar(image, index, stream, size, turn)

    def write_config(self, config: ImageConfig, desc: Descriptor) -> None:
        """The config blob, byte for byte (places that keep it elsewhere override this)."""
        if self.blob_size(desc.digest) is None:
            self.write_blob(io.BytesIO(config.raw), desc)

    def layer_present(self, image: SourceImage, index: int) -> bool:
        """The layer (with the ones below it) is there already: nothing to read."""
        return False

    def put_image(self, image: WrittenImage) -> None:
        raise NotImplementedError

    def put_index(self, raw: bytes, media_type: str, names: list[str]) -> None:
        """An index over images put before (`child`), named `names` (places that
        `holds_indexes`)."""
        from hood.core.errors import HoodError

        raise HoodError(
            f"{self.description} holds single images, not an index: copy one platform "
            "(without --all)"
        )

    def commit(self) -> None:
        pass

    def abort(self) -> None:
        pass


class _Closing(io.RawIOBase):
    """A stream that also closes what it reads from."""

    def __init__(self, inner: BinaryIO, under: BinaryIO) -> None:
        self.inner = inner
        self.under = under

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        return self.inner.read(n)

    def readinto(self, buf) -> int:  # type: ignore[no-untyped-def, override]
        data = self.inner.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            self.inner.close()
        finally:
            self.under.close()
            super().close()
