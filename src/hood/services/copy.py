"""Copy images between any two places (places.model): `save`, `load`, `push` and `copy`
are this with a given source and destination.

Per layer, in this order: the destination has it (or the layers below it, for the store)
→ nothing to send; the source's blob can go as it is (no conversion asked for) → sent
byte for byte, its digest kept; a compressed form of it is known in the destination's
registry (pulled from there, or from another repository there: mounted) → reused; else it
is (re)compressed on the way. The config goes byte for byte, so the image ID never changes.
The source's manifest is kept when every descriptor in it is what was written, so its
digest stays; otherwise a new one is made, and each result says why."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hood.core.digest import Digest
from hood.core.errors import HoodError
from hood.core.oci import Descriptor
from hood.core.platform import Platform
from hood.places import convert
from hood.places.model import ImageDestination, ImageSource, Layer, SourceImage, WrittenImage


@dataclass
class CopyOptions:
    format: str | None = None  # "docker" | "oci"; None: the source's, else the destination's
    compression: str | None = None  # "gzip" | "zstd" | "none"; None: keep what can be kept
    platform: Platform | None = None
    all_platforms: bool = False
    names: Callable[[SourceImage], list[str]] | None = None  # None: the source's names


@dataclass(frozen=True)
class CopyEvent:
    """Progress, as docker's push and load report it: `id` is a layer's 12-hex short ID."""

    status: str
    id: str = ""
    current: int = 0
    total: int = 0


@dataclass(frozen=True)
class LayerCopy:
    diff_id: Digest
    source: Descriptor  # the blob as the source holds it
    written: Descriptor  # the blob as the destination holds it now
    how: str  # present | existed | copied | mounted | compressed | decompressed | extracted


@dataclass
class ImageCopy:
    image_id: Digest
    names: list[str]
    layers: list[LayerCopy] = field(default_factory=list)
    manifest: Digest | None = None  # as written (None for the store, which keeps none)
    manifest_kept: bool = False  # the source's manifest bytes, digest and all
    manifest_size: int = 0
    why_new: str = ""  # what made a new manifest necessary


def _ignore(_: CopyEvent) -> None:
    pass


def copy_images(
    source: ImageSource,
    dest: ImageDestination,
    options: CopyOptions | None = None,
    events: Callable[[CopyEvent], None] = _ignore,
) -> list[ImageCopy]:
    """Copy what `source` names into `dest`; nothing is committed there unless all of it
    copied."""
    options = options or CopyOptions()
    images = source.images(platform=options.platform, all_platforms=options.all_platforms)
    return copy_many([(source, images)], dest, options, events)


def copy_many(
    picks: list[tuple[ImageSource, list[SourceImage]]],
    dest: ImageDestination,
    options: CopyOptions,
    events: Callable[[CopyEvent], None] = _ignore,
) -> list[ImageCopy]:
    """Copy images of one or more sources into one destination, then commit it."""
    results = []
    try:
        for source, images in picks:
            for image in images:
                results.append(_copy_image(source, dest, image, options, events))
        dest.commit()
    except BaseException:
        dest.abort()
        raise
    return results


def _format(image: SourceImage, dest: ImageDestination, options: CopyOptions) -> str:
    if options.format is not None:
        if options.format not in convert.FORMATS:
            raise HoodError(f"unknown format {options.format!r}: choose docker or oci")
        return options.format
    if image.manifest is not None:
        return convert.format_of(image.manifest.media_type)
    return dest.default_format


def _copy_image(
    source: ImageSource,
    dest: ImageDestination,
    image: SourceImage,
    options: CopyOptions,
    events: Callable[[CopyEvent], None],
) -> ImageCopy:
    fmt = _format(image, dest, options)
    names = options.names(image) if options.names is not None else list(image.names)
    result = ImageCopy(image.id, names)
    written: list[Descriptor] = []
    for index, layer in enumerate(image.layers):
        short = layer.diff_id.short
        if dest.layer_present(image, index):
            events(CopyEvent("Already exists", short))
            how, desc = "present", _as_type(layer.blob, fmt, dest)
        elif dest.wants_tar:
            events(CopyEvent("Loading layer", short, 0, max(layer.blob.size, 0)))
            size = layer.blob.size if _compression(layer.blob) == "none" else None
            with source.open_tar(image, layer) as tar:
                desc = dest.write_layer_tar(image, index, tar, size)
            how = "extracted" if _compression(layer.blob) == "none" else "decompressed"
            events(CopyEvent("Loading layer", short, desc.size, desc.size))
        else:
            how, desc = _blob_layer(source, dest, image, index, fmt, options, events)
        written.append(desc)
        result.layers.append(LayerCopy(layer.diff_id, layer.blob, desc, how))
    config = _config_descriptor(image, fmt)
    dest.write_config(image.config, config)
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
        )
    )
    result.manifest = Digest.of_bytes(raw)
    result.manifest_size = len(raw)
    return result


def _compression(desc: Descriptor) -> str:
    return convert.compression_of(desc.media_type)


def _as_type(desc: Descriptor, fmt: str, dest: ImageDestination) -> Descriptor:
    """The same blob described with `fmt`'s media type for its compression."""
    media_type = convert.layer_media_type(fmt, _compression(desc))
    if media_type == desc.media_type:
        return desc
    return Descriptor(media_type, desc.digest, desc.size, desc.urls)


