"""The hood store as a place. It keeps layers extracted, not as blobs: read, each layer is
its exact tar rebuilt from tar-split (digest = diff ID); written, a tar is extracted,
checked against its diff ID and registered, and the image is tagged last."""

from __future__ import annotations

import contextlib
import io
import os
import threading
from collections.abc import Callable
from typing import BinaryIO

from hood.core import oci
from hood.core.digest import Digest, chain_ids
from hood.core.errors import Cancelled, HoodError, StoreError
from hood.core.imageconfig import ImageConfig
from hood.core.oci import Descriptor
from hood.core.platform import Platform
from hood.places.convert import DOCKER_LAYER
from hood.places.model import (
    ImageDestination,
    ImageSource,
    KnownBlob,
    Layer,
    SourceImage,
    WrittenImage,
)
from hood.places.store_layers import PendingTar, extract_checked, extract_in_child
from hood.store.distribution import Distribution
from hood.store.images import ImageRecord, ImageStore
from hood.store.layers import LayerRecord


def tar_size(tar_split_path: str) -> int:
    """The size of the tar tar-split rebuilds: its raw segments and its files' contents."""
    from hood.layer.tarsplit import open_tar_split, tar_length

    with open_tar_split(tar_split_path) as meta:
        return tar_length(meta)


class _LayerTar(io.RawIOBase):
    """A stored layer's tar, rebuilt chunk by chunk as it is read."""

    def __init__(self, store: ImageStore, record: LayerRecord) -> None:
        from pathlib import Path

        from hood.layer.tarsplit import iter_tar, open_tar_split

        self._meta = open_tar_split(store.layers.tar_split_path(record.chain_id))
        self._chunks = iter_tar(self._meta, Path(record.diff_dir))  # type: ignore[arg-type]
        self._buf = memoryview(b"")

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        """Up to `n` bytes: tar-split yields many small pieces (headers, small files);
        they are joined here so that whoever reads hashes and writes in large blocks."""
        if n is None or n < 0:
            return b"".join([bytes(self._buf), *map(bytes, self._chunks)])
        parts: list[bytes | memoryview] = []
        have = 0
        while have < n:
            if not self._buf:
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                self._buf = memoryview(chunk)
            take = self._buf[: n - have]
            self._buf = self._buf[len(take) :]
            parts.append(take)
            have += len(take)
        if len(parts) == 1:
            return bytes(parts[0])
        return b"".join(parts)

    def readinto(self, buf) -> int:  # type: ignore[no-untyped-def, override]
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._meta.close()
        super().close()


class StoreSource(ImageSource):
    """An image of the store, by reference, ID or ID prefix."""

    def __init__(self, store: ImageStore, name: str, prefer: str = "") -> None:
        self.store = store
        self.name = name
        self.prefer = prefer  # a repository (host/path) whose kept manifest comes first
        self.description = f"hood:{name}"
        self._records: dict[Digest, LayerRecord] = {}

    def images(
        self, *, platform: Platform | None = None, all_platforms: bool = False
    ) -> list[SourceImage]:
        record = self.store.resolve(self.name)
        return [self.image_of(record)]

    def image_of(self, record: ImageRecord) -> SourceImage:
        stored = self.store.layers_of(record.config)
        layers = []
        for layer in stored:
            self._records[layer.chain_id] = layer
            size = tar_size(self.store.layers.tar_split_path(layer.chain_id))
            layers.append(Layer(Descriptor(DOCKER_LAYER, layer.diff_id, size), layer.diff_id))
        manifest = None
        sources = sorted(self.store.sources(record.id), key=lambda s: s.repository != self.prefer)
        for source in sources:
            raw = self.store.load_manifest(source.manifest)
            if raw is not None:
                with contextlib.suppress(HoodError):
                    doc = oci.parse_document(raw, source.media_type)
                    if isinstance(doc, oci.Manifest):
                        manifest = doc
                        break
        fmt_type = manifest.config.media_type if manifest else oci.DOCKER_CONFIG
        return SourceImage(
            record.config,
            fmt_type,
            layers,
            manifest,
            names=list(record.repo_tags),
            platform=record.config.platform,
        )

    def _record(self, image: SourceImage, layer: Layer) -> LayerRecord:
        chains = chain_ids(list(image.config.diff_ids))
        for chain, diff_id in zip(chains, image.config.diff_ids, strict=True):
            if diff_id == layer.diff_id:
                record = self._records.get(chain) or self.store.layers.get(chain)
                if record is not None:
                    return record
        raise StoreError(f"layer {layer.diff_id} is not in the store")

    def open_blob(self, image: SourceImage, desc: Descriptor) -> BinaryIO:
        if desc.digest == image.config.id:
            import io

            return io.BytesIO(image.config.raw)
        for layer in image.layers:
            if layer.blob.digest == desc.digest:
                return self.open_tar(image, layer)
        raise StoreError(f"the store has no blob {desc.digest} (only layers and configs)")

    def open_tar(self, image: SourceImage, layer: Layer) -> BinaryIO:
        return _LayerTar(self.store, self._record(image, layer))  # type: ignore[return-value]

    def known_blobs(self, image: SourceImage, index: int) -> list[KnownBlob]:
        """The compressed blob each repository the image was pulled from served for this
        layer (from the kept manifests), then docker's distribution metadata."""
        out: list[KnownBlob] = []
        diff_id = image.layers[index].diff_id
        for source in self.store.sources(image.id):
            raw = self.store.load_manifest(source.manifest)
            if raw is None:
                continue
            with contextlib.suppress(HoodError):
                doc = oci.parse_document(raw, source.media_type)
                if isinstance(doc, oci.Manifest) and index < len(doc.layers):
                    d = doc.layers[index]
                    out.append(KnownBlob(d.digest, source.repository, d.media_type, d.size))
        for blob in Distribution(self.store.layout).sources(diff_id):
            if all(k.digest != blob.digest or k.repository != blob.repository for k in out):
                out.append(KnownBlob(blob.digest, blob.repository))
        return out


