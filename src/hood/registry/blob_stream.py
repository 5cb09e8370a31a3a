"""A blob read from byte 0 as a stream with nothing written to disk: what a copy passes
from one registry to another, its destination checking the digest. A broken connection
resumes with `Range` (a registry that ignores it has what came already skipped), at most
the client's RetryPolicy times in a row; a body longer than the descriptor says fails."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx

from hood.core.digest import Digest
from hood.core.errors import DigestMismatch, RegistryError
from hood.registry.retry import OutOfTime

if TYPE_CHECKING:
    from hood.registry.connection import Connection


class BlobStream:
    """See BlobReads.stream_blob."""

    def __init__(self, client: Connection, repo: str, digest: Digest, size: int) -> None:
        self.client = client
        self.repo = repo
        self.digest = digest
        self.size = size
        self.pos = 0
        self.shown = f"blob {client._display(repo)}@{digest}"
        self._response: httpx.Response | None = None
        self._iter: Iterator[bytes] | None = None
        self._skip = 0
        self._failures = 0
        self._spent = 0.0
        self.closed = False

    def readable(self) -> bool:
        return True

    def __enter__(self) -> BlobStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.closed = True
        self._drop()

    def _drop(self) -> None:
        if self._response is not None:
            self._response.close()
        self._response, self._iter = None, None

    def _open(self) -> None:
        headers = {"Accept-Encoding": "identity"}
        if self.pos:
            headers["Range"] = f"bytes={self.pos}-"
        response = self.client._blob_request(self.repo, self.digest, headers=headers)
        status = response.status_code
        if self.pos and status == 206:
            start = re.match(r"bytes\s+(\d+)-", response.headers.get("content-range", ""))
            if start is None or int(start.group(1)) != self.pos:
                response.close()
                raise httpx.StreamError("the registry answered another range")
            self._skip = 0
        elif status == 200:
            self._skip = self.pos  # a registry that ignores Range: skip what we have
        else:
            with contextlib.closing(response):
                self.client._raise_for(response, self.shown, self.repo)
        self._response = response
        self._iter = response.iter_raw()

    def read(self, n: int = -1) -> bytes:
        if self.closed:
            raise ValueError("read from a closed blob stream")
        while True:
            if self._iter is None and self.pos >= self.size:
                return b""  # all of it came (a body that went on would have failed)
            try:
                if self._iter is None:
                    self._open()
                assert self._iter is not None
                data = next(self._iter, b"")
                if self._skip and data:
                    cut = min(self._skip, len(data))
                    data, self._skip = data[cut:], self._skip - cut
                    if not data:
                        continue
                if not data:
                    self._drop()
                    if self.pos >= self.size:
                        return b""
                    raise httpx.StreamError(f"the body ended at byte {self.pos} of {self.size}")
            except (httpx.TransportError, httpx.StreamError) as exc:
                self._drop()
                self._failures += 1
                if self._failures >= self.client.retry.attempts:
                    raise RegistryError(
                        f"{self.shown}: download failed at byte {self.pos}: {exc}"
                    ) from None
                try:
                    self._spent = self.client.retry.wait(
                        self.client.retry.backoff(self._failures), self._spent
                    )
                except OutOfTime:
                    raise RegistryError(
                        f"{self.shown}: download failed at byte {self.pos}: {exc}"
                    ) from None
                continue
            self._failures = 0
            self.pos += len(data)
            if self.pos > self.size:
                raise DigestMismatch(
                    f"{self.shown}: the registry sent more than the {self.size} bytes its descriptor promises"
                )
            return data

    def readinto(self, buf: bytearray | memoryview) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)
