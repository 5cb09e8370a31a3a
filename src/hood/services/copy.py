"""Copy images between any two places (places.model): `save`, `load`, `push` and `copy`
are this with a given source and destination.

Image by image: its layers (services.copy_layers: each sent the cheapest way the
destination allows, a blob met twice in one copy sent once), its config byte for byte, so
the image ID never changes, then its manifest (services.copy_manifests: the source's
when every descriptor in it is what was written, so its digest stays; otherwise a new
one, and each result says why). With --all, the index is kept the same way, or rewritten
over the new manifest digests. Nothing is committed in the destination unless all of it
copied.

Layers of a destination that takes blobs in any order (a registry) go `concurrency` at a
time."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from hood.core import oci
from hood.core.digest import Digest
from hood.core.errors import Cancelled, HoodError
from hood.core.oci import Descriptor
from hood.core.platform import Platform
from hood.places import convert
from hood.places.model import ImageDestination, ImageSource, Layer, SourceImage, WrittenImage
from hood.services.copy_layers import LayerCopier, LayerOutcome
from hood.services.copy_manifests import config_descriptor, index_to_write, manifest_to_write
from hood.services.copy_report import Copied, ImageCopy, IndexCopy, LayerCopy
from hood.services.events import EventSink, ProgressEvent


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
    """One copy into `dest`: image by image, the layers of each `concurrency` at a time
    (a registry takes blobs in any order; the store extracts side by side and registers
    in chain order; an archive takes one after the other); then, with --all, the index."""

    def __init__(self, dest: ImageDestination, options: CopyOptions, events: EventSink) -> None:
        self.dest = dest
        self.options = options
        self._events = events
        self._events_lock = threading.Lock()
        self.cancel = threading.Event()
        workers = max(1, dest.concurrency)
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="copy") if workers > 1 else None
        self.workers = workers
        self.layers = LayerCopier(dest, options.compression, self.events, self.cancel)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def events(self, event: ProgressEvent) -> None:
        with self._events_lock:
            self._events(event)

    def image(self, source: ImageSource, image: SourceImage, *, child: bool = False) -> ImageCopy:
        """One image: its layers and config, then its manifest (kept or made) and names."""
        dest, options = self.dest, self.options
        fmt = _format(image, dest, options)
        if child:
            names: list[str] = []
        else:
            names = options.names(image) if options.names is not None else list(image.names)
        result = ImageCopy(image.id, names, platform=image.platform)
        result.source_manifest = image.manifest.digest if image.manifest is not None else None
        self._announce(image)
        config = config_descriptor(image, fmt)
        result.config = config
        outcomes = self._layers_and_config(source, image, fmt, config)
        written = [desc for _, desc, _ in outcomes]
        for layer, (how, desc, origin) in zip(image.layers, outcomes, strict=True):
            result.layers.append(LayerCopy(layer.diff_id, layer.blob, desc, how, origin))
        raw, media_type, why = manifest_to_write(image, fmt, config, written)
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

    def _announce(self, image: SourceImage) -> None:
        """docker's first lines of a push: each layer Preparing, top layer first, and
        Waiting for those beyond the first `workers`."""
        count = len(image.layers)
        for index in reversed(range(count)):  # docker lists the top layer first
            self.events(ProgressEvent("Preparing", image.layers[index].diff_id.short))
        if self.pool is not None and not self.dest.wants_tar:
            for index in reversed(range(count - self.workers)):
                self.events(ProgressEvent("Waiting", image.layers[index].diff_id.short))

    def _layers_and_config(
        self, source: ImageSource, image: SourceImage, fmt: str, config: Descriptor
    ) -> list[LayerOutcome]:
        """The image's layers, in order or on the pool, and its config blob."""
        dest = self.dest
        count = len(image.layers)
        if self.pool is None:
            outcomes = [self.layers.copy(source, image, index, fmt) for index in range(count)]
            dest.write_config(image.config, config)
            return outcomes
        # The config goes up beside the layers (it never changes); the manifest waits for
        # all of them.
        turns = _Turns(count, self.cancel)
        futures: list[Future] = [self.pool.submit(dest.write_config, image.config, config)]
        futures += [
            self.pool.submit(self._layer, turns, source, image, index, fmt)
            for index in range(count)
        ]
        try:
            done = [f.result() for f in futures]
        except BaseException:
            self.cancel.set()
            for f in futures:
                f.cancel()
            raise
        return done[1:]

    def _layer(
        self, turns: _Turns, source: ImageSource, image: SourceImage, index: int, fmt: str
    ) -> LayerOutcome:
        """Layer `index` on the pool; a failure cancels the layers still waiting."""
        try:
            outcome = self.layers.copy(
                source, image, index, fmt, turn=lambda: turns.wait_below(index)
            )
        except BaseException:
            self.cancel.set()
            raise
        turns.done(index)
        return outcome

    def index(
        self,
        source: ImageSource,
        index: oci.Index,
        images: list[SourceImage],
        results: list[ImageCopy],
    ) -> IndexCopy:
        """The index (--all) over the images copied, once they all are."""
        options = self.options
        names = options.index_names if options.index_names is not None else source.index_names()
        moved: dict[Digest, ImageCopy] = {}
        for image, result in zip(images, results, strict=True):
            if image.manifest is not None:
                moved[image.manifest.digest] = result
        fmt = options.format or convert.format_of(index.media_type)
        raw, media_type, why = index_to_write(index, fmt, moved)
        self.dest.put_index(raw, media_type, names)
        return IndexCopy(
            Digest.of_bytes(raw), len(raw), media_type, index.digest, not why, why, names
        )


def _format(image: SourceImage, dest: ImageDestination, options: CopyOptions) -> str:
    """The format the image is written in: --format's, else OCI for zstd, else the
    source manifest's, else the destination's."""
    if options.format is not None:
        if options.format not in convert.FORMATS:
            raise HoodError(f"unknown format {options.format!r}: choose docker or oci")
        return options.format
    if options.compression == "zstd":
        return "oci"
    if image.manifest is not None:
        return convert.format_of(image.manifest.media_type)
    return dest.default_format


class _Turns:
    """Layers written side by side that a place makes visible lowest first: layer i
    waits until layer i - 1 is in (or the copy is cancelled)."""

    POLL = 0.05  # seconds between looks at the cancel flag while waiting

    def __init__(self, count: int, cancel: threading.Event) -> None:
        self._in = [threading.Event() for _ in range(count)]
        self._cancel = cancel

    def wait_below(self, index: int) -> None:
        if index == 0:
            return
        while not self._in[index - 1].wait(self.POLL):
            if self._cancel.is_set():
                raise Cancelled("copy cancelled")

    def done(self, index: int) -> None:
        self._in[index].set()
