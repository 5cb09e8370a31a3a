"""tar-split metadata, the `tar-split.json.gz` dockerd keeps beside every layer.

Format (vbatts/tar-split `tar/storage` JSON packer, as dockerd writes it): gzip of
one compact JSON object per line, fields in this order, `position` counting from 0:

  segment: {"type":2,"payload":"<base64 raw bytes>","position":N}
  file:    {"type":1,"name":"<path>","size":N,"payload":"<base64 crc64>","position":N}

For files, `name` is the tar header name as read (not cleaned); when it is not valid
UTF-8 (or contains U+FFFD) `name_raw` (base64 of the raw bytes) replaces it; `size`
is omitted when 0, and `payload` is `null` when there is no content (size 0),
otherwise the 8 bytes of Go's crc64 ISO of the content, big-endian. Segments carry
every byte that is not file content: headers (with PAX/GNU long-name records), the
padding after content, the end-of-archive blocks and whatever trails them.

The JSON is encoded the way Go's encoding/json does (HTML-safe escapes, \\u00XX
control characters), so a file written here is byte-identical after gunzip to the
one dockerd writes for the same tar.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from fastcrc import crc64

from hood.core.errors import LayerError
from hood.core.jsonio import go_string, loads
from hood.layer.beneath import open_beneath
from hood.layer.tarheader import clean_name

SEGMENT = 2
FILE = 1

_CHUNK = 1 << 20

def _name_field(name: bytes) -> str:
    """The `"name":...` or `"name_raw":...` member for a tar name (raw bytes)."""
    try:
        text = name.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or "\ufffd" in text:
        return '"name_raw":"' + base64.b64encode(name).decode("ascii") + '"'
    if not text:
        return ""  # omitempty
    return '"name":' + go_string(text, html=True, short_bf=False)  # tar-split's Go encoder


class TarSplitWriter:
    """Writes tar-split entries to a binary stream (the caller gzips or not).

    Segments are buffered and merged exactly where upstream merges them: `add_raw`
    accumulates bytes, and the accumulated bytes become one segment at the next file
    entry or at `flush_raw`.
    """

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._pos = 0
        self._lines: list[str] = []
        self._pending = 0
        self._raw: list[bytes] = []

    def add_raw(self, data: bytes) -> None:
        if data:
            self._raw.append(bytes(data))

    def flush_raw(self) -> None:
        if self._raw:
            data = b"".join(self._raw) if len(self._raw) > 1 else self._raw[0]
            self._raw = []
            self.segment(data)

    def segment(self, data: bytes) -> None:
        payload = base64.b64encode(data).decode("ascii")
        self._lines.append(f'{{"type":2,"payload":"{payload}","position":{self._pos}}}\n')
        self._pos += 1
        self._pending += len(data)
        if self._pending > _CHUNK or len(self._lines) > 512:
            self._write()

    def file(self, name: bytes, size: int, crc: int | None) -> None:
        self.flush_raw()
        parts = ['{"type":1']
        name_field = _name_field(name)
        if name_field:
            parts.append(name_field)
        if size:
            parts.append(f'"size":{size}')
        if crc is None:
            parts.append('"payload":null')
        else:
            parts.append(
                '"payload":"' + base64.b64encode(crc.to_bytes(8, "big")).decode("ascii") + '"'
            )
        parts.append(f'"position":{self._pos}}}\n')
        self._lines.append(",".join(parts))
        self._pos += 1
        if len(self._lines) > 512:
            self._write()

    def _write(self) -> None:
        if self._lines:
            self._out.write("".join(self._lines).encode("utf-8"))
            self._lines = []
            self._pending = 0

    def close(self) -> None:
        """Write everything out (does not close the underlying stream)."""
        self.flush_raw()
        self._write()


@dataclass(frozen=True)
class Entry:
    type: int
    position: int
    payload: bytes | None
    name: bytes = b""
    size: int = 0


def open_tar_split(path: Path) -> BinaryIO:
    """A layer's tar-split.json.gz, opened for reading its JSON lines."""
    from isal import igzip

    return igzip.open(path, "rb")  # type: ignore[return-value]


def read_entries(stream: BinaryIO) -> Iterator[Entry]:
    """Parse tar-split JSON lines (already decompressed)."""
    for lineno, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            obj = loads(line)
            etype = obj["type"]
            payload = obj.get("payload")
            raw = base64.b64decode(payload, validate=True) if payload is not None else None
            if etype == SEGMENT:
                yield Entry(SEGMENT, obj.get("position", 0), raw)
            elif etype == FILE:
                if "name_raw" in obj and obj["name_raw"]:
                    name = base64.b64decode(obj["name_raw"], validate=True)
                else:
                    name = obj.get("name", "").encode("utf-8", "surrogateescape")
                size = int(obj.get("size", 0))
                if size < 0:
                    raise ValueError("negative size")
                yield Entry(FILE, obj.get("position", 0), raw, name, size)
            else:
                raise ValueError(f"unknown entry type {etype!r}")
        except (ValueError, KeyError, TypeError) as exc:
            raise LayerError(f"tar-split metadata line {lineno}: {exc}") from None


