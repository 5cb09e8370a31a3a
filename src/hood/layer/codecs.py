"""Streaming decompression of layer blobs: gzip (multi-member), zstd (multi-frame), none.

Every reader returned here streams: memory use is bounded by the codec's window and
our read size, never by the blob.
"""

from __future__ import annotations

import io
from typing import BinaryIO

from hood.core.errors import LayerError

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# Skippable zstd frames (0x184D2A50..5F, little endian): a stream may start with one.
_ZSTD_SKIPPABLE_LOW = 0x184D2A50

COMPRESSIONS = ("gzip", "zstd", "none")
# The largest zstd window a layer may ask for: zstd's own default limit (ZSTD_WINDOWLOG_
# LIMIT_DEFAULT, 2**27). The decoder allocates the window a frame asks for, whatever the
# content: without a limit a few bytes of frame header cost gigabytes of memory.
MAX_ZSTD_WINDOW = 1 << 27


def sniff_compression(first_bytes: bytes) -> str:
    """Guess a blob's compression from its first bytes (at least 4 are needed for zstd)."""
    if first_bytes[:2] == GZIP_MAGIC:
        return "gzip"
    if first_bytes[:4] == ZSTD_MAGIC:
        return "zstd"
    if len(first_bytes) >= 4:
        magic = int.from_bytes(first_bytes[:4], "little")
        if magic & 0xFFFFFFF0 == _ZSTD_SKIPPABLE_LOW:
            return "zstd"
    return "none"


_CODEC_ERRORS: tuple[type[BaseException], ...] | None = None


def _codec_errors() -> tuple[type[BaseException], ...]:
    """The exception types meaning "this compressed stream is corrupt"."""
    global _CODEC_ERRORS
    if _CODEC_ERRORS is None:
        import gzip
        import zlib

        import zstandard
        from isal import igzip_lib, isal_zlib

        _CODEC_ERRORS = (
            EOFError,  # truncated gzip member
            gzip.BadGzipFile,
            zlib.error,
            isal_zlib.error,
            igzip_lib.IsalError,
            zstandard.ZstdError,
        )
    return _CODEC_ERRORS


class _ErrorMapping(io.RawIOBase):
    """Turn codec exceptions (corrupt data) into LayerError with a useful message."""

    def __init__(self, inner: BinaryIO, compression: str) -> None:
        self._inner = inner
        self._compression = compression

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        try:
            return self._inner.read(n)
        except _codec_errors() as exc:
            # Errors of the underlying stream (digest mismatch, network) pass through.
            if self._compression == "zstd" and "too much memory" in str(exc):
                raise LayerError(
                    "zstd frame asks for a window larger than "
                    f"{MAX_ZSTD_WINDOW >> 20} MiB (zstd's default limit); refusing it"
                ) from exc
            raise LayerError(f"corrupt {self._compression} stream: {exc}") from exc

    def readinto(self, buf) -> int:  # type: ignore[override]
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            super().close()


def open_decompressed(stream: BinaryIO, compression: str, *, threads: int = 1) -> BinaryIO:
    """A binary reader of the decompressed bytes of `stream`.

    gzip: isal's igzip, which handles multi-member streams like Go's gzip reader.
    `threads` > 0 (the default) selects `igzip_threaded`: decompression runs in a
    helper thread, overlapping with extraction; on 2 cores it measured ~7% faster
    than plain igzip for a 600 MB layer (bench/extract). With threads the helper
    reads `stream` from its own thread, so close the returned reader when done
    (it stops the thread). zstd: all frames, skippable frames ignored. For "none"
    `stream` itself is returned.
    """
    if compression == "none":
        return stream
    if compression == "gzip":
        if threads > 0:
            from isal import igzip_threaded

            inner = igzip_threaded.open(stream, "rb", threads=threads)
        else:
            from isal import igzip

            inner = igzip.IGzipFile(fileobj=stream, mode="rb")
        return _ErrorMapping(inner, "gzip")  # type: ignore[return-value]
    if compression == "zstd":
        import zstandard

        dctx = zstandard.ZstdDecompressor(max_window_size=MAX_ZSTD_WINDOW)
        inner = dctx.stream_reader(stream, read_size=1 << 20, read_across_frames=True)
        return _ErrorMapping(inner, "zstd")  # type: ignore[return-value]
    raise LayerError(f"unsupported layer compression {compression!r}")
