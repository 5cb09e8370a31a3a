"""Every tar header of a layer, read back from its tar-split metadata: its segments, put
end to end, are the layer tar with every file's content left out (headers, PAX and GNU
long-name records, padding, end blocks), so one pass gives every header without the
layer's content."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from hood.core.errors import LayerError
from hood.layer.tarheader import BLOCK, NO_LIMITS, ZERO_BLOCK, HeaderReader, TarHeader
from hood.layer.tarsplit import FILE, SEGMENT, open_tar_split, read_entries


def read_headers(tar_split_path: Path) -> Iterator[tuple[TarHeader, int]]:
    """Every tar header of the layer, in order, with the size tar-split recorded for it."""
    # Layers extracted before, perhaps by dockerd: only the checks, none of the limits.
    reader = HeaderReader(NO_LIMITS)
    pad = 0  # padding after the previous entry's content
    offset = 0  # where the bytes between two file entries start in the tar
    with open_tar_split(tar_split_path) as meta:
        raw: list[bytes] = []
        for entry in read_entries(meta):
            if entry.type == SEGMENT:
                if entry.payload:
                    raw.append(entry.payload)
                continue
            if entry.type != FILE:
                continue
            between = b"".join(raw)
            raw = []
            header = _header(reader, between, pad, offset, entry.name)
            pad = (-header.size) % BLOCK
            offset += len(between) + entry.size
            yield header, entry.size


def _header(reader: HeaderReader, raw: bytes, pad: int, offset: int, name: bytes) -> TarHeader:
    """The header in the bytes tar-split holds before file entry `name`: the padding
    after the previous entry's content, then the entry's header blocks, nothing more."""
    shown = os.fsdecode(name)
    if pad > len(raw):
        raise LayerError(f"tar-split metadata: no room for the padding before {shown!r}")
    block = raw[pad : pad + BLOCK]
    if len(block) < BLOCK or block == ZERO_BLOCK:
        raise LayerError(f"tar-split metadata: no tar header for entry {shown!r}")
    pos = pad + BLOCK

    def take(n: int) -> bytes:
        nonlocal pos
        data = raw[pos : pos + n]
        pos += len(data)
        return data

    header = reader.entry(block, take, offset + pad)
    if pos != len(raw):
        raise LayerError(
            f"tar-split metadata: {len(raw) - pos} unexpected bytes before entry {shown!r}"
        )
    return header
