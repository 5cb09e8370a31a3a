"""docker-archive: what `docker save` writes (20.10's `<id>/layer.tar` dirs, 25+'s blobs) and
what skopeo's docker-archive writes, read through manifest.json; and archives as `hood load`
takes them: a file or stdin, plain or gzip/zstd/bzip2/xz-compressed."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from typing import BinaryIO

from hood.core.errors import HoodError, ManifestError
from hood.core.imageconfig import MAX_CONFIG_SIZE, ImageConfig
from hood.core.jsonio import loads
from hood.core.oci import Descriptor
from hood.core.platform import Platform
from hood.places.convert import DOCKER_LAYER
from hood.places.model import ImageSource, Layer, SourceImage
from hood.places.tree import ArchiveError, TarTree, Tree

MAX_MANIFEST_JSON = 16 * 1024 * 1024
_MAGIC = {
    b"\x1f\x8b": "gzip",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
}


def sniff(head: bytes) -> str:
    for magic, name in _MAGIC.items():
        if head.startswith(magic):
            return name
    return "none"


def decompressing(stream: BinaryIO, compression: str) -> BinaryIO:
    """`stream` decompressed (gzip and zstd as layers are; bzip2 and xz as docker load
    also takes them)."""
    if compression in ("gzip", "zstd"):
        from hood.layer.codecs import open_decompressed

        return open_decompressed(stream, compression)
    if compression == "bzip2":
        import bz2

        return bz2.BZ2File(stream)  # type: ignore[return-value]
    if compression == "xz":
        import lzma

        return lzma.LZMAFile(stream)  # type: ignore[return-value]
    return stream


class _Peek(io.RawIOBase):
    """The first bytes of a stream, then the stream, as one stream."""

    def __init__(self, stream: BinaryIO, n: int) -> None:
        self.stream = stream
        self.head = stream.read(n)

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self.head:
            if n is None or n < 0:
                out, self.head = self.head + self.stream.read(), b""
                return out
            out, self.head = self.head[:n], self.head[n:]
            return out
        return self.stream.read(n)

    def readinto(self, buf) -> int:  # type: ignore[no-untyped-def]
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self.stream.close()
        super().close()


def open_input(path: str | None, stdin: BinaryIO, spool_dir: str) -> tuple[TarTree, str | None]:
    """The archive to read: `path` as is when it is a plain tar file; else (stdin, or a
    compressed file) decompressed into a temp file under `spool_dir`, whose path comes back
    for the caller to delete. A stream that never ends stops when the disk runs low."""
    what = path or "stdin"
    if path is not None:
        try:
            with open(path, "rb") as f:
                head = f.read(6)
        except OSError as exc:
            raise ArchiveError(f"open {path}: {exc.strerror}") from None
        if sniff(head) == "none":
            return TarTree(path), None
        source: BinaryIO = open(path, "rb")  # noqa: SIM115
    else:
        source = stdin
    os.makedirs(spool_dir, exist_ok=True)
    import tempfile

    fd, spool = tempfile.mkstemp(prefix="load-", suffix=".tar", dir=spool_dir)
    try:
        peek = _Peek(source, 6)
        stream = decompressing(peek, sniff(peek.head))  # type: ignore[arg-type]
        with os.fdopen(fd, "wb") as out:
            written = 0
            while True:
                try:
                    chunk = stream.read(1 << 20)
                except (OSError, EOFError, ValueError) as exc:
                    raise ArchiveError(f"{what}: cannot decompress the archive: {exc}") from None
                except HoodError as exc:
                    raise ArchiveError(f"{what}: {exc}") from None
                if not chunk:
                    break
                out.write(chunk)
                written += len(chunk)
                if written % (256 << 20) < len(chunk):
                    _check_room(spool_dir, what)
        return TarTree(spool, what), spool
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(spool)
        raise
    finally:
        if path is not None:
            source.close()


def _check_room(directory: str, what: str) -> None:
    free = shutil.disk_usage(directory).free
    if free < 256 << 20:
        raise ArchiveError(
            f"{what}: stopped reading at {free // (1 << 20)} MiB of free disk: the archive is "
            "larger than the room left, or never ends"
        )


class DockerArchiveSource(ImageSource):
    """The images of a docker-archive (manifest.json), all of them or the one `ref` names
    (`NAME:TAG`, or `@N` for the N-th entry)."""

    local = True

    def __init__(self, tree: Tree, ref: str = "", *, every: bool = False) -> None:
        self.tree = tree
        self.ref = ref
        self.every = every
        self.description = tree.description + (f":{ref}" if ref else "")
        self._paths: dict[tuple[int, int], str] = {}

    def _items(self) -> list[dict]:
        what = f"{self.tree.description}: manifest.json"
        try:
            doc = loads(self.tree.read("manifest.json", what, MAX_MANIFEST_JSON))
        except (ValueError, RecursionError, UnicodeDecodeError) as exc:
            raise ManifestError(f"{what}: not valid JSON ({exc})") from None
        if not isinstance(doc, list):
            raise ManifestError(f"{what}: not a list of images")
        items = [item for item in doc if isinstance(item, dict)]
        if len(items) != len(doc):
            raise ManifestError(f"{what}: an entry is not an object")
        return items

    def images(
        self, *, platform: Platform | None = None, all_platforms: bool = False
    ) -> list[SourceImage]:
        items = self._items()
        picked = list(enumerate(items))
        if self.ref.startswith("@"):
            try:
                n = int(self.ref[1:])
                picked = [picked[n]]
            except (ValueError, IndexError):
                raise ArchiveError(f"{self.description}: no entry {self.ref}") from None
        elif self.ref:
            from hood.core import reference

            want = reference.parse(self.ref).familiar()
            picked = [
                (i, item)
                for i, item in picked
                if want in {reference.parse(t).familiar() for t in _tags(item, self.tree)}
            ]
            if not picked:
                raise ArchiveError(f"{self.description}: no image named {self.ref}")
        elif not self.every and len(picked) != 1:
            raise ArchiveError(
                f"{self.tree.description} holds {len(picked)} images: name one (PATH:NAME:TAG or PATH:@N)"
            )
        return [self._image(i, item) for i, item in picked]

    def _image(self, n: int, item: dict) -> SourceImage:
        what = f"{self.tree.description}: manifest.json entry {n}"
        config_path = item.get("Config")
        layer_paths = item.get("Layers")
        if not isinstance(config_path, str) or not isinstance(layer_paths, list):
            raise ManifestError(f"{what}: no Config or Layers")
        raw = self.tree.read(config_path, what, MAX_CONFIG_SIZE)
        config = ImageConfig.parse(raw, f"{what}: config {config_path}")
        if len(layer_paths) != len(config.diff_ids):
            raise ManifestError(
                f"{what}: invalid manifest, layers length mismatch: expected "
                f"{len(config.diff_ids)}, got {len(layer_paths)}"
            )
        layers = []
        for i, (path, diff_id) in enumerate(zip(layer_paths, config.diff_ids, strict=True)):
            if not isinstance(path, str):
                raise ManifestError(f"{what}: layer {i} is not a file name")
            with self.tree.open(path, f"{what}: layer {i}") as f:
                compression = sniff(f.read(6))
            size = self.tree.size(path, f"{what}: layer {i}") if compression == "none" else -1
            self._paths[(n, i)] = path
            layers.append(Layer(Descriptor(DOCKER_LAYER, diff_id, size), diff_id))
        image = SourceImage(config, "", layers, None, names=_tags(item, self.tree))
        image.platform = config.platform
        image.archive_entry = n  # type: ignore[attr-defined]
        return image

    def open_blob(self, image: SourceImage, desc: Descriptor) -> BinaryIO:
        for layer in image.layers:
            if layer.blob.digest == desc.digest:
                return self.open_tar(image, layer)
        import io

        if desc.digest == image.config.id:
            return io.BytesIO(image.config.raw)
        raise ArchiveError(f"{self.description}: no blob {desc.digest}")

    def open_tar(self, image: SourceImage, layer: Layer) -> BinaryIO:
        n = image.archive_entry  # type: ignore[attr-defined]
        index = image.layers.index(layer)
        path = self._paths[(n, index)]
        f = self.tree.open(path, f"{self.tree.description}: layer {index}")
        peek = _Peek(f, 6)
        return decompressing(peek, sniff(peek.head))  # type: ignore[arg-type]

    def close(self) -> None:
        self.tree.close()


def _tags(item: dict, tree: Tree) -> list[str]:
    tags = item.get("RepoTags")
    if tags is None:
        return []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ManifestError(f"{tree.description}: manifest.json RepoTags is not a list of names")
    from hood.core import reference

    for tag in tags:
        reference.parse(tag)  # InvalidReference names it
    return list(tags)
