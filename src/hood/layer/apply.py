"""Apply one layer tar to an empty overlay2 layer directory, securely, recording tar-split.

One pass over the (decompressed, hashed) stream: `tarheader.HeaderReader` resolves
each entry's header, `extract.DiffDir` creates the entry the way dockerd's overlay2
driver does, and every byte that is not file content goes to the tar-split metadata
as it passes. The layer's names are cleaned lexically with the root as `/` (docker
semantics: `/etc/x` and `/../x` land at `x`); a name that would climb out of the root
(`../x`) is refused. See `extract` for how nothing outside the target is touched.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from fastcrc import crc64

from hood.core.errors import LayerError
from hood.layer.beneath import MAX_DEPTH
from hood.layer.extract import DiffDir
from hood.layer.tarheader import (
    BLOCK,
    GPAX,
    ZERO_BLOCK,
    HeaderLimits,
    HeaderReader,
    TarHeader,
    clean_name,
)
from hood.layer.tarsplit import TarSplitWriter

_crc = crc64.go_iso

TRAILER_SEGMENT = 1 << 20  # as tar-split reads what follows the archive


@dataclass
class ApplyOptions:
    """Limits and policy for apply_layer. Defaults suit real images with room to spare."""

    allow_devices: bool = True
    is_root: bool | None = None  # privileged xattrs and devices; None: root on the host
    chown: bool | None = None  # owners as the layer says; None: when this process may
    max_entries: int = 2_000_000
    max_path: int = 4096  # bytes, after PAX / GNU long names
    max_depth: int = MAX_DEPTH  # path components
    max_pax_size: int = 1 << 20  # one PAX or GNU long-name record
    # The PAX / GNU long-name headers chained before one entry: their data in total
    # (bytes, padding included) and their number (see tarheader.HeaderLimits).
    max_meta_size: int = 1 << 20
    max_meta_headers: int = 16
    max_total_size: int = 1 << 40  # sum of file contents (and meta header data)
    max_seconds: float | None = None
    read_size: int = 1 << 20

    def header_limits(self) -> HeaderLimits:
        return HeaderLimits(
            max_pax_size=self.max_pax_size,
            max_meta_size=self.max_meta_size,
            max_meta_headers=self.max_meta_headers,
            max_total_size=self.max_total_size,
        )


@dataclass
class AppliedLayer:
    size: int  # what dockerd stores in layerdb `size`: du of the diff dir (see extract)
    entries: int
    skipped: list[str] = field(default_factory=list)


class Input:
    """Big reads from the (decompressed, hashed) stream, handed out as slices; `copy`
    passes a file's content on (the tar's own content here, see `hollow` for another)."""

    __slots__ = ("_read", "buf", "pos", "chunk", "offset")

    def __init__(self, stream: BinaryIO, chunk: int) -> None:
        self._read = stream.read
        self.buf = b""
        self.pos = 0
        self.chunk = chunk
        self.offset = 0  # bytes handed out so far

    def take(self, n: int) -> bytes:
        """Up to n bytes; fewer only at end of stream."""
        buf, pos = self.buf, self.pos
        if len(buf) - pos >= n:
            self.pos = pos + n
            self.offset += n
            return buf[pos : pos + n]
        parts = [buf[pos:]]
        have = len(buf) - pos
        self.buf, self.pos = b"", 0
        while have < n:
            data = self._read(max(self.chunk, n - have))
            if not data:
                break
            need = n - have
            if len(data) > need:
                parts.append(data[:need])
                self.buf, self.pos = data, need
                have = n
            else:
                parts.append(data)
                have += len(data)
        self.offset += have
        return b"".join(parts)

    def rest(self):
        """Everything left in the stream, chunk by chunk."""
        if self.pos < len(self.buf):
            data = self.buf[self.pos :]
            self.buf, self.pos = b"", 0
            self.offset += len(data)
            yield data
        while True:
            data = self._read(self.chunk)
            if not data:
                return
            self.offset += len(data)
            yield data

    def copy(self, n: int, fd: int, rel: bytes, what: str) -> int:
        """Pass n content bytes to fd (or drop them if fd < 0); returns their crc64."""
        crc = 0
        while n:
            avail = len(self.buf) - self.pos
            if avail <= 0:
                data = self._read(self.chunk)
                if not data:
                    raise LayerError(f"{what}: unexpected end of layer inside the file's content")
                self.buf, self.pos, avail = data, 0, len(data)
            k = avail if avail < n else n
            pos = self.pos
            view = memoryview(self.buf)[pos : pos + k]
            crc = _crc(view, initial=crc)
            if fd >= 0:
                while view:
                    w = os.write(fd, view)
                    view = view[w:]
            self.pos = pos + k
            self.offset += k
            n -= k
        return crc


class _Applier:
    def __init__(
        self, inp: Input, target: Path, ts: TarSplitWriter | None, options: ApplyOptions
    ) -> None:
        self.inp = inp
        self.ts = ts
        self.opt = options
        self.reader = HeaderReader(options.header_limits())
        from hood.core.privilege import can_chown, host_root

        if options.is_root is not None:  # said: owners follow, unless said too
            root = options.is_root
            chown = root if options.chown is None else options.chown
        else:
            root = host_root()
            chown = can_chown() if options.chown is None else options.chown
        self.out = DiffDir(
            target, root=root, chown=chown, devices=root and options.allow_devices, copy=inp.copy
        )
        self.deadline = (
            time.monotonic() + options.max_seconds if options.max_seconds is not None else None
        )
        if ts is None:
            self.take = inp.take
        else:
            # What the header reader reads (meta headers, their data) is raw tar-split.
            def take(n: int) -> bytes:
                data = inp.take(n)
                ts.add_raw(data)
                return data

            self.take = take

    def close(self) -> None:
        self.out.close()

    def run(self) -> AppliedLayer:
        inp = self.inp
        ts = self.ts
        entry = self.reader.entry
        take = self.take
        while True:
            hdr = inp.take(BLOCK)
            if not hdr:
                break  # no end-of-archive blocks: Go's reader accepts this too
            if len(hdr) < BLOCK:
                raise LayerError(f"truncated tar header at offset {inp.offset - len(hdr)}")
            if ts is not None:
                ts.add_raw(hdr)
            if hdr == ZERO_BLOCK:
                second = inp.take(BLOCK)
                if ts is not None:
                    ts.add_raw(second)
                if len(second) == BLOCK and second != ZERO_BLOCK:
                    raise LayerError(
                        f"zero block followed by a non-zero block at offset {inp.offset - BLOCK}"
                    )
                break
            self._entry(entry(hdr, take, inp.offset - BLOCK))
            if (
                self.deadline is not None
                and self.reader.entries % 256 == 0
                and time.monotonic() > self.deadline
            ):
                raise LayerError(f"layer took longer than {self.opt.max_seconds}s to apply")
        self._trailer()
        size = self.out.finish()
        return AppliedLayer(size, self.reader.entries, self.out.skipped)

    def _trailer(self) -> None:
        """Trailing bytes after the end of the archive: recorded and consumed (hashed)."""
        ts = self.ts
        if ts is None:
            for _ in self.inp.rest():
                pass
            return
        ts.flush_raw()
        # Cut into fixed 1 MiB segments, whatever sizes the reads returned, so the same
        # tar always gives the same tar-split (a resumed download reads differently).
        trailer = bytearray()
        for chunk in self.inp.rest():
            trailer += chunk
            while len(trailer) >= TRAILER_SEGMENT:
                ts.segment(bytes(trailer[:TRAILER_SEGMENT]))
                del trailer[:TRAILER_SEGMENT]
        if trailer:
            ts.segment(bytes(trailer))
        # dockerd's tar-split adds the final empty read at EOF as an empty segment.
        ts.segment(b"")

    def _entry(self, h: TarHeader) -> None:
        ts = self.ts
        opt = self.opt
        name = h.name
        if h.typeflag == GPAX:
            # Go's reader returns a global header as an entry of its own with size 0;
            # docker ignores it. Its records are not applied to later entries.
            if ts is not None:
                ts.file(name, 0, None)
            return
        shown = os.fsdecode(name)
        if self.reader.entries > opt.max_entries:
            raise LayerError(f"entry {shown!r}: more than {opt.max_entries} entries in the layer")
        if len(name) > opt.max_path or len(h.linkname) > opt.max_path:
            raise LayerError(f"entry {shown[:200]!r}...: name longer than {opt.max_path} bytes")
        rel = clean_name(name)
        if rel is None:
            raise LayerError(f"entry {shown!r}: path leads outside the layer root")
        if rel.count(b"/") >= opt.max_depth:
            raise LayerError(f"entry {shown[:200]!r}: more than {opt.max_depth} path components")
        crc = self.out.add(rel, h, shown)
        size = h.size
        if ts is not None:
            ts.file(name, size, crc if size else None)
        # Padding after the content is raw, merged into the next segment as upstream does.
        pad = (-size) % BLOCK
        if pad:
            padding = self.inp.take(pad)
            if ts is not None:
                ts.add_raw(padding)


def apply_layer(
    stream: BinaryIO,
    target: Path,
    *,
    tar_split: BinaryIO | None,
    options: ApplyOptions | None = None,
) -> AppliedLayer:
    """Extract the uncompressed layer tar `stream` into the empty directory `target`.

    Reads `stream` to its very end (trailing bytes after the tar included) so a hashing
    wrapper sees every byte. When `tar_split` is given, the gzip-compressed tar-split
    metadata (dockerd's `tar-split.json.gz`) is written to it; the caller closes it.
    """
    opts = options or ApplyOptions()
    return apply_input(Input(stream, opts.read_size), target, tar_split=tar_split, options=opts)


def apply_input(
    inp: Input,
    target: Path,
    *,
    tar_split: BinaryIO | None,
    options: ApplyOptions,
) -> AppliedLayer:
    """apply_layer of what `inp` reads, its files' content passed on by `inp.copy`."""
    gz = None
    ts = None
    if tar_split is not None:
        from isal import igzip

        gz = igzip.IGzipFile(fileobj=tar_split, mode="wb", compresslevel=1, mtime=0)
        ts = TarSplitWriter(gz)  # type: ignore[arg-type]
    applier = _Applier(inp, target, ts, options)
    try:
        result = applier.run()
        if ts is not None:
            ts.close()
    finally:
        applier.close()
        if gz is not None:
            gz.close()
    return result