_TYPE = re.compile(rb'"type":(\d+)')
_SIZE = re.compile(rb'"size":(\d+)')
_PAYLOAD = re.compile(rb'"payload":"([A-Za-z0-9+/]*)(=*)"')


def tar_length(stream: BinaryIO) -> int:
    """The size of the tar that tar-split lines (decompressed) rebuild: raw segments plus
    file contents. Reads each line's numbers without decoding it (keys never occur inside
    a JSON string: its quotes are escaped); a line that does not look so is parsed."""
    total = 0
    for line in stream:
        kind = _TYPE.search(line)
        if kind is None:
            if not line.strip():
                continue
            total += _entry_length(line)
            continue
        if kind.group(1) == b"1":
            size = _SIZE.search(line)
            total += int(size.group(1)) if size is not None else _entry_length(line)
        else:
            payload = _PAYLOAD.search(line)
            if payload is not None:
                n = len(payload.group(1)) + len(payload.group(2))
                total += n // 4 * 3 - len(payload.group(2))
            elif b'"payload"' in line:
                total += _entry_length(line)
    return total


def _entry_length(line: bytes) -> int:
    import io

    (entry,) = read_entries(io.BytesIO(line))  # type: ignore[arg-type]
    return entry.size if entry.type == FILE else len(entry.payload or b"")


def iter_tar(tar_split: BinaryIO, diff_dir: Path) -> Iterator[bytes | memoryview]:
    """The original tar stream, chunk by chunk, from decompressed tar-split lines and the
    files of an extracted layer. Raises LayerError for a missing or changed file."""
    root_fd = os.open(diff_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    # The directory of the last file, kept open: a tar lists a directory's files together,
    # so most files open relative to it (one open each, not one per path component).
    parent: bytes | None = None
    parent_fd = -1
    try:
        for entry in read_entries(tar_split):
            if entry.type == SEGMENT:
                if entry.payload:
                    yield entry.payload
                continue
            if entry.size == 0:
                continue
            shown = os.fsdecode(entry.name)
            what = f"layer file {shown!r}"
            rel = clean_name(entry.name)
            if rel is None or rel == b".":
                raise LayerError(f"{what}: name is not inside the layer")
            if entry.payload is None or len(entry.payload) != 8:
                raise LayerError(f"{what}: tar-split entry has no checksum")
            head, _, tail = rel.rpartition(b"/")
            try:
                if head != parent:
                    if parent_fd >= 0:
                        os.close(parent_fd)
                        parent_fd, parent = -1, None
                    parent_fd = open_beneath(root_fd, head)
                    parent = head
                fd = os.open(tail, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent_fd)
            except OSError as exc:
                raise LayerError(
                    f"{what}: cannot open {os.fsdecode(rel)!r} safely: {exc.strerror}"
                ) from None
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    raise LayerError(f"{what}: not a regular file in the layer directory")
                if st.st_size != entry.size:
                    raise LayerError(
                        f"{what}: size {st.st_size} differs from the recorded {entry.size}"
                    )
                crc = 0
                left = entry.size
                while left:
                    n = os.readv(fd, [view[: min(left, _CHUNK)]])
                    if n == 0:
                        raise LayerError(f"{what}: file shrank while reading")
                    chunk = bytes(view[:n])
                    crc = crc64.go_iso(chunk, initial=crc)
                    left -= n
                    yield chunk
                if crc != int.from_bytes(entry.payload, "big"):
                    raise LayerError(f"{what}: content differs from the layer (crc64 mismatch)")
            finally:
                os.close(fd)
    finally:
        if parent_fd >= 0:
            os.close(parent_fd)
        os.close(root_fd)


def assemble_tar(tar_split_path: Path, diff_dir: Path, out: BinaryIO) -> None:
    """Rebuild the exact uncompressed layer tar (sha256 = diff_id) into `out`."""
    with open_tar_split(tar_split_path) as meta:
        for chunk in iter_tar(meta, diff_dir):
            out.write(chunk)


def tar_sha256(tar_split_path: Path, diff_dir: Path) -> str:
    """The sha256 (hex) of the layer tar rebuilt from tar-split and `diff_dir`: what
    the layer's diff ID says it is when nothing changed. Raises LayerError for a
    missing or changed file, EOFError for truncated tar-split metadata."""
    hasher = hashlib.sha256()
    with open_tar_split(tar_split_path) as meta:
        for chunk in iter_tar(meta, diff_dir):
            hasher.update(chunk)
    return hasher.hexdigest()
