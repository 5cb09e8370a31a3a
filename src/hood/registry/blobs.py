"""Resumable blob downloads: BlobReader tees the network into a partial file.

A partial file is resumed only from where it came from: the registry and repository that
sent its bytes are recorded beside it (`NAME.origin`, written before the first byte), and a
partial file from anywhere else, or of unknown origin, is started over. A registry that sent
wrong bytes for a digest therefore cannot spoil the next pull of that digest from another."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from hood.core.digest import Digest
from hood.core.errors import DigestMismatch, NotFound, RegistryError
from hood.core.fileio import write_atomic
from hood.core.textsafe import quote_untrusted
from hood.registry.bodies import content_encodings, decoded_pieces

if TYPE_CHECKING:
    from typing import NoReturn, Protocol

    from hood.registry.retry import RetryPolicy

    class BlobClient(Protocol):
        """What a BlobReader asks of the RegistryClient that opened it."""

        host: str
        retry: RetryPolicy

        def _display(self, repo: str) -> str: ...
        def _url(self, path: str) -> httpx.URL: ...
        def _transport_error(
            self, exc: Exception, url: str | httpx.URL, tls_of: str | None = None
        ) -> RegistryError: ...
        def _raise_for(
            self, response: httpx.Response, what: str, repo: str, push: bool = False
        ) -> NoReturn: ...
        def _blob_request(
            self,
            repo: str,
            digest: Digest,
            method: str = "GET",
            headers: dict[str, str] | None = None,
        ) -> httpx.Response: ...

CHUNK = 1 << 20
FSYNC_EVERY = 8 << 20
# A connection that brought less than this before failing made no progress worth the name:
# it counts against the retry policy's tries (a registry sending one new byte per connection
# then stalling is not "making progress").
MIN_PROGRESS = 1 << 20
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


class BlobReader:
    """Reads one blob from byte 0: first what `partial` already holds, then the network.

    What comes from the network is appended to `partial` (fsync'd every 8 MiB and on close). A
    dropped connection or a stall resumes with `Range: bytes=N-`; a server that ignores Range
    (200) has its first N bytes skipped; a wrong Content-Range makes it start over without
    Range. Failures are bounded by the client's RetryPolicy, in tries and in time; only a
    connection that brought MIN_PROGRESS bytes (or the rest of the blob) resets them.

    A body the registry sent with a Content-Encoding (asked for identity or not) is decoded
    as it streams; a ranged answer so encoded is asked for again without Range."""

    def __init__(
        self,
        client: BlobClient,
        repo: str,
        digest: Digest,
        size: int,
        partial: Path,
        urls: tuple[str, ...] = (),
    ) -> None:
        self.urls = urls
        if size < 0:
            raise ValueError("negative blob size")
        self._client = client
        self.repo = repo
        self.digest = digest
        self.size = size
        self.partial = partial
        self.shown = f"blob {client._display(repo)}@{digest}"
        partial.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(partial, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            have = self._resumable(os.fstat(self._fd).st_size)
        except BaseException:
            os.close(self._fd)
            raise
        self.resumed_from = have  # bytes replayed from an earlier attempt
        self._have = have  # bytes in the partial file == network offset
        self._pos = 0  # bytes handed to the caller
        self._response: httpx.Response | None = None
        self._iter: Iterator[bytes] | None = None
        self._buf = b""
        self._skip = 0
        self._range_broken = False
        self._unsynced = 0
        self._failures = 0
        self._spent = 0.0
        self._progress_from = have  # where the current connection (or try) started
        self.reconnects = 0
        self.closed = False

    @property
    def origin(self) -> str:
        return f"{self._client.host}/{self.repo}"

    @property
    def origin_path(self) -> str:
        return origin_path(self.partial)

    def _resumable(self, have: int) -> int:
        """How much of the partial file to resume from: all of it when it came from this
        registry and repository and is no longer than the blob, else nothing (truncated).
        A fresh start records where the bytes will come from, before the first byte."""
        if 0 < have <= self.size:
            try:
                with open(self.origin_path, encoding="utf-8", errors="replace") as f:
                    recorded = f.read()
            except (FileNotFoundError, NotADirectoryError):
                recorded = None
            if recorded == self.origin:
                return have
        if have:
            os.ftruncate(self._fd, 0)
        write_atomic(self.origin_path, self.origin.encode(), 0o600)
        return 0

    # file-like surface
    def readable(self) -> bool:
        return True

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def readinto(self, buf: bytearray | memoryview) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def read(self, n: int = -1) -> bytes:
        if self.closed:
            raise ValueError("read from a closed blob stream")
        if n is None or n < 0:
            parts = []
            while chunk := self.read(CHUNK):
                parts.append(chunk)
            return b"".join(parts)
        if n == 0:
            return b""
        if self._pos < self._have:
            data = os.pread(self._fd, min(n, self._have - self._pos), self._pos)
            if not data:
                raise RegistryError(f"{self.shown}: partial file {self.partial} shrank while read")
            self._pos += len(data)
            return data
        if self._pos >= self.size:
            self._check_end()
            return b""
        data = self._from_network(min(n, self.size - self._pos))
        os.pwrite(self._fd, data, self._pos)
        self._pos += len(data)
        self._have = self._pos
        self._unsynced += len(data)
        if self._unsynced >= FSYNC_EVERY:
            os.fsync(self._fd)
            self._unsynced = 0
        return data

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._drop_response()
        try:
            if self._unsynced:
                os.fsync(self._fd)
        finally:
            os.close(self._fd)

    # network side
    def _drop_response(self) -> None:
        if self._response is not None:
            self._response.close()
        self._response, self._iter, self._buf = None, None, b""

    def _check_end(self) -> None:
        """At `size` bytes: a body that goes on is not this blob."""
        if self._iter is None:
            return
        try:
            extra = self._next_chunk_raw()
        except (httpx.TransportError, httpx.StreamError):
            extra = b""
        self._drop_response()
        if extra:
            raise DigestMismatch(
                f"{self.shown}: the registry sent more than the {self.size} bytes its descriptor promises"
            )

    def _next_chunk_raw(self) -> bytes:
        if self._buf:
            data, self._buf = self._buf, b""
            return data
        assert self._iter is not None
        for chunk in self._iter:
            if chunk:
                return chunk
        return b""

    def _from_network(self, n: int) -> bytes:
        while True:
            try:
                if self._iter is None:
                    self._open()
                data = self._next_chunk_raw()
                while data and self._skip:
                    cut = min(self._skip, len(data))
                    data, self._skip = data[cut:], self._skip - cut
                    if not data:
                        data = self._next_chunk_raw()
                if not data:
                    raise _Premature
            except _Reopen:
                continue
            except (httpx.TransportError, httpx.StreamError, _Premature) as exc:
                self._drop_response()
                self._failed(exc)
                continue
            if len(data) > n:
                data, self._buf = data[:n], data[n:]
            return data

    def _failed(self, exc: Exception) -> None:
        if self._have - self._progress_from >= MIN_PROGRESS:
            self._failures, self._spent = 0, 0.0  # real progress since the last failure
        self._progress_from = self._have
        self._failures += 1
        self.reconnects += 1
        retry = self._client.retry
        if self._failures >= retry.attempts:
            if isinstance(exc, _Premature):
                raise RegistryError(
                    f"{self.shown}: the registry kept ending the body early, at byte {self._have} "
                    f"of {self.size}; try again later"
                )
            raise self._client._transport_error(
                exc, self._client._url(f"/v2/{self.repo}/blobs/{self.digest}")
            ) from None
        delay = retry.backoff(self._failures)
        if not retry.fits(delay, self._spent):
            raise RegistryError(f"{self.shown}: download failed at byte {self._have}: {exc}")
        self._spent = retry.wait(delay, self._spent)

    def _open(self) -> None:
        offset = self._have
        headers = {"Accept-Encoding": "identity"}
        ranged = offset > 0 and not self._range_broken
        if ranged:
            headers["Range"] = f"bytes={offset}-"
        response = self._client._blob_request(self.repo, self.digest, headers=headers)
        status = response.status_code
        try:
            encoded = status in (200, 206) and bool(content_encodings(response, self.shown))
        except RegistryError:  # an encoding hood does not decode
            response.close()
            raise
        if encoded and ranged and status == 206:
            # a range of encoded bytes cannot be decoded from its middle: ask for it all
            response.close()
            self._range_broken = True
            raise _Reopen
        if status == 404 and self.urls:
            response.close()
            shown_urls = ", ".join(quote_untrusted(u, 200) for u in self.urls[:3])
            raise NotFound(
                f"{self.shown} is a foreign layer the registry does not have; its descriptor "
                f"points to {shown_urls}, which hood does not fetch (non-distributable content: "
                "pull it with a tool licensed to, or push the image with the layer included)"
            )
        if ranged and status == 206:
            match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
            if (
                match is None
                or int(match.group(1)) != offset
                or int(match.group(2)) != self.size - 1
                or match.group(3) not in ("*", str(self.size))
            ):
                response.close()
                self._range_broken = True
                raise _Reopen
            self._skip = 0
        elif status == 200:
            self._skip = offset
            length = response.headers.get("content-length", "")
            if not encoded and length.isascii() and length.isdigit() and int(length) > self.size:
                response.close()
                raise DigestMismatch(
                    f"{self.shown}: the registry announces {length} bytes, the descriptor {self.size}"
                )
        elif ranged and status == 416:
            response.close()
            self._range_broken = True
            raise _Reopen
        else:
            with contextlib.closing(response):
                self._client._raise_for(response, self.shown, self.repo)
        self._response = response
        # as received (decoded, if encoded): a chunk buffer would lose bytes on error
        self._iter = decoded_pieces(response, self.shown)


class _Premature(Exception):
    def __str__(self) -> str:
        return "the body ended early"


class _Reopen(Exception):
    """Internal: open the blob again (without Range)."""


def origin_path(partial: str | os.PathLike[str]) -> str:
    """Where the origin of a partial blob file is recorded (`X.partial` -> `X.origin`)."""
    return os.path.splitext(os.fspath(partial))[0] + ".origin"