def _config_descriptor(image: SourceImage, fmt: str) -> Descriptor:
    media_type = image.config_media_type
    if not media_type or convert.format_of_config(media_type) != fmt:
        media_type = convert.config_media_type(fmt)
    return Descriptor(media_type, image.id, len(image.config.raw))


def _blob_layer(
    source: ImageSource,
    dest: ImageDestination,
    image: SourceImage,
    index: int,
    fmt: str,
    options: CopyOptions,
    events: Callable[[CopyEvent], None],
) -> tuple[str, Descriptor]:
    layer = image.layers[index]
    short = layer.diff_id.short
    have = _compression(layer.blob)
    want = options.compression
    keep = want in (None, have) and not (want is None and have == "none" and dest.prefers_compressed)
    if keep and layer.blob.size >= 0:
        desc = _as_type(layer.blob, fmt, dest)
        if dest.blob_size(layer.blob.digest) is not None:
            events(CopyEvent("Layer already exists", short))
            return "existed", desc
        events(CopyEvent("Pushing", short, 0, layer.blob.size))
        with source.open_blob(image, layer.blob) as blob:
            dest.write_blob(blob, desc)
        events(CopyEvent("Pushed", short, layer.blob.size, layer.blob.size))
        return "copied", desc
    for known in source.known_blobs(image, index):
        if want not in (None, "gzip") and convert.compression_of(known.media_type or convert.DOCKER_LAYER_GZIP) != want:
            continue
        size = dest.blob_size(known.digest)
        how = "existed"
        if size is None and dest.mount_blob(known.digest, known.repository):
            size, how = dest.blob_size(known.digest), "mounted"
        if size is None or (known.size is not None and size != known.size):
            continue
        media = known.media_type or convert.DOCKER_LAYER_GZIP
        desc = _as_type(Descriptor(media, known.digest, size), fmt, dest)
        if how == "mounted":
            events(CopyEvent(f"Mounted from {known.repository.split('/', 1)[-1]}", short))
        else:
            events(CopyEvent("Layer already exists", short))
        return how, desc
    compression = want or ("gzip" if have == "none" else have)
    if compression == "zstd" and fmt == "docker":
        raise HoodError("zstd layers need an OCI manifest: add --format oci")
    media_type = convert.layer_media_type(fmt, compression)
    events(CopyEvent("Pushing", short))
    with source.open_tar(image, layer) as tar:
        desc = dest.write_new_blob(convert.compressed(tar, compression), media_type)
    events(CopyEvent("Pushed", short, desc.size, desc.size))
    return "compressed", desc


def _manifest(
    image: SourceImage, fmt: str, config: Descriptor, layers: list[Descriptor]
) -> tuple[bytes, str, str]:
    """The manifest to write, and why it is not the source's ('' when it is)."""
    kept = image.manifest
    if kept is None:
        why = "the source keeps no manifest (its layers are stored uncompressed)"
    elif convert.format_of(kept.media_type) != fmt:
        why = f"the manifest's format changed ({convert.format_of(kept.media_type)} to {fmt})"
    elif kept.config != config:
        why = "the config's media type changed"
    elif list(kept.layers) != layers:
        changed = [i for i, (a, b) in enumerate(zip(kept.layers, layers, strict=True)) if a != b]
        why = f"layer blob{'s' if len(changed) > 1 else ''} {', '.join(map(str, changed))} changed (recompressed or decompressed)"
    else:
        return kept.raw, kept.media_type, ""
    raw, media_type = convert.build_manifest(fmt, config, layers)
    return raw, media_type, why
