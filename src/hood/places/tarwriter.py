"""Writing archive tars (`hood save`, oci-archive) as docker's archiver does: ustar headers
with the file type bits in the mode field, owner root:root, a PAX header only for a name
that does not fit; two zero blocks at the end, no record padding."""

from __future__ import annotations

from typing import BinaryIO

BLOCK = 512
DIR_MODE = 0o040755
FILE_MODE = 0o100644


def _octal(value: int, width: int) -> bytes:
    return f"{value:0{width - 1}o}".encode() + b"\0"


def _header(name: bytes, size: int, mode: int, mtime: int, typeflag: bytes) -> bytes:
    prefix = b""
    if len(name) > 100:
        cut = name.rfind(b"/", 0, 156)
        if cut > 0 and len(name) - cut - 1 <= 100:
            prefix, name = name[:cut], name[cut + 1 :]
        else:
            raise ValueError("name too long for ustar")
    fields = [
        name.ljust(100, b"\0"),
        _octal(mode, 8),
        _octal(0, 8),
        _octal(0, 8),
        _octal(size, 12),
        _octal(mtime, 12),
        b" " * 8,
        typeflag,
        b"\0" * 100,
        b"ustar\x0000",
        b"root".ljust(32, b"\0"),
        b"root".ljust(32, b"\0"),
        _octal(0, 8),
        _octal(0, 8),
        prefix.ljust(155, b"\0"),
        b"\0" * 12,
    ]
    header = bytearray(b"".join(fields))
    checksum = sum(header)
    header[148:156] = f"{checksum:06o}".encode() + b"\0 "
    return bytes(header)


def _pad(size: int) -> bytes:
    return b"\0" * (-size % BLOCK)


class TarWriter:
    """Entries written one after another to `out` (a file or a pipe)."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out

    def _entry_header(self, name: str, size: int, mode: int, mtime: int, typeflag: bytes) -> None:
        raw = name.encode()
        try:
            self.out.write(_header(raw, size, mode, mtime, typeflag))
        except ValueError:
            body = b" path=" + raw + b"\n"  # a PAX record: "LENGTH path=NAME\n", LENGTH counting itself
            length = len(body) + len(str(len(body)))
            length = len(body) + len(str(length))
            pax = str(length).encode() + body
            self.out.write(_header(b"PaxHeader", len(pax), 0o644, mtime, b"x"))
            self.out.write(pax + _pad(len(pax)))
            self.out.write(_header(raw[-100:], size, mode, mtime, typeflag))

    def directory(self, name: str, mtime: int = 0) -> None:
        self._entry_header(name.rstrip("/") + "/", 0, DIR_MODE, mtime, b"5")

    def file(self, name: str, data: bytes, mtime: int = 0) -> None:
        self._entry_header(name, len(data), FILE_MODE, mtime, b"0")
        self.out.write(data + _pad(len(data)))

    def stream(self, name: str, source: BinaryIO, size: int, mtime: int = 0) -> int:
        """A file of exactly `size` bytes from `source`; ValueError if it has fewer."""
        self._entry_header(name, size, FILE_MODE, mtime, b"0")
        left = size
        while left:
            chunk = source.read(min(left, 1 << 20))
            if not chunk:
                raise ValueError(f"{name}: the source ended {left} bytes early")
            self.out.write(chunk)
            left -= len(chunk)
        self.out.write(_pad(size))
        return size

    def close(self) -> None:
        self.out.write(b"\0" * (2 * BLOCK))
        self.out.flush()
