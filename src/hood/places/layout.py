"""OCI image layouts (image-spec): `oci-layout`, `index.json`, `blobs/sha256/...`, in a
directory (`oci:DIR[:REF]`) or a tar (`oci-archive:`, and inside what `hood save` and
docker 25+ `docker save` write, beside docker's manifest.json)."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable
from typing import BinaryIO

from hood.core import oci
from hood.core.digest import Digest, VerifyingReader, new_hasher
from hood.core.errors import HoodError, ManifestError
from hood.core.imageconfig import MAX_CONFIG_SIZE, ImageConfig
from hood.core.jsonio import dumps, load_object
from hood.core.oci import Descriptor, Index, Manifest
from hood.core.platform import Platform
from hood.places.model import ImageDestination, ImageSource, Layer, SourceImage, WrittenImage
from hood.places.tree import ArchiveError, Tree

OCI_LAYOUT = b'{"imageLayoutVersion": "1.0.0"}'
REF_NAME = "org.opencontainers.image.ref.name"
IMAGE_NAME = "io.containerd.image.name"
MAX_INDEX = 4 * 1024 * 1024


def blob_name(digest: Digest) -> str:
    return f"blobs/{digest.algorithm}/{digest.hex}"


# --- reading ------------------------------------------------------------------------------


class LayoutSource(ImageSource):
    """The images an OCI layout holds under `ref` (org.opencontainers.image.ref.name), or
    its only image when `ref` is empty; `every` takes every image it holds (load)."""

    local = True

    def __init__(self, tree: Tree, ref: str = "", *, every: bool = False) -> None:
        self.tree = tree
        self.ref = ref
        self.every = every
        self.description = tree.description + (f":{ref}" if ref else "")
        self._index: Index | None = None
        self._index_names: list[str] = []

    def _read_index(self) -> list[dict]:
        what = f"{self.tree.description}: index.json"
        if not self.tree.exists("index.json"):
            raise ArchiveError(f"{self.tree.description}: no index.json (not an OCI layout)")
        doc = load_object(self.tree.read("index.json", what, MAX_INDEX), what, ManifestError)
        items = doc.get("manifests")
        if not isinstance(items, list):
            raise ManifestError(f"{what}: manifests is not a list")
        return [m for m in items if isinstance(m, dict)]

    def _blob(self, desc: Descriptor, what: str, limit: int) -> bytes:
        raw = self.tree.read(blob_name(desc.digest), what, limit)
        desc.digest.verify_bytes(raw, what)
        return raw

    def images(
        self, *, platform: Platform | None = None, all_platforms: bool = False
    ) -> list[SourceImage]:
        entries = self._read_index()
        what = f"{self.tree.description}: index.json"
        chosen: list[tuple[Descriptor, list[str]]] = []
        for item in entries:
            desc = Descriptor.from_json(item, what)
            names = _names_of(desc)
            if self.every or not self.ref or desc.annotations.get(REF_NAME) == self.ref:
                chosen.append((desc, names))
        if not chosen:
            raise ArchiveError(f"{self.description}: no image with that name in the layout")
        if not self.every and not self.ref and len(chosen) > 1:
            raise ArchiveError(
                f"{self.tree.description} holds {len(chosen)} images: name one (DIR:REF)"
            )
        out: list[SourceImage] = []
        seen: dict[Digest, SourceImage] = {}
        self._index_names = [n for _, names in chosen for n in names]
        for desc, names in chosen:
            for image in self._resolve(desc, platform, all_platforms or self.every):
                known = seen.get(image.id)
                if known is not None:
                    known.names.extend(n for n in names if n not in known.names)
                    continue
                image.names = list(names)
                seen[image.id] = image
                out.append(image)
        return out

    def _resolve(
        self, desc: Descriptor, platform: Platform | None, all_platforms: bool
    ) -> list[SourceImage]:
        what = f"{self.tree.description}: {desc.digest}"
        raw = self._blob(desc, what, oci.MAX_MANIFEST_SIZE)
        doc = oci.parse_document(raw, desc.media_type, what=what)
        if isinstance(doc, Manifest):
            return [self._image(doc, desc.platform)]
        self._index = doc
        picks = (
            [d for d in doc.manifests if d.media_type in oci.MANIFEST_TYPES]
            if all_platforms
            else [doc.select(platform or Platform.host())]
        )
        out = []
        for pick in picks:
            inner = self._blob(pick, f"{what} entry {pick.digest}", oci.MAX_MANIFEST_SIZE)
            manifest = oci.parse_document(inner, pick.media_type, what=f"{what} {pick.digest}")
            if not isinstance(manifest, Manifest):
                raise ManifestError(f"{what}: entry {pick.digest} is not an image manifest")
            out.append(self._image(manifest, pick.platform))
        return out

    def _image(self, manifest: Manifest, platform: Platform | None) -> SourceImage:
        what = f"{self.tree.description}: config {manifest.config.digest}"
        config = ImageConfig.parse(self._blob(manifest.config, what, MAX_CONFIG_SIZE), what)
        if len(config.diff_ids) != len(manifest.layers):
            raise ManifestError(
                f"{what}: {len(config.diff_ids)} diff IDs for {len(manifest.layers)} layers"
            )
        layers = [Layer(d, diff) for d, diff in zip(manifest.layers, config.diff_ids, strict=True)]
        return SourceImage(config, manifest.config.media_type, layers, manifest, platform=platform)

    def index(self) -> Index | None:
        return self._index

    def index_names(self) -> list[str]:
        return list(self._index_names)

    def open_blob(self, image: SourceImage, desc: Descriptor) -> BinaryIO:
        return self.tree.open(blob_name(desc.digest), f"{self.tree.description}: blob {desc.digest}")

    def close(self) -> None:
        self.tree.close()


def _names_of(desc: Descriptor) -> list[str]:
    """The image names an index entry carries: containerd's full name, else the ref name
    when it reads as a reference."""
    from hood.core import reference

    full = desc.annotations.get(IMAGE_NAME, "")
    for text in (full, desc.annotations.get(REF_NAME, "")):
        if not text:
            continue
        with contextlib.suppress(HoodError):
            ref = reference.parse(text)
            if ref.digest is None:
                return [ref.familiar()]
    return []


# --- writing ------------------------------------------------------------------------------


class Sink:
    """Where a layout's files go: a tar stream or a directory."""

    def has(self, name: str) -> bool:
        raise NotImplementedError

    def put_bytes(self, name: str, data: bytes) -> None:
        raise NotImplementedError

    def put_stream(self, name: str, stream: BinaryIO, size: int) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        pass

    def abort(self) -> None:
        pass


