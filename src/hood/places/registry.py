"""A registry repository as a place (`docker://HOST/NAME[:TAG|@DIGEST]`).

Read: the reference resolves to a manifest or an index (one platform, or every one with
--all); the config is fetched whole and verified; blobs are streamed (resumed with Range,
never written to disk) and verified by whoever takes them.
Written: a blob the repository has (HEAD) is not sent; one in another repository of the
same registry is mounted; the rest go up as resumable chunked uploads; manifests last,
each platform's by digest and the index (or the single manifest) by tag."""

from __future__ import annotations

import contextlib
import io
import os
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, BinaryIO

from hood.core import oci
from hood.core.digest import Digest
from hood.core.errors import DigestMismatch, ManifestError, PlatformError
from hood.core.imageconfig import MAX_CONFIG_SIZE, ImageConfig
from hood.core.oci import Descriptor, Index, Manifest
from hood.core.platform import Platform
from hood.core.reference import Reference
from hood.core.textsafe import quote_untrusted
from hood.places.model import (
    ImageDestination,
    ImageSource,
    KnownBlob,
    Layer,
    SourceImage,
    WrittenImage,
)

if TYPE_CHECKING:
    from hood.registry.client import RegistryClient

READ = 1 << 20
SMALL = 1 << 20  # blobs up to this size go up in one PUT


def read_at_most(stream: BinaryIO, limit: int) -> bytes:
    parts, total = [], 0
    while total < limit:
        data = stream.read(min(READ, limit - total))
        if not data:
            break
        parts.append(data)
        total += len(data)
    return b"".join(parts)


def same_registry(repository: str, ref: Reference) -> str | None:
    """The path of `repository` (`host/path`) when it is on `ref`'s registry, else None."""
    host, _, path = repository.partition("/")
    if not path:
        return None
    hosts = {ref.domain}
    if ref.domain == "docker.io":
        hosts |= {"index.docker.io", "registry-1.docker.io"}
    return path if host in hosts else None


