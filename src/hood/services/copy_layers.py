"""How one layer of a copy reaches its destination, cheapest way first: the destination
has it (or the layers below it, for the store) → nothing to send; a destination that
takes tars (the store) gets the layer's tar; the source's blob can go as it is (no
conversion asked for) → HEAD, mounted from the source's repository when both are one
registry, else sent byte for byte, its digest kept; a compressed form of it is known in
the destination's registry (pulled from there, or from another repository there:
mounted) → reused; else it is (re)compressed on the way. A blob met twice in one copy
(one image, or several platforms) is sent once. Layers may be sent from several threads
at once; progress goes to one event sink, and a cancel stops each."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import BinaryIO

from hood.core import oci
from hood.core.digest import Digest
from hood.core.errors import Cancelled, HoodError
from hood.core.oci import Descriptor
from hood.places import convert
from hood.places.model import ImageDestination, ImageSource, KnownBlob, Layer, SourceImage
from hood.services.copy_manifests import OPAQUE, as_type, blob_compression
from hood.services.events import EventSink, ProgressEvent

MAX_HEADS = 3  # existence checks of recorded blob digests per layer, as docker's budget

LayerOutcome = tuple[str, Descriptor, str]
"""How a layer went (LayerCopy.how), its blob's descriptor as written, and the repository
it was mounted from ("" when it was not)."""


class LayerCopier:
    """Copies layers into `dest`, recompressed as `compression` asks (None: kept where they
    can be), saying each step to `events` and stopping once `cancel` is set."""

    def __init__(
        self,
        dest: ImageDestination,
        compression: str | None,
        events: EventSink,
        cancel: threading.Event,
    ) -> None:
        self.dest = dest
        self.compression = compression
        self.events = events
        self.cancel = cancel
        self._blobs: dict[tuple[Digest, str], Future[LayerOutcome]] = {}
        self._blobs_lock = threading.Lock()

    def copy(
        self,
        source: ImageSource,
        image: SourceImage,
        index: int,
        fmt: str,
        turn: Callable[[], None] | None = None,
    ) -> LayerOutcome:
        """Layer `index` of `image` into the destination, as `fmt`'s manifest names it
        (`turn`: for a destination of tars taking several at once, see write_layer_tar)."""
        if self.cancel.is_set():
            raise Cancelled("copy cancelled")
        dest = self.dest
        layer = image.layers[index]
        if dest.layer_present(image, index):
            self.events(ProgressEvent("Already exists", layer.diff_id.short))
            return self._present(layer, fmt)
        if dest.wants_tar:
            return self._tar(source, image, index, turn)
        # A blob met twice (one image, or several platforms) goes once.
        key = (layer.blob.digest, fmt)
        with self._blobs_lock:
            earlier = self._blobs.get(key)
            if earlier is None:
                mine: Future[LayerOutcome] = Future()
                self._blobs[key] = mine
        if earlier is not None:
            _, desc, _ = earlier.result()
            self.events(ProgressEvent("Layer already exists", layer.diff_id.short))
            return "existed", desc, ""
        try:
            outcome = self._blob(source, image, index, fmt)
        except BaseException as exc:
            mine.set_exception(exc)
            raise
        mine.set_result(outcome)
        return outcome

    def _present(self, layer: Layer, fmt: str) -> LayerOutcome:
        """A layer the destination has: its blob as the manifest names it, or, in a
        destination of tars, the uncompressed tar named by its diff ID."""
        if not self.dest.wants_tar:
            return "present", as_type(layer.blob, fmt), ""
        size = self.dest.blob_size(layer.diff_id)
        if size is None:
            size = layer.blob.size if blob_compression(layer.blob) == "none" else 0
        tar = convert.layer_media_type(fmt, "none")
        return "present", Descriptor(tar, layer.diff_id, size), ""

    def _tar(
        self,
        source: ImageSource,
        image: SourceImage,
        index: int,
        turn: Callable[[], None] | None,
    ) -> LayerOutcome:
        """The layer's tar (decompressed on the way) into a destination of tars,
        cancellable."""
        layer = image.layers[index]
        short = layer.diff_id.short
        total = max(layer.blob.size, 0)
        self.events(ProgressEvent("Loading layer", short, 0, total))
        none = blob_compression(layer.blob) == "none"
        size = layer.blob.size if none else None
        if turn is not None and source.local:  # the place may read it in a child of its own

            def opened() -> BinaryIO:
                return source.open_tar(image, layer)

            desc = self.dest.write_layer_opened(image, index, opened, size, turn, self.cancel)
        else:
            tar = self._watch(source.open_tar(image, layer), short, total, "Loading layer")
            with tar:
                desc = self.dest.write_layer_tar(image, index, tar, size, turn)
        self.events(ProgressEvent("Loading layer", short, desc.size, desc.size))
        return ("extracted" if none else "decompressed"), desc, ""

    def _blob(self, source: ImageSource, image: SourceImage, index: int, fmt: str) -> LayerOutcome:
        """The layer's blob as it is when it can go so, else a compressed form the
        destination's registry knows, else compressed anew."""
        layer = image.layers[index]
        have = blob_compression(layer.blob)
        want = self.compression
        keep = want in (None, have) and not (
            want is None and have == "none" and self.dest.prefers_compressed
        )
        if have == OPAQUE:
            keep = True  # not a layer tar (an attestation's in-toto statement): as it is
        if keep and layer.blob.size >= 0:
            return self._as_it_is(source, image, index, fmt)
        reused = self._known(source, image, index, fmt, want)
        if reused is not None:
            return reused
        compression = want or ("gzip" if have == "none" else have)
        if compression == "zstd" and fmt == "docker":
            raise HoodError("zstd layers need an OCI manifest: add --format oci")
        return self._recompressed(source, image, layer, fmt, compression)

    def _as_it_is(
        self, source: ImageSource, image: SourceImage, index: int, fmt: str
    ) -> LayerOutcome:
        """The source's blob, byte for byte: found in the destination (HEAD), mounted from
        the source's repository of the same registry, or sent."""
        dest = self.dest
        layer = image.layers[index]
        short = layer.diff_id.short
        desc = as_type(layer.blob, fmt)
        if dest.blob_size(layer.blob.digest) is not None:
            self.events(ProgressEvent("Layer already exists", short))
            return "existed", desc, ""
        for known in source.known_blobs(image, index):
            if known.digest == layer.blob.digest and dest.mount_blob(
                known.digest, known.repository
            ):
                self.events(ProgressEvent(f"Mounted from {_path(known.repository)}", short))
                return "mounted", desc, known.repository
        self.events(ProgressEvent("Pushing", short, 0, layer.blob.size))

        def opened() -> BinaryIO:
            return self._watch(source.open_blob(image, layer.blob), short, layer.blob.size)

        with opened() as blob:
            desc = dest.write_blob(blob, desc, reopen=opened)
        self.events(ProgressEvent("Pushed", short, layer.blob.size, layer.blob.size))
        return "copied", desc, ""

    def _recompressed(
        self, source: ImageSource, image: SourceImage, layer: Layer, fmt: str, compression: str
    ) -> LayerOutcome:
        """The layer's tar compressed with `compression` as it is sent."""
        media_type = convert.layer_media_type(fmt, compression)
        short = layer.diff_id.short
        self.events(ProgressEvent("Pushing", short))

        def made() -> Iterator[bytes]:
            return self._compressed(source, image, layer, compression)

        desc = self.dest.write_new_blob(made(), media_type, reopen=made)
        self.events(ProgressEvent("Pushed", short, desc.size, desc.size))
        return "compressed", desc, ""

    def _known(
        self, source: ImageSource, image: SourceImage, index: int, fmt: str, want: str | None
    ) -> LayerOutcome | None:
        """A compressed form of the layer recorded before, found in the destination (HEAD)
        or mounted there from another repository of its registry."""
        dest = self.dest
        short = image.layers[index].diff_id.short
        candidates = _usable_known_blobs(source.known_blobs(image, index), fmt, want)
        if not candidates:
            return None
        # HEADs first (digests recorded for the destination's own repository lead), then
        # mounts from the other repositories, as docker's push does.
        here = getattr(dest, "repository", None)
        ordered = sorted(candidates, key=lambda k: k.repository != here)
        heads = 0
        seen: set[Digest] = set()
        for known in ordered:
            if known.digest in seen or heads >= MAX_HEADS:
                continue
            seen.add(known.digest)
            heads += 1
            size = dest.blob_size(known.digest)
            if size is not None and (known.size is None or size in (known.size, -1)):
                self.events(ProgressEvent("Layer already exists", short))
                return "existed", _known_desc(known, size, fmt), ""
        for known in reversed(candidates):  # newest record first
            if dest.mount_blob(known.digest, known.repository):
                size = known.size if known.size is not None else dest.blob_size(known.digest)
                if size is None or size < 0:
                    continue
                self.events(ProgressEvent(f"Mounted from {_path(known.repository)}", short))
                return "mounted", _known_desc(known, size, fmt), known.repository
        return None

    def _compressed(
        self, source: ImageSource, image: SourceImage, layer: Layer, compression: str
    ) -> Iterator[bytes]:
        plain = blob_compression(layer.blob) == "none"  # else the tar's size is not known
        tar = self._watch(
            source.open_tar(image, layer), layer.diff_id.short, layer.blob.size if plain else 0
        )
        try:
            for chunk in convert.compressed(tar, compression):  # type: ignore[arg-type]
                if self.cancel.is_set():
                    raise Cancelled("copy cancelled")
                yield chunk
        finally:
            tar.close()

    def _watch(
        self, stream: BinaryIO, short: str, total: int, status: str = "Pushing"
    ) -> BinaryIO:
        """`stream` as it is read: cancellable, and its progress reported as docker shows
        it (`status`, bytes read of the layer against its size)."""

        def sent(count: int) -> None:
            self.events(ProgressEvent(status, short, count, max(total, 0)))

        return _Watched(stream, self.cancel, sent)  # type: ignore[return-value]


