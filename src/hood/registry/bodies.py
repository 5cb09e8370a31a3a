"""Response bodies read as sent (`iter_raw`) and decoded here, with caps.

httpx decodes `Content-Encoding` (gzip, deflate, zstd) whole chunk by chunk: a 40 KB zstd
body can inflate to gigabytes before anyone counts it, and a corrupt one raises
httpx.DecodingError. Here the inflation is pulled a bounded piece at a time, so the caller's
size cap holds while inflating, and a corrupt or unsupported encoding is a RegistryError
that names the body. A registry may send an encoded body even when asked for `identity`:
that is decoded the same way (blobs included, which stay streamed).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from hood.core.errors import RegistryError
from hood.core.textsafe import quote_untrusted
from hood.registry import guard

PIECE = 64 * 1024  # the most one decoding step produces
MAX_ENCODINGS = 3  # stacked content codings accepted on one body
ZSTD_WINDOW = 8 << 20  # RFC 9659: zstd content coding windows are at most 8 MiB
ACCEPT_ENCODING = "gzip, deflate, zstd"
DEADLINE_EXTENSION = "hood.deadline"  # response.extensions: (monotonic deadline, seconds)


class _Source:
    """`read(n)` over an iterator of chunks: at most n bytes, b"" at the end."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""

    def read(self, n: int = -1) -> bytes:
        if not self._buf:
            for chunk in self._chunks:
                if chunk:
                    self._buf = chunk
                    break
            else:
                return b""
        if n is None or n < 0 or n >= len(self._buf):
            data, self._buf = self._buf, b""
        else:
            data, self._buf = self._buf[:n], self._buf[n:]
        return data


class _Corrupt(Exception):
    pass


class _Zlib:
    """gzip (every member, as Go reads them) or deflate (zlib-wrapped, else raw)."""

    def __init__(self, source: _Source, gzip: bool) -> None:
        self._src = source
        self._gzip = gzip
        self._obj = zlib.decompressobj(31 if gzip else 15)
        self._tail = b""
        self._started = False

    def read(self, n: int = -1) -> bytes:
        n = PIECE if n is None or n < 0 else min(n, PIECE)
        while True:
            data = self._tail
            if not data:
                if self._obj.eof:
                    data = self._obj.unused_data or self._src.read(PIECE)
                    if not data:
                        return b""
                    if not self._gzip:
                        raise _Corrupt("data after the end of the deflate stream")
                    self._obj = zlib.decompressobj(31)  # the next gzip member
                else:
                    data = self._src.read(PIECE)
                    if not data:
                        raise _Corrupt("the compressed stream is truncated")
            try:
                out = self._obj.decompress(data, n)
            except zlib.error:
                if self._gzip or self._started:
                    raise
                # "deflate" as some servers send it: raw, without the zlib wrapper
                self._obj = zlib.decompressobj(-15)
                out = self._obj.decompress(data, n)
            self._started = True
            # at the end of a stream what follows is in unused_data (and may linger here)
            self._tail = b"" if self._obj.eof else self._obj.unconsumed_tail
            if out:
                return out


def _zstd(source: _Source) -> Any:
    import zstandard

    dctx = zstandard.ZstdDecompressor(max_window_size=ZSTD_WINDOW)
    return dctx.stream_reader(source, read_size=PIECE, read_across_frames=True, closefd=False)


_CODECS: dict[str, Callable[[Any], Any]] = {
    "gzip": lambda src: _Zlib(src, gzip=True),
    "x-gzip": lambda src: _Zlib(src, gzip=True),
    "deflate": lambda src: _Zlib(src, gzip=False),
    "zstd": _zstd,
}


def content_encodings(response: httpx.Response, what: str) -> list[str]:
    """The codings applied to the body, in the order applied (identity left out)."""
    codings = []
    for value in response.headers.get_list("content-encoding"):
        for token in value.split(","):
            token = token.strip().lower()
            if token and token != "identity":
                codings.append(token)
    if len(codings) > MAX_ENCODINGS:
        raise RegistryError(f"{what}: the body came in {len(codings)} content codings stacked")
    for token in codings:
        if token not in _CODECS:
            raise RegistryError(
                f"{what}: the body came in Content-Encoding {quote_untrusted(token, 40)}, "
                "which hood does not decode"
            )
    return codings


def _errors() -> tuple[type[BaseException], ...]:
    import zstandard

    return (zlib.error, zstandard.ZstdError, EOFError, _Corrupt)


def decoded_pieces(response: httpx.Response, what: str) -> Iterator[bytes]:
    """The body as sent, decoded from its Content-Encoding, in pieces of at most 64 KiB
    however much a piece inflates. Network errors pass through (httpx's); a corrupt encoded
    body is a RegistryError."""
    try:
        content = response.content  # a response built in memory (read already)
    except httpx.ResponseNotRead:
        pass
    else:
        for i in range(0, len(content), PIECE):
            yield content[i : i + PIECE]
        return
    codings = content_encodings(response, what)
    if not codings:
        yield from response.iter_raw()
        return
    reader: Any = _Source(response.iter_raw())
    for token in reversed(codings):
        reader = _CODECS[token](reader)
    errors = _errors()
    shown = ", ".join(codings)
    while True:
        try:
            piece = reader.read(PIECE)
        except errors as exc:
            response.close()
            raise RegistryError(
                f"{what}: the body is not valid {shown} as its Content-Encoding says "
                f"({exc or 'undecodable'})"
            ) from None
        if not piece:
            return
        yield piece


def read_capped(response: httpx.Response, limit: int, what: str) -> bytes:
    """A whole body (decoded), refusing more than `limit` bytes as soon as they are there,
    within the request's deadline."""
    length = response.headers.get("content-length", "")
    if length.isascii() and length.isdigit() and int(length) > limit:
        response.close()
        raise RegistryError(f"{what}: body of {length} bytes is larger than the {limit} allowed")
    at, seconds = response.extensions.get(DEADLINE_EXTENSION) or (None, None)
    chunks: list[bytes] = []
    total = 0
    with guard.deadline(at, seconds):
        for piece in decoded_pieces(response, what):
            total += len(piece)
            if total > limit:
                response.close()
                raise RegistryError(f"{what}: body larger than the {limit} bytes allowed")
            chunks.append(piece)
    return b"".join(chunks)


def discard(response: httpx.Response, limit: int, what: str) -> None:
    """Read and drop a body httpx would otherwise read whole (a 401 before the retry),
    refusing more than `limit` bytes as sent; httpx then finds it read."""
    total = 0
    at, seconds = response.extensions.get(DEADLINE_EXTENSION) or (None, None)
    with guard.deadline(at, seconds):
        for chunk in response.iter_raw():
            total += len(chunk)
            if total > limit:
                response.close()
                raise RegistryError(f"{what}: body larger than the {limit} bytes allowed")
    response._content = b""  # what httpx's Response.read() returns from now on