class RegistrySource(ImageSource):
    """What a reference names in a registry. `known_config(digest)` may return a config
    the caller already holds (the store: a pull of an image it has fetches no config);
    `max_layers` refuses, before any blob is fetched, an image of more layers (the store's
    limit: docker's, as many as an overlay mount takes)."""

    def __init__(
        self,
        client: RegistryClient,
        ref: Reference,
        known_config: Callable[[Digest], ImageConfig | None] | None = None,
        max_layers: int | None = None,
    ) -> None:
        self.client = client
        self.ref = ref
        self.description = f"docker://{ref}"
        self.known_config = known_config
        self.max_layers = max_layers
        self._index: Index | None = None
        self.digest: Digest | None = None  # what the reference resolved to, once read

    def images(
        self, *, platform: Platform | None = None, all_platforms: bool = False
    ) -> list[SourceImage]:
        ref = self.ref
        fetched = self.client.get_manifest(ref.path, ref.digest or ref.tag or "latest")
        self.digest = fetched.digest
        doc = oci.parse_document(fetched.raw, fetched.content_type, what=f"manifest {ref}")
        names = [str(ref)] if ref.tag and ref.digest is None else []
        if isinstance(doc, Manifest):
            image = self._image(doc, None)
            have = image.config.platform
            if platform is not None and not platform.matches(have):
                raise PlatformError(
                    f"image {ref} is {quote_untrusted(str(have), 200)}, which does not match "
                    f"the requested platform {platform}"
                )
            image.names = names
            return [image]
        self._index = doc
        if all_platforms:
            picks = [d for d in doc.manifests if d.media_type in oci.MANIFEST_TYPES or not d.media_type]
        else:
            picks = [doc.select(platform or Platform.host())]
        out = []
        for pick in picks:
            inner = self.client.get_manifest(ref.path, pick.digest)
            manifest = oci.parse_document(inner.raw, inner.content_type, what=f"manifest {pick.digest}")
            if not isinstance(manifest, Manifest):
                raise ManifestError(f"{ref}: index entry {pick.digest} is not an image manifest")
            image = self._image(manifest, pick.platform)
            image.names = [] if all_platforms else names
            out.append(image)
        return out

    def _image(self, manifest: Manifest, platform: Platform | None) -> SourceImage:
        desc = manifest.config
        self._check_depth(len(manifest.layers), "manifest")  # before any blob is fetched
        config = self.known_config(desc.digest) if self.known_config is not None else None
        if config is None:
            what = f"{self.ref}: config {desc.digest}"
            if desc.size > MAX_CONFIG_SIZE:
                raise ManifestError(f"{what} is too large ({desc.size} bytes)")
            with self.client.fetch_blob_bytes(self.ref.path, desc.digest, desc.size) as raw:
                config = ImageConfig.parse(raw, f"image config {desc.digest}")
        self._check_depth(len(config.diff_ids), "config")
        if len(config.diff_ids) != len(manifest.layers):
            raise ManifestError(
                f"{self.ref}: config has {len(config.diff_ids)} diff_ids but the manifest "
                f"has {len(manifest.layers)} layers"
            )
        layers = [Layer(d, diff) for d, diff in zip(manifest.layers, config.diff_ids, strict=True)]
        return SourceImage(config, desc.media_type, layers, manifest, platform=platform)

    def _check_depth(self, layers: int, where: str) -> None:
        if self.max_layers is not None and layers > self.max_layers:
            raise ManifestError(
                f"{self.ref}: max depth exceeded: its {where} lists {layers} layers, more than "
                f"the {self.max_layers} an image may have (as in docker)"
            )

    def index(self) -> Index | None:
        return self._index

    def index_names(self) -> list[str]:
        return [str(self.ref)] if self.ref.tag and self.ref.digest is None else []

    def open_blob(self, image: SourceImage, desc: Descriptor) -> BinaryIO:
        """The blob, streamed (resumed with Range if the connection breaks), nothing kept
        on disk. Its digest is checked by whoever takes it: a registry destination and a
        layout verify what they write, the store checks the diff ID of what it extracts,
        `hood digests` hashes it itself."""
        if desc.digest == image.config.id:
            return io.BytesIO(image.config.raw)
        if desc.urls:
            from hood.core.errors import NotFound

            if not self.client.blob_exists(self.ref.path, desc.digest):
                raise NotFound(
                    f"{self.ref}: layer {desc.digest} is a foreign layer the registry does not "
                    "have; hood does not fetch its urls"
                )
        return self.client.stream_blob(self.ref.path, desc.digest, desc.size)  # type: ignore[return-value]

    def known_blobs(self, image: SourceImage, index: int) -> list[KnownBlob]:
        """The blob is in this repository: a destination on the same registry mounts it."""
        blob = image.layers[index].blob
        return [KnownBlob(blob.digest, self.ref.repository, blob.media_type, blob.size)]



def _piece_size() -> int | None:
    """Bytes per PATCH of an upload: HOOD_UPLOAD_PIECE, else None (one PATCH per blob, as
    docker sends it: a PATCH that breaks off resumes where the registry stands anyway)."""
    from hood.core.errors import HoodError

    text = os.environ.get("HOOD_UPLOAD_PIECE", "")
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise HoodError(f"HOOD_UPLOAD_PIECE={text!r} is not a number of bytes")
    return int(text)


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    try:
        while data := stream.read(READ):
            yield data
    finally:
        stream.close()


