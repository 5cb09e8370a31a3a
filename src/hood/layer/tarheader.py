"""Tar headers, read once for every part of hood that looks at a layer tar.

`HeaderReader` turns the blocks of a tar (ustar, GNU long names and links, PAX) into
one resolved `TarHeader` per entry: extraction reads them out of the layer stream,
the tree check out of tar-split, whose segments hold every header block. The caller
reads the archive and hands the reader the first header block of each entry; the
reader reads what that entry's meta headers (PAX 'x' and 'g', GNU 'L' and 'K') bring
with them through the caller's `take`, and leaves the entry's content to the caller.

Limits (`HeaderLimits`) bound what one entry's meta headers may hold before the entry
arrives, and the layer's size as a whole. What is refused is refused the way the rest
of hood reports it: a LayerError naming the entry.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from hood.core.errors import LayerError

BLOCK = 512
ZERO_BLOCK = bytes(BLOCK)

# Type flags.
REG, AREG, LNK, SYM, CHR, BLK, DIR, FIFO, CONT = (
    b"0",
    b"\0",
    b"1",
    b"2",
    b"3",
    b"4",
    b"5",
    b"6",
    b"7",
)
PAX, GPAX, LONGNAME, LONGLINK = b"x", b"g", b"L", b"K"
# Types whose header carries no content, whatever its size field says.
HEADER_ONLY = frozenset((LNK, SYM, CHR, BLK, DIR, FIFO))
# Meta headers that chain before the entry they describe.
_CHAINED = frozenset((PAX, LONGNAME, LONGLINK))

_NO_RECORDS: Mapping[bytes, bytes] = MappingProxyType({})
_XATTR = b"SCHILY.xattr."


@dataclass(slots=True)
class TarHeader:
    """One tar entry as extraction sees it, extension records merged in.

    `typeflag` is resolved: an old-style regular file is REG, or DIR when its name ends
    in "/"; a contiguous file is REG. A global PAX header is an entry of its own with
    typeflag GPAX (Go's reader returns it so; nothing applies it to later entries).
    """

    name: bytes  # as the tar has it: PAX path or GNU long name applied, not cleaned
    linkname: bytes
    typeflag: bytes
    mode: int  # the whole mode field; permission bits are mode & 0o7777
    uid: int
    gid: int
    size: int  # content bytes after the header (0 for HEADER_ONLY types and GPAX)
    mtime_ns: int
    atime_ns: int  # -1 when the tar gives none
    devmajor: int  # 0 unless CHR or BLK
    devminor: int
    xattrs: tuple[tuple[str, bytes], ...]  # SCHILY.xattr.* records, in order
    pax: Mapping[bytes, bytes]  # every PAX record that applies to this entry
    offset: int  # where the entry's first header block (meta headers included) starts

    @property
    def shown(self) -> str:
        """The name for messages."""
        return os.fsdecode(self.name)


@dataclass(frozen=True)
class HeaderLimits:
    """What the reader accepts. The defaults suit real images with room to spare."""

    max_pax_size: int = 1 << 20  # one PAX or GNU long-name record
    # The PAX / GNU long-name headers chained before one entry: their data in total
    # (bytes, padding included) and their number. Each chained header is parsed and
    # kept (and, by extraction, its raw bytes held for tar-split) until the entry
    # itself arrives, so only a cap on the whole chain bounds memory. One header at
    # max_pax_size fits; real tars use at most one PAX and one or two GNU headers.
    max_meta_size: int = 1 << 20
    max_meta_headers: int = 16
    max_total_size: int = 1 << 40  # file contents and meta header data, in total


# For headers that were read before (tar-split of an extracted layer): only the checks.
NO_LIMITS = HeaderLimits(1 << 62, 1 << 62, 1 << 62, 1 << 62)


class HeaderReader:
    """Resolves the headers of one tar, entry by entry, in order.

    For each entry the caller reads its first header block (512 bytes, not all zero:
    the end of the archive is the caller's to see) and calls `entry`. The reader
    checks the checksum; when the block is a meta header it reads that header's data
    and the blocks after it with `take(n)` (n bytes, fewer only at the end), up to and
    including the entry's own header block. The caller then reads `size` bytes of
    content and the padding to the next block. `offset` is where the first block
    starts in the tar, for messages.
    """

    __slots__ = ("limits", "entries", "total")

    def __init__(self, limits: HeaderLimits | None = None) -> None:
        self.limits = limits or HeaderLimits()
        self.entries = 0  # headers returned so far
        self.total = 0  # content and meta data bytes counted against max_total_size

    def entry(self, block: bytes, take: Callable[[int], bytes], offset: int) -> TarHeader:
        """The next entry's header, from its first header block `block` at `offset`."""
        _check_sum(block, offset)
        if block[156:157] in _CHAINED:
            return self._chain(block, take, offset)
        return self._resolve(block, offset, None, None, None, take)

    def _chain(self, block: bytes, take: Callable[[int], bytes], offset: int) -> TarHeader:
        """Meta headers first; then the entry's header, with what they say merged in."""
        lim = self.limits
        start = offset
        pax: dict[bytes, bytes] | None = None
        long_name: bytes | None = None
        long_link: bytes | None = None
        meta_bytes = 0
        meta_count = 0
        while True:
            flag = block[156:157]
            if flag not in _CHAINED:
                return self._resolve(block, start, pax, long_name, long_link, take)
            meta_name = _cstr(block[:100])
            shown = os.fsdecode(meta_name)
            size = _num(block[124:136], "size", meta_name)
            if size < 0 or size > lim.max_pax_size:
                raise LayerError(
                    f"entry {shown!r}: {flag.decode()} header of {size} bytes exceeds the "
                    f"{lim.max_pax_size}-byte limit"
                )
            padded = (size + BLOCK - 1) & ~(BLOCK - 1)
            meta_count += 1
            meta_bytes += padded
            self.total += padded
            if meta_count > lim.max_meta_headers or meta_bytes > lim.max_meta_size:
                raise LayerError(
                    f"entry #{self.entries + 1} (header at offset {offset}): "
                    f"more than {lim.max_meta_headers} PAX/GNU long-name headers or "
                    f"{lim.max_meta_size} bytes of them before one entry"
                )
            if self.total > lim.max_total_size:
                raise LayerError(
                    f"entry #{self.entries + 1} (header at offset {offset}): "
                    f"layer content exceeds the {lim.max_total_size}-byte limit"
                )
            data = take(padded)
            if len(data) < padded:
                raise LayerError(f"entry {shown!r}: layer ends inside a {flag.decode()} header")
            data = data[:size]
            if flag == PAX:
                if pax is None:
                    pax = {}
                _parse_pax(data, pax, shown)
            elif flag == LONGNAME:
                long_name = _cstr(data)
            else:
                long_link = _cstr(data)
            offset += BLOCK + padded
            block = take(BLOCK)
            if len(block) < BLOCK or block == ZERO_BLOCK:
                raise LayerError(f"entry {shown!r}: layer ends after a {flag.decode()} header")
            _check_sum(block, offset)

    def _resolve(
        self,
        hdr: bytes,
        offset: int,
        pax: dict[bytes, bytes] | None,
        long_name: bytes | None,
        long_link: bytes | None,
        take: Callable[[int], bytes],
    ) -> TarHeader:
        """The entry's own header block, with its meta headers' records merged in."""
        if long_name is not None:
            name = long_name
        else:
            name = _cstr(hdr[0:100])
            if hdr[257:265] == b"ustar\x0000":
                prefix = _cstr(hdr[345:500])
                if prefix:
                    name = prefix + b"/" + name
        h = TarHeader(
            name,
            long_link if long_link is not None else _cstr(hdr[157:257]),
            hdr[156:157],
            _num(hdr[100:108], "mode", name),
            _num(hdr[108:116], "uid", name),
            _num(hdr[116:124], "gid", name),
            _num(hdr[124:136], "size", name),
            _num(hdr[136:148], "mtime", name) * 1_000_000_000,
            -1,
            0,
            0,
            (),
            _NO_RECORDS,
            offset,
        )
        if pax:
            _merge_pax(h, pax)
        lim = self.limits
        flag = h.typeflag
        if flag == GPAX:
            # Its records are an entry of their own, applied to nothing: read past them.
            size = h.size
            if size < 0 or size > lim.max_pax_size:
                raise LayerError(f"entry {h.shown!r}: global PAX header of {size} bytes")
            padded = (size + BLOCK - 1) & ~(BLOCK - 1)
            if len(take(padded)) < padded:
                raise LayerError(f"entry {h.shown!r}: layer ends inside a global PAX header")
            h.size = 0
            self.entries += 1
            return h
        if flag == AREG:
            flag = h.typeflag = DIR if h.name.endswith(b"/") else REG
        elif flag == CONT:
            flag = h.typeflag = REG
        if h.size < 0:
            raise LayerError(f"entry {h.shown!r}: negative size")
        if h.uid < 0 or h.gid < 0:
            raise LayerError(f"entry {h.shown!r}: negative owner")
        if flag in HEADER_ONLY:
            h.size = 0
            if flag in (CHR, BLK):
                h.devmajor = _num(hdr[329:337], "devmajor", h.name)
                h.devminor = _num(hdr[337:345], "devminor", h.name)
        else:
            self.total += h.size
            if self.total > lim.max_total_size:
                raise LayerError(
                    f"entry {h.shown!r}: layer content exceeds the {lim.max_total_size}-byte limit"
                )
        self.entries += 1
        return h


def _merge_pax(h: TarHeader, pax: dict[bytes, bytes]) -> None:
    """Apply an entry's PAX records to its header."""
    h.pax = pax
    shown = os.fsdecode(pax.get(b"path", h.name))
    xattrs = []
    for key, value in pax.items():
        try:
            if key == b"path":
                h.name = value
            elif key == b"linkpath":
                h.linkname = value
            elif key == b"size":
                h.size = int(value)
            elif key == b"uid":
                h.uid = int(value)
            elif key == b"gid":
                h.gid = int(value)
            elif key == b"mtime":
                h.mtime_ns = _pax_time_ns(value, shown)
            elif key == b"atime":
                h.atime_ns = _pax_time_ns(value, shown)
            elif key.startswith(_XATTR):
                xattrs.append((key[len(_XATTR) :].decode("utf-8", "surrogateescape"), value))
            elif key.startswith(b"GNU.sparse."):
                raise LayerError(f"entry {shown!r}: sparse files are not supported")
        except ValueError:
            raise LayerError(
                f"entry {shown!r}: invalid PAX {key.decode(errors='replace')} record"
            ) from None
    h.xattrs = tuple(xattrs)
    if b"\0" in h.name or b"\0" in h.linkname or any("\0" in key for key, _ in xattrs):
        # Only a PAX record can carry one; no file name or xattr key can hold it.
        raise LayerError(f"entry {shown!r}: NUL byte in a name, link name or xattr key")


def clean_name(name: bytes) -> bytes | None:
    """A tar name as a path relative to the layer root, the way docker cleans it.

    Absolute names are taken relative to the root and `..` is resolved lexically
    (chroot semantics for `/..`); a name that would leave the root (`../x`, `a/../../x`)
    gives None. The root itself is b".".
    """
    absolute = name.startswith(b"/")
    parts: list[bytes] = []
    for comp in name.split(b"/"):
        if comp == b"" or comp == b".":
            continue
        if comp == b"..":
            if parts:
                parts.pop()
            elif not absolute:
                return None
            continue
        parts.append(comp)
    return b"/".join(parts) if parts else b"."


# --- fields -----------------------------------------------------------------------------


def _check_sum(hdr: bytes, offset: int) -> None:
    """Unsigned sum with the checksum field as spaces (the signed sum is accepted too)."""
    want = _num(hdr[148:156], "checksum", b"?")
    got = sum(hdr) - sum(hdr[148:156]) + 256
    if want != got:
        signed = (
            sum(b - 256 if b > 127 else b for b in hdr)
            - sum(b - 256 if b > 127 else b for b in hdr[148:156])
            + 256
        )
        if want != signed:
            raise LayerError(
                f"invalid tar header checksum at offset {offset} "
                f"(name {os.fsdecode(_cstr(hdr[:100]))!r})"
            )


def _num(field: bytes, what: str, name: bytes) -> int:
    """A numeric header field: octal text, or base-256 when the high bit is set."""
    if field[0] & 0x80:
        value = int.from_bytes(field, "big", signed=False)
        value &= (1 << (8 * len(field) - 1)) - 1  # drop the marker bit
        if field[0] & 0x40:  # negative, two's complement
            value -= 1 << (8 * len(field) - 1)
        return value
    try:
        return int(field.strip(b" \x00"), 8)  # the usual "0000644\x00"
    except ValueError:
        pass
    text = _cstr(field.strip(b" \x00"))  # text up to a NUL; nothing is 0
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise LayerError(f"entry {os.fsdecode(name)!r}: invalid {what} field {field!r}") from None


def _cstr(b: bytes) -> bytes:
    nul = b.find(b"\x00")
    return b if nul < 0 else b[:nul]


def _pax_time_ns(value: bytes, name: str) -> int:
    text = value.decode("ascii", "replace")
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("-")
    secs, _, frac = body.partition(".")
    if not secs.isdigit() or (frac and not frac.isdigit()):
        raise LayerError(f"entry {name!r}: invalid PAX time {text!r}")
    ns = int(secs) * 1_000_000_000 + int((frac + "000000000")[:9] or "0")
    return sign * ns


def _parse_pax(data: bytes, records: dict[bytes, bytes], name: str) -> None:
    pos = 0
    end = len(data)
    while pos < end:
        sp = data.find(b" ", pos, pos + 24)
        if sp < 0:
            if not data[pos:].strip(b"\x00"):
                return  # trailing NULs: tolerated
            raise LayerError(f"entry {name!r}: malformed PAX record")
        try:
            length = int(data[pos:sp])
        except ValueError:
            raise LayerError(f"entry {name!r}: malformed PAX record length") from None
        if length < 5 or pos + length > end or data[pos + length - 1] != 0x0A:
            raise LayerError(f"entry {name!r}: malformed PAX record")
        record = data[sp + 1 : pos + length - 1]
        eq = record.find(b"=")
        if eq <= 0:
            raise LayerError(f"entry {name!r}: malformed PAX record (no key)")
        records[record[:eq]] = record[eq + 1 :]
        pos += length