class StoreDestination(ImageDestination):
    """Writing into the store: layers extracted one by one in chain order (those it has
    are never read), then the config, then the names, each step under the store lock."""

    wants_tar = True
    # Extraction is CPU-bound: one layer per core (a child process each when the source
    # reads local files, else a thread), at most two (measured with bench/transfer on 2
    # cores).
    concurrency = max(1, min(2, os.cpu_count() or 1))
    default_format = "docker"
    keeps_manifests = False

    def __init__(self, store: ImageStore) -> None:
        self.store = store
        self.description = "hood store"
        self._chains: dict[int, list[Digest]] = {}
        self._registered: list[Digest] = []  # layers this copy added, lowest first
        self._aborted = False

    def _chains_of(self, image: SourceImage) -> list[Digest]:
        key = id(image)
        if key not in self._chains:
            self._chains[key] = chain_ids([layer.diff_id for layer in image.layers])
        return self._chains[key]

    def layer_present(self, image: SourceImage, index: int) -> bool:
        return self.store.layers.exists(self._chains_of(image)[index])

    def blob_size(self, digest: Digest) -> int | None:
        return None

    def write_config(self, config: ImageConfig, desc: Descriptor) -> None:
        """The config goes into imagedb with the image, after its layers (put_image)."""

    def write_layer_tar(
        self,
        image: SourceImage,
        index: int,
        stream: BinaryIO,
        size: int | None,
        turn: Callable[[], None] | None = None,
    ) -> Descriptor:
        """Extract layer `index` of `image`, check its diff ID, and register it once its
        parent is (`turn`: layers extract side by side, one per core, and register in
        chain order)."""
        return self._write(image, index, turn, lambda p: extract_checked(stream, p))

    def write_layer_opened(
        self,
        image: SourceImage,
        index: int,
        opener: Callable[[], BinaryIO],
        size: int | None,
        turn: Callable[[], None],
        cancel: threading.Event,
    ) -> Descriptor:
        """As write_layer_tar, the tar opened and extracted in a child process of its own
        (see store_layers)."""
        return self._write(image, index, turn, lambda p: extract_in_child(opener, p, cancel))

    def _write(
        self,
        image: SourceImage,
        index: int,
        turn: Callable[[], None] | None,
        extract: Callable[[PendingTar], tuple[int, int]],
    ) -> Descriptor:
        """A new pending layer, `extract`ed into (its size and tar length back), registered
        in its turn; abandoned if anything fails."""
        chains = self._chains_of(image)
        layer = image.layers[index]
        parent = chains[index - 1] if index else None
        pending = self.store.layers.begin()
        try:
            layer_size, count = extract(PendingTar(pending, layer.diff_id, index))
            if turn is not None:
                turn()
            with self.store.locked():
                if self._aborted:
                    raise Cancelled("copy cancelled")
                self.store.layers.register(pending, layer.diff_id, parent, layer_size)
                self._registered.append(chains[index])
        except BaseException:
            self.store.layers.abandon(pending)
            raise
        return Descriptor(DOCKER_LAYER, layer.diff_id, count)

    def abort(self) -> None:
        """Nothing half-loaded stays: the layers this copy registered that no image uses
        (a later layer or image failed) are removed again, topmost first."""
        with self.store.locked():
            # A layer still extracting beside the one that failed registers nothing now.
            self._aborted = True
            if not self._registered:
                return
            used: set[Digest] = set(self.store.layers.leased())
            for image_id in self.store.image_ids():
                with contextlib.suppress(HoodError):
                    used.update(chain_ids(list(self.store.load_config(image_id).diff_ids)))
            for chain in reversed(self._registered):
                if chain in used:
                    continue
                with contextlib.suppress(OSError):
                    self.store.layers.remove(chain)
        self._registered.clear()

    def put_image(self, image: WrittenImage) -> None:
        from hood.core import reference

        with self.store.locked():
            missing = [c for c in chain_ids(list(image.config.diff_ids)) if not self.store.layers.exists(c)]
            if missing:
                raise StoreError(f"layer {missing[0]} went missing from the store; run again")
            self.store.put_config(image.config)
            adds = [(reference.parse(n).familiar(), image.config.id) for n in image.names]
            if adds:
                self.store.update_references(add=adds)
                self.store.set_last_tag_time(image.config.id)