class RegistryDestination(ImageDestination):
    """A repository to push to; `ref` names it and the tag (or digest) to put."""

    prefers_compressed = True
    default_format = "docker"
    holds_indexes = True
    concurrency = 4

    def __init__(
        self,
        client: RegistryClient,
        ref: Reference,
        progress: Callable[[Digest, int], None] | None = None,
    ) -> None:
        self.client = client
        self.ref = ref
        self.repo = ref.path
        self.repository = ref.repository  # host/path, as distribution metadata names it
        self.description = f"docker://{ref}"
        self.progress = progress
        self._sizes: dict[Digest, int] = {}
        self._lock = threading.Lock()
        self.piece = _piece_size()
        uploads = os.environ.get("HOOD_MAX_CONCURRENT_UPLOADS", "")
        if uploads.isdigit() and int(uploads) > 0:
            self.concurrency = int(uploads)
        self.written: list[tuple[str, Digest, int]] = []  # (what, digest, size) of manifests put

    def prepare(self) -> None:
        """Probe the registry (scheme, auth challenge) in a thread while the source is
        read: the first HEAD then goes out at once."""

        def ping() -> None:
            with contextlib.suppress(Exception):
                self.client.ping()

        threading.Thread(target=ping, name="registry-ping", daemon=True).start()

    def blob_size(self, digest: Digest) -> int | None:
        with self._lock:
            if digest in self._sizes:
                return self._sizes[digest]
        size = self.client.blob_size(self.repo, digest)
        if size is not None:
            with self._lock:
                self._sizes[digest] = size
        return size

    def mount_blob(self, digest: Digest, repository: str) -> bool:
        path = same_registry(repository, self.ref)
        if path is None or path == self.repo:
            return False
        return self.client.mount_blob(self.repo, digest, path)

    def _tell(self, digest: Digest | None) -> Callable[[int], None] | None:
        if self.progress is None or digest is None:
            return None
        progress = self.progress
        return lambda n: progress(digest, n)

    def write_blob(
        self, stream: BinaryIO, desc: Descriptor, reopen: Callable[[], BinaryIO] | None = None
    ) -> Descriptor:
        if 0 <= desc.size <= min(SMALL, self.piece or SMALL):  # a config, a small layer: one PUT
            with contextlib.closing(stream):
                data = read_at_most(stream, desc.size + 1)
            if len(data) != desc.size:
                raise DigestMismatch(f"blob {desc.digest}: {len(data)} bytes, not {desc.size}")
            self.client.upload_bytes(self.repo, desc.digest, data)
            with self._lock:
                self._sizes[desc.digest] = desc.size
            return desc
        first = [stream]

        def opener() -> Iterator[bytes]:
            if first:
                return _chunks(first.pop())
            if reopen is None:
                from hood.core.errors import RegistryError

                raise RegistryError(f"{self.description}: the upload of {desc.digest} was lost")
            return _chunks(reopen())

        digest, size = self.client.upload_stream(
            self.repo, opener, digest=desc.digest, size=desc.size if desc.size >= 0 else None,
            progress=self._tell(desc.digest), piece=self.piece,
        )  # fmt: skip
        with self._lock:
            self._sizes[digest] = size
        return Descriptor(desc.media_type, digest, size, desc.urls)

    def write_new_blob(
        self,
        chunks: Iterator[bytes],
        media_type: str,
        reopen: Callable[[], Iterator[bytes]] | None = None,
    ) -> Descriptor:
        first = [chunks]

        def opener() -> Iterator[bytes]:
            if first:
                return first.pop()
            if reopen is None:
                from hood.core.errors import RegistryError

                raise RegistryError(f"{self.description}: an upload was lost")
            return reopen()

        digest, size = self.client.upload_stream(self.repo, opener, piece=self.piece)
        with self._lock:
            self._sizes[digest] = size
        return Descriptor(media_type, digest, size)

    def put_image(self, image: WrittenImage) -> None:
        ref = self.ref
        digest = image.manifest_digest
        if image.child or ref.tag is None or ref.digest is not None:
            target: str | Digest = digest
            if not image.child and ref.digest is not None and ref.digest != digest:
                raise ManifestError(
                    f"{ref} names {ref.digest}, but the manifest written is {digest}"
                )
        else:
            target = ref.tag
        self.client.put_manifest(self.repo, target, image.manifest_raw, image.manifest_media_type)
        self.written.append(("manifest", digest, len(image.manifest_raw)))

    def put_index(self, raw: bytes, media_type: str, names: list[str]) -> None:
        ref = self.ref
        digest = Digest.of_bytes(raw)
        if ref.digest is not None and ref.digest != digest:
            raise ManifestError(f"{ref} names {ref.digest}, but the index written is {digest}")
        target: str | Digest = ref.tag if ref.tag and ref.digest is None else digest
        self.client.put_manifest(self.repo, target, raw, media_type)
        self.written.append(("index", digest, len(raw)))