class TarSink(Sink):
    """Files into a tar: to `path` (a temp file renamed over it at commit) or to `out`."""

    def __init__(self, path: str | None = None, out: BinaryIO | None = None) -> None:
        from hood.places.tarwriter import TarWriter

        self.path = path
        self.tmp = None
        if path is not None:
            from hood.core.fileio import temp_name

            self.tmp = temp_name(os.path.abspath(path))
            out = open(self.tmp, "wb")  # noqa: SIM115
        assert out is not None
        self.out = out
        self.tar = TarWriter(out)
        self.names: set[str] = set()
        self.tar.directory("blobs")
        self.tar.directory("blobs/sha256")

    def has(self, name: str) -> bool:
        return name in self.names

    def put_bytes(self, name: str, data: bytes) -> None:
        self.names.add(name)
        self.tar.file(name, data)

    def put_stream(self, name: str, stream: BinaryIO, size: int) -> None:
        self.names.add(name)
        self.tar.stream(name, stream, size)

    def commit(self) -> None:
        self.tar.close()
        if self.tmp is not None and self.path is not None:
            self.out.close()  # renamed whole into place; not fsync'd (docker's is not either)
            os.rename(self.tmp, self.path)
            self.tmp = None

    def abort(self) -> None:
        if self.tmp is not None:
            with contextlib.suppress(OSError):
                self.out.close()
            with contextlib.suppress(OSError):
                os.unlink(self.tmp)
            self.tmp = None


