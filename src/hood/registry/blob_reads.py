"""Blob reads: HEAD for existence, a resumable download teed into a partial file (a pull),
a stream from byte 0 with nothing on disk (a copy), and a small blob (a config) read whole
into memory and verified; the part of RegistryClient that reads /v2/<repo>/blobs/."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx

from hood.core.digest import Digest
from hood.core.errors import DigestMismatch, ManifestError
from hood.core.imageconfig import MAX_CONFIG_SIZE
from hood.registry import guard
from hood.registry.blob_stream import BlobStream
from hood.registry.blobs import BlobReader
from hood.registry.bodies import DEADLINE_EXTENSION, decoded_pieces
from hood.registry.connection import Connection
from hood.registry.names import check_repository


class BlobReads(Connection):
    """Mixed into RegistryClient."""

    def blob_exists(self, repo: str, digest: Digest) -> bool:
        check_repository(repo)
        response = self._blob_request(repo, digest, "HEAD")
        with contextlib.closing(response):
            if response.status_code == 200:
                return True
            if response.status_code == 404:
                return False
            self._raise_for(response, f"blob {self._display(repo)}@{digest}", repo)

    def fetch_blob(
        self,
        repo: str,
        digest: Digest,
        size: int,
        partial_path: Path | str,
        *,
        urls: Sequence[str] = (),
    ) -> BlobReader:
        """A stream of the whole blob from byte 0, resumable, teed into `partial_path`.

        The caller hashes what it reads (VerifyingReader), deletes the partial file when the
        blob verified — or when it did not — and closes the reader. A foreign layer (its
        descriptor has `urls`) is taken from the registry when it has it; hood never fetches
        the `urls` themselves."""
        check_repository(repo)
        return BlobReader(self, repo, digest, size, Path(partial_path), tuple(urls))

    def stream_blob(self, repo: str, digest: Digest, size: int) -> BlobStream:
        """The blob from byte 0 as a stream, nothing written to disk (a copy passes it on,
        and its destination checks the digest): a broken connection is resumed with
        `Range`, at most the client's RetryPolicy times in a row. Reading past `size`
        fails at once."""
        check_repository(repo)
        return BlobStream(self, repo, digest, size)

    @contextlib.contextmanager
    def fetch_blob_bytes(
        self, repo: str, digest: Digest, size: int, limit: int = MAX_CONFIG_SIZE
    ) -> Iterator[bytes]:
        """A small blob (a config) in memory, verified against digest and size."""
        check_repository(repo)
        shown = f"blob {self._display(repo)}@{digest}"
        if size > limit:
            raise ManifestError(f"{shown}: {size} bytes is more than the {limit} allowed")
        _, data = self._get_whole(
            lambda: self._blob_request(repo, digest, headers={"Accept-Encoding": "identity"}),
            lambda response: _read_exactly_at_most(response, size, shown),
            shown,
            repo,
        )
        if len(data) != size:
            raise DigestMismatch(f"{shown}: size mismatch: expected {size} bytes, got {len(data)}")
        digest.verify_bytes(data, what=shown)
        yield data


def _read_exactly_at_most(response: httpx.Response, size: int, shown: str) -> bytes:
    """The body (decoded if the registry encoded it anyway), within the request's deadline,
    refused as soon as it is longer than `size`."""
    chunks: list[bytes] = []
    total = 0
    at, seconds = response.extensions.get(DEADLINE_EXTENSION) or (None, None)
    with guard.deadline(at, seconds):
        for chunk in decoded_pieces(response, shown):
            total += len(chunk)
            if total > size:
                raise DigestMismatch(f"{shown}: more than the {size} bytes its descriptor promises")
            chunks.append(chunk)
    return b"".join(chunks)
