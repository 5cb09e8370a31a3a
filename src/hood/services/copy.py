"""Copy images between any two places (places.model): `save`, `load`, `push` and `copy`
are this with a given source and destination.

Per layer, in this order: the destination has it (or the layers below it, for the store)
→ nothing to send; the source's blob can go as it is (no conversion asked for) → HEAD,
mounted from the source's repository when both are one registry, else sent byte for byte,
its digest kept; a compressed form of it is known in the destination's registry (pulled
from there, or from another repository there: mounted) → reused; else it is
(re)compressed on the way. The config goes byte for byte, so the image ID never changes.
The source's manifest is kept when every descriptor in it is what was written, so its
digest stays; otherwise a new one is made, and each result says why. With --all, the
index is kept the same way, or rewritten over the new manifest digests.

Layers of a destination that takes blobs in any order (a registry) go `concurrency` at a
time; a blob met twice in one copy is sent once."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO

from hood.core import oci
from hood.core.digest import Digest
from hood.core.errors import HoodError
from hood.core.jsonio import dumps, load_object
from hood.core.oci import Descriptor
from hood.core.platform import Platform
from hood.places import convert
from hood.places.model import (
    ImageDestination,
    ImageSource,
    KnownBlob,
    Layer,
    SourceImage,
    WrittenImage,
)
from hood.services.copy_report import Copied, ImageCopy, IndexCopy, LayerCopy
from hood.services.events import Cancelled, EventSink, ProgressEvent

MAX_HEADS = 3  # existence checks of recorded blob digests per layer, as docker's budget


@dataclass
class CopyOptions:
    format: str | None = None  # "docker" | "oci"; None: the source's, else the destination's
    compression: str | None = None  # "gzip" | "zstd" | "none"; None: keep what can be kept
    platform: Platform | None = None
    all_platforms: bool = False
    names: Callable[[SourceImage], list[str]] | None = None  # None: the source's names
    index_names: list[str] | None = None  # names of the index (--all); None: the source's


def _ignore(_: ProgressEvent) -> None:
    pass


def copy_images(
    source: ImageSource,
    dest: ImageDestination,
    options: CopyOptions | None = None,
    events: EventSink = _ignore,
) -> Copied:
    """Copy what `source` names into `dest` (with --all, a whole index); nothing is
    committed there unless all of it copied."""
    options = options or CopyOptions()
    images = source.images(platform=options.platform, all_platforms=options.all_platforms)
    index = source.index() if options.all_platforms else None
    if index is not None and not dest.holds_indexes:
        dest.abort()
        raise HoodError(
            f"{dest.description} holds single images, not an index of {len(images)} "
            "platforms: copy one platform (without --all)"
        )
    copier = _Copier(dest, options, events)
    try:
        results = [copier.image(source, image, child=index is not None) for image in images]
        copied = Copied(results)
        if index is not None:
            copied.index = copier.index(source, index, images, results)
        dest.commit()
    except BaseException:
        copier.cancel.set()
        dest.abort()
        raise
    finally:
        copier.close()
    return copied


def copy_many(
    picks: list[tuple[ImageSource, list[SourceImage]]],
    dest: ImageDestination,
    options: CopyOptions,
    events: EventSink = _ignore,
) -> list[ImageCopy]:
    """Copy images of one or more sources into one destination, then commit it."""
    copier = _Copier(dest, options, events)
    results = []
    try:
        for source, images in picks:
            for image in images:
                results.append(copier.image(source, image))
        dest.commit()
    except BaseException:
        copier.cancel.set()
        dest.abort()
        raise
    finally:
        copier.close()
    return results


class _Copier:
    def __init__(self, dest: ImageDestination, options: CopyOptions, events: EventSink) -> None:
        self.dest = dest
        self.options = options
        self._events = events
        self._events_lock = threading.Lock()
        self.cancel = threading.Event()
        workers = max(1, dest.concurrency) if not dest.wants_tar else 1
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="copy") if workers > 1 else None
        self.workers = workers
        self._blobs: dict[tuple[Digest, str], Future[tuple[str, Descriptor, str]]] = {}
        self._blobs_lock = threading.Lock()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def events(self, event: ProgressEvent) -> None:
        with self._events_lock:
            self._events(event)

    # --- one image -------------------------------------------------------------------
    def image(self, source: ImageSource, image: SourceImage, *, child: bool = False) -> ImageCopy:
        dest, options = self.dest, self.options
        fmt = _format(image, dest, options)
        if child:
            names: list[str] = []
        else:
            names = options.names(image) if options.names is not None else list(image.names)
        result = ImageCopy(image.id, names, platform=image.platform)
        result.source_manifest = image.manifest.digest if image.manifest is not None else None
        count = len(image.layers)
        for index in reversed(range(count)):  # docker lists the top layer first
            self.events(ProgressEvent("Preparing", image.layers[index].diff_id.short))
        if self.pool is not None:
            for index in reversed(range(count - self.workers)):
                self.events(ProgressEvent("Waiting", image.layers[index].diff_id.short))
        outcomes: list[tuple[str, Descriptor, str]] = []
        config = _config_descriptor(image, fmt)
        result.config = config
        if self.pool is None or dest.wants_tar:
            for index in range(count):
                outcomes.append(self._layer(source, image, index, fmt))
            dest.write_config(image.config, config)
        else:
            # The config goes up beside the layers (it never changes); the manifest waits
            # for all of them.
            futures: list[Future] = [self.pool.submit(dest.write_config, image.config, config)]
            futures += [
                self.pool.submit(self._layer, source, image, index, fmt) for index in range(count)
            ]
            try:
                done = [f.result() for f in futures]
            except BaseException:
                self.cancel.set()
                for f in futures:
                    f.cancel()
                raise
            outcomes = done[1:]
        written = [desc for _, desc, _ in outcomes]
        for layer, (how, desc, origin) in zip(image.layers, outcomes, strict=True):
            result.layers.append(LayerCopy(layer.diff_id, layer.blob, desc, how, origin))
        raw, media_type, why = _manifest(image, fmt, config, written)
        result.manifest_kept = not why
        result.why_new = why
        dest.put_image(
            WrittenImage(
                image.config,
                config,
                [Layer(d, layer.diff_id) for d, layer in zip(written, image.layers, strict=True)],
                raw,
                media_type,
                names,
                image.platform,
                child=child,
            )
        )
        if dest.keeps_manifests:
            result.manifest = Digest.of_bytes(raw)
            result.manifest_raw = raw
            result.manifest_size = len(raw)
            result.manifest_media_type = media_type
        else:
            result.manifest_kept, result.why_new = False, "the destination keeps no manifest"
        return result

    def _layer(
        self, source: ImageSource, image: SourceImage, index: int, fmt: str
    ) -> tuple[str, Descriptor, str]:
        """One layer: (how, descriptor as written, repository mounted from)."""
        if self.cancel.is_set():
            raise Cancelled("copy cancelled")
        dest = self.dest
        layer = image.layers[index]
        short = layer.diff_id.short
        if dest.layer_present(image, index):
            self.events(ProgressEvent("Already exists", short))
            if not dest.wants_tar:
                return "present", _as_type(layer.blob, fmt), ""
            # Held as the uncompressed tar, named by its diff ID.
            size = dest.blob_size(layer.diff_id)
            if size is None:
                size = layer.blob.size if _compression(layer.blob) == "none" else 0
            tar = convert.layer_media_type(fmt, "none")
            return "present", Descriptor(tar, layer.diff_id, size), ""
        if dest.wants_tar:
            self.events(ProgressEvent("Loading layer", short, 0, max(layer.blob.size, 0)))
            none = _compression(layer.blob) == "none"
            size = layer.blob.size if none else None
            with source.open_tar(image, layer) as tar:
                desc = dest.write_layer_tar(image, index, tar, size)
            self.events(ProgressEvent("Loading layer", short, desc.size, desc.size))
            return ("extracted" if none else "decompressed"), desc, ""
        # A blob met twice (one image, or several platforms) goes once.
        key = (layer.blob.digest, fmt)
        with self._blobs_lock:
            earlier = self._blobs.get(key)
            if earlier is None:
                mine: Future[tuple[str, Descriptor, str]] = Future()
                self._blobs[key] = mine
        if earlier is not None:
            _, desc, _ = earlier.result()
            self.events(ProgressEvent("Layer already exists", short))
            return "existed", desc, ""
        try:
            outcome = self._blob_layer(source, image, index, fmt)
        except BaseException as exc:
            mine.set_exception(exc)
            raise
        mine.set_result(outcome)
        return outcome

    def _blob_layer(
        self, source: ImageSource, image: SourceImage, index: int, fmt: str
    ) -> tuple[str, Descriptor, str]:
        dest, options = self.dest, self.options
        layer = image.layers[index]
        short = layer.diff_id.short
        have = _compression(layer.blob)
        want = options.compression
        keep = want in (None, have) and not (
            want is None and have == "none" and dest.prefers_compressed
        )
        if have == OPAQUE:
            keep = True  # not a layer tar (an attestation's in-toto statement): as it is
        if keep and layer.blob.size >= 0:
            desc = _as_type(layer.blob, fmt)
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
            blob = self._watch(source.open_blob(image, layer.blob))
            with blob:
                desc = dest.write_blob(
                    blob, desc, reopen=lambda: self._watch(source.open_blob(image, layer.blob))
                )
            self.events(ProgressEvent("Pushed", short, layer.blob.size, layer.blob.size))
            return "copied", desc, ""
        reused = self._known(source, image, index, fmt, want)
        if reused is not None:
            return reused
        compression = want or ("gzip" if have == "none" else have)
        if compression == "zstd" and fmt == "docker":
            raise HoodError("zstd layers need an OCI manifest: add --format oci")
        media_type = convert.layer_media_type(fmt, compression)
        self.events(ProgressEvent("Pushing", short))

        def made() -> Iterator[bytes]:
            return self._compressed(source, image, layer, compression)

        desc = dest.write_new_blob(made(), media_type, reopen=made)
        self.events(ProgressEvent("Pushed", short, desc.size, desc.size))
        return "compressed", desc, ""

    def _known(
        self, source: ImageSource, image: SourceImage, index: int, fmt: str, want: str | None
    ) -> tuple[str, Descriptor, str] | None:
        """A compressed form of the layer recorded before, found in the destination (HEAD)
        or mounted there from another repository of its registry."""
        dest = self.dest
        short = image.layers[index].diff_id.short
        candidates: list[KnownBlob] = []
        for known in source.known_blobs(image, index):
            compression = oci.COMPRESSION_BY_MEDIA_TYPE.get(
                known.media_type or oci.DOCKER_LAYER_GZIP
            )
            if compression is None or want not in (None, compression) or compression == "none":
                continue
            if compression == "zstd" and fmt == "docker":
                continue
            candidates.append(known)
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
                return "existed", self._known_desc(known, size, fmt), ""
        for known in reversed(candidates):  # newest record first
            if dest.mount_blob(known.digest, known.repository):
                size = known.size if known.size is not None else dest.blob_size(known.digest)
                if size is None or size < 0:
                    continue
                self.events(ProgressEvent(f"Mounted from {_path(known.repository)}", short))
                return "mounted", self._known_desc(known, size, fmt), known.repository
        return None

    @staticmethod
    def _known_desc(known: KnownBlob, size: int, fmt: str) -> Descriptor:
        media = known.media_type or oci.DOCKER_LAYER_GZIP
        return _as_type(
            Descriptor(media, known.digest, size if size >= 0 else known.size or 0), fmt
        )

    def _compressed(
        self, source: ImageSource, image: SourceImage, layer: Layer, compression: str
    ) -> Iterator[bytes]:
        tar = source.open_tar(image, layer)
        try:
            for chunk in convert.compressed(tar, compression):
                if self.cancel.is_set():
                    raise Cancelled("copy cancelled")
                yield chunk
        finally:
            tar.close()

    def _watch(self, stream: BinaryIO) -> BinaryIO:
        return _Watched(stream, self.cancel)  # type: ignore[return-value]

    # --- the index (--all) -----------------------------------------------------------
    def index(
        self,
        source: ImageSource,
        index: oci.Index,
        images: list[SourceImage],
        results: list[ImageCopy],
    ) -> IndexCopy:
        options = self.options
        names = options.index_names if options.index_names is not None else source.index_names()
        moved: dict[Digest, ImageCopy] = {}
        for image, result in zip(images, results, strict=True):
            if image.manifest is not None:
                moved[image.manifest.digest] = result
        fmt = options.format or convert.format_of(index.media_type)
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
            raw, media_type, why = index.raw, index.media_type, ""
        else:
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
                raw = convert.indent3(doc).encode()
            else:
                raw = dumps(doc, separators=(",", ":")).encode()
            media_type = index_type
            reasons = []
            if index_type != index.media_type:
                reasons.append(
                    f"the index's format changed ({convert.format_of(index.media_type)} to {fmt})"
                )
            if changed:
                reasons.append(f"{len(changed)} of its manifests got new digests")
            if dropped:
                reasons.append(f"{len(dropped)} entries that are not images were left out")
            why = "; ".join(reasons)
        self.dest.put_index(raw, media_type, names)
        return IndexCopy(
            Digest.of_bytes(raw), len(raw), media_type, index.digest, not why, why, names
        )


class _Watched:
    """A stream that stops with Cancelled once the copy is cancelled."""

    def __init__(self, stream: BinaryIO, cancel: threading.Event) -> None:
        self.stream = stream
        self.cancel = cancel

    def read(self, n: int = -1) -> bytes:
        if self.cancel.is_set():
            raise Cancelled("copy cancelled")
        return self.stream.read(n)

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


def _format(image: SourceImage, dest: ImageDestination, options: CopyOptions) -> str:
    if options.format is not None:
        if options.format not in convert.FORMATS:
            raise HoodError(f"unknown format {options.format!r}: choose docker or oci")
        return options.format
    if options.compression == "zstd":
        return "oci"
    if image.manifest is not None:
        return convert.format_of(image.manifest.media_type)
    return dest.default_format


OPAQUE = "opaque"


def _compression(desc: Descriptor) -> str:
    """gzip, zstd, none; OPAQUE for a blob that is no layer tar hood knows (copied as is)."""
    if desc.media_type not in oci.COMPRESSION_BY_MEDIA_TYPE:
        return OPAQUE
    return convert.compression_of(desc.media_type)


def _as_type(desc: Descriptor, fmt: str) -> Descriptor:
    """The same blob described with `fmt`'s media type for its compression."""
    if _compression(desc) == OPAQUE:
        return desc
    media_type = convert.layer_media_type(fmt, _compression(desc))
    if media_type == desc.media_type:
        return desc
    return Descriptor(media_type, desc.digest, desc.size, desc.urls)


def _config_descriptor(image: SourceImage, fmt: str) -> Descriptor:
    media_type = image.config_media_type
    if not media_type or convert.format_of_config(media_type) != fmt:
        media_type = convert.config_media_type(fmt)
    return Descriptor(media_type, image.id, len(image.config.raw))


def _manifest(
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