def _usable_known_blobs(known: list[KnownBlob], fmt: str, want: str | None) -> list[KnownBlob]:
    """The recorded blobs of a layer that may stand for it: compressed, as `want` asks
    (None: any), and no zstd under a docker manifest."""
    usable = []
    for blob in known:
        compression = oci.COMPRESSION_BY_MEDIA_TYPE.get(blob.media_type or oci.DOCKER_LAYER_GZIP)
        if compression is None or want not in (None, compression) or compression == "none":
            continue
        if compression == "zstd" and fmt == "docker":
            continue
        usable.append(blob)
    return usable


def _known_desc(known: KnownBlob, size: int, fmt: str) -> Descriptor:
    media = known.media_type or oci.DOCKER_LAYER_GZIP
    return as_type(Descriptor(media, known.digest, size if size >= 0 else known.size or 0), fmt)


class _Watched:
    """A stream that stops with Cancelled once the copy is cancelled, and says how much
    has been read every PROGRESS_STEP bytes (a re-opened stream starts again from 0)."""

    PROGRESS_STEP = 512 << 10

    def __init__(
        self, stream: BinaryIO, cancel: threading.Event, progress: Callable[[int], None]
    ) -> None:
        self.stream = stream
        self.cancel = cancel
        self.progress = progress
        self.count = self.said = 0

    def read(self, n: int = -1) -> bytes:
        if self.cancel.is_set():
            raise Cancelled("copy cancelled")
        data = self.stream.read(n)
        self.count += len(data)
        if self.count - self.said >= self.PROGRESS_STEP:
            self.said = self.count
            self.progress(self.count)
        return data

    def readinto(self, buf) -> int:  # type: ignore[no-untyped-def]
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.stream.close()

    def __enter__(self) -> _Watched:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _path(repository: str) -> str:
    """`host/team/app` → `team/app`, as docker prints "Mounted from"."""
    return repository.split("/", 1)[-1]