class DirSink(Sink):
    """Files into a layout directory, each written whole (temp file, rename)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._made = False
        if os.path.lexists(root):
            from hood.core.fileio import check_safe_dir

            check_safe_dir(root, "layout directory")

    def _make(self) -> None:
        """The directory is made with the first file written into it: a copy that fails
        before leaves no empty layout behind."""
        if not self._made:
            from hood.core.fileio import check_safe_dir

            os.makedirs(os.path.join(self.root, "blobs", "sha256"), exist_ok=True)
            check_safe_dir(self.root, "layout directory")
            self._made = True

    def _path(self, name: str) -> str:
        return os.path.join(self.root, *name.split("/"))

    def has(self, name: str) -> bool:
        return os.path.isfile(self._path(name)) and not os.path.islink(self._path(name))

    def put_bytes(self, name: str, data: bytes) -> None:
        from hood.core.fileio import write_atomic

        self._make()
        write_atomic(self._path(name), data, 0o644)

    def put_stream(self, name: str, stream: BinaryIO, size: int) -> None:
        from hood.core.fileio import temp_name

        self._make()
        path = self._path(name)
        tmp = temp_name(path)
        try:
            with open(tmp, "wb") as f:
                left = size
                while chunk := stream.read(1 << 20):
                    f.write(chunk)
                    left -= len(chunk)
                if left:
                    raise ArchiveError(f"{name}: {size - left} bytes, not {size}")
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


class LayoutDestination(ImageDestination):
    """An OCI layout; with `docker_save`, also docker's manifest.json and repositories
    beside it (what docker 25+ `docker save` writes, which docker 20.10 loads too).
    With `ref`, every image written is named so in index.json (oci:DIR:REF)."""

    default_format = "oci"

    def __init__(
        self,
        sink: Sink,
        *,
        docker_save: bool = False,
        uncompressed: bool = False,
        ref: str = "",
        description: str = "layout",
    ) -> None:
        self.sink = sink
        self.docker_save = docker_save
        self.wants_tar = uncompressed
        # Layers from a place that keeps them uncompressed (the store, docker archives) are
        # gzip'ed on their way into an OCI layout, as skopeo does; docker's archive keeps tars.
        self.prefers_compressed = not uncompressed
        self.holds_indexes = not docker_save
        self.ref = ref
        self.description = description
        self._sizes: dict[Digest, int] = {}
        self._index: list[dict] = []
        self._manifest_json: list[dict] = []
        self._repositories: dict[str, dict[str, str]] = {}
        if isinstance(sink, DirSink) and os.path.exists(os.path.join(sink.root, "index.json")):
            with open(os.path.join(sink.root, "index.json"), "rb") as f:
                doc = load_object(f.read(MAX_INDEX + 1), "index.json", ManifestError)
            self._index = [m for m in doc.get("manifests") or [] if isinstance(m, dict)]

    def blob_size(self, digest: Digest) -> int | None:
        """What this copy wrote, or a blob file the layout directory holds already."""
        if digest in self._sizes:
            return self._sizes[digest]
        if isinstance(self.sink, DirSink) and self.sink.has(blob_name(digest)):
            return os.path.getsize(self.sink._path(blob_name(digest)))
        return None

    def _put(self, stream: BinaryIO, desc: Descriptor) -> Descriptor:
        name = blob_name(desc.digest)
        if self.sink.has(name):
            return desc
        reader = VerifyingReader(stream, desc.digest, desc.size, what=f"blob {desc.digest}")
        self.sink.put_stream(name, reader, desc.size)  # type: ignore[arg-type]
        reader.finish()
        self._sizes[desc.digest] = desc.size
        return desc

    def write_blob(self, stream: BinaryIO, desc: Descriptor, reopen=None) -> Descriptor:  # type: ignore[no-untyped-def]
        if desc.size < 0:
            return self._spooled(stream, desc.media_type, desc.digest)
        return self._put(stream, desc)

    def layer_present(self, image: SourceImage, index: int) -> bool:
        return self.wants_tar and self.sink.has(blob_name(image.layers[index].diff_id))

    def write_layer_tar(
        self,
        image: SourceImage,
        index: int,
        stream: BinaryIO,
        size: int | None,
        turn: Callable[[], None] | None = None,
    ) -> Descriptor:
        from hood.places.convert import layer_media_type

        layer = image.layers[index]
        media_type = layer_media_type(self.default_format, "none")
        if size is None or size < 0:
            return self._spooled(stream, media_type, layer.diff_id)
        return self._put(stream, Descriptor(media_type, layer.diff_id, size))

    def _spooled(self, stream: BinaryIO, media_type: str, digest: Digest | None) -> Descriptor:
        """A blob of unknown size: spooled to a temp file first (a tar's size goes first)."""
        import tempfile

        with tempfile.TemporaryFile() as spool:
            hasher = digest.hasher() if digest is not None else new_hasher("sha256")
            size = 0
            while chunk := stream.read(1 << 20):
                hasher.update(chunk)
                spool.write(chunk)
                size += len(chunk)
            actual = Digest.from_hasher(hasher)
            if digest is not None and actual != digest:
                raise HoodError(f"blob {digest}: the bytes hash to {actual}")
            spool.seek(0)
            return self._put(spool, Descriptor(media_type, actual, size))  # type: ignore[arg-type]

    def write_new_blob(self, chunks, media_type: str, reopen=None) -> Descriptor:  # type: ignore[no-untyped-def]
        return self._spooled(_ChunkReader(chunks), media_type, None)

    def _name(self, raw: bytes, media_type: str, names: list[str]) -> None:
        """The document as a blob, and an index.json entry for each of its names."""
        digest = Digest.of_bytes(raw)
        name = blob_name(digest)
        if not self.sink.has(name):
            self.sink.put_bytes(name, raw)
        base: dict = {"mediaType": media_type, "digest": str(digest), "size": len(raw)}
        names = [self.ref] if self.ref else names
        if not names:
            # Unnamed: one entry per digest (an earlier unnamed one is replaced).
            self._index = [m for m in self._index if m.get("digest") != str(digest) or _ref_of(m)]
            self._index.append(base)
        for text in names:
            self._index = [m for m in self._index if _ref_of(m) != _ref_name(text, self.ref)]
            self._index.append({**base, "annotations": _annotations(text, self.ref)})

    def put_index(self, raw: bytes, media_type: str, names: list[str]) -> None:
        self._name(raw, media_type, names)

    def put_image(self, image: WrittenImage) -> None:
        if image.child:
            name = blob_name(image.manifest_digest)
            if not self.sink.has(name):
                self.sink.put_bytes(name, image.manifest_raw)
            return
        self._name(image.manifest_raw, image.manifest_media_type, image.names)
        if self.docker_save:
            from hood.core import reference

            tags = []
            for text in image.names:
                with contextlib.suppress(HoodError):
                    ref = reference.parse(text)
                    if ref.tag:
                        tags.append(ref.familiar())
                        self._repositories.setdefault(ref.familiar_name, {})[ref.tag] = (
                            image.layers[-1].diff_id.hex if image.layers else ""
                        )
            self._manifest_json.append(
                {
                    "Config": blob_name(image.config_descriptor.digest),
                    "RepoTags": tags or None,
                    "Layers": [blob_name(layer.blob.digest) for layer in image.layers],
                    "LayerSources": {
                        str(layer.diff_id): {
                            "mediaType": layer.blob.media_type,
                            "size": layer.blob.size,
                            "digest": str(layer.blob.digest),
                        }
                        for layer in image.layers
                    }
                    or None,
                }
            )

    def commit(self) -> None:
        index = {"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": self._index}
        self.sink.put_bytes("index.json", dumps(index, separators=(",", ":")).encode())
        if self.docker_save:
            items = [{k: v for k, v in m.items() if v is not None or k == "RepoTags"} for m in self._manifest_json]
            self.sink.put_bytes("manifest.json", (dumps(items, separators=(",", ":")) + "\n").encode())
        self.sink.put_bytes("oci-layout", OCI_LAYOUT)
        if self.docker_save and self._repositories:
            repos = {k: dict(sorted(v.items())) for k, v in sorted(self._repositories.items())}
            self.sink.put_bytes("repositories", (dumps(repos, separators=(",", ":")) + "\n").encode())
        self.sink.commit()

    def abort(self) -> None:
        self.sink.abort()


def _ref_name(text: str, ref: str) -> str:
    if ref:
        return ref
    from hood.core import reference

    try:
        parsed = reference.parse(text)
    except HoodError:
        return text
    return parsed.tag or str(parsed.digest or "")


def _ref_of(entry: dict) -> str:
    annotations = entry.get("annotations")
    return str(annotations.get(REF_NAME, "")) if isinstance(annotations, dict) else ""


def _annotations(text: str, ref: str) -> dict[str, str]:
    if ref:
        return {REF_NAME: ref}
    from hood.core import reference

    try:
        parsed = reference.parse(text)
    except HoodError:
        return {REF_NAME: text}
    return {IMAGE_NAME: str(parsed), REF_NAME: parsed.tag or ""}


class _ChunkReader(io.RawIOBase):
    def __init__(self, chunks) -> None:  # type: ignore[no-untyped-def]
        self.chunks = iter(chunks)
        self.buf = b""

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        while not self.buf:
            self.buf = next(self.chunks, b"")
            if not self.buf:
                return b""
        if n is None or n < 0:
            n = len(self.buf)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

