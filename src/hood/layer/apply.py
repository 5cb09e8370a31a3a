"""Apply one layer tar to an empty overlay2 layer directory, securely, recording tar-split.

A lean tar reader of our own (ustar, GNU long names, PAX) that extracts the way
dockerd's overlay2 driver does (whiteouts become overlayfs whiteouts) and writes the
tar-split metadata in the same pass.

Security model (nothing outside `target` is created, changed or deleted):
- names are cleaned lexically with the root as `/` (docker semantics: `/etc/x` and
  `/../x` land at `x`); a name that would climb out of the root (`../x`) is refused;
- every parent is walked component by component with dir fds opened
  O_NOFOLLOW|O_DIRECTORY, so a symlink (or any non-directory) in a parent is refused,
  never followed; files are created O_EXCL|O_NOFOLLOW relative to the parent fd;
- metadata calls (chown, utime, xattrs) never follow the final component: they use
  the file's own fd or *at() calls with AT_SYMLINK_NOFOLLOW;
- hardlink targets are cleaned and resolved the same way and linked with linkat()
  without following; symlink targets are stored as they are (they are never
  followed by us; overlayfs resolves them inside the container's root).
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from fastcrc import crc64

from hood.errors import LayerError
from hood.layer.beneath import DIR_FLAGS, MAX_DEPTH, open_beneath
from hood.layer.tarsplit import TarSplitWriter, clean_name
from hood.store.disk import disk_error, is_disk_error

_crc = crc64.go_iso

BLOCK = 512
TRAILER_SEGMENT = 1 << 20  # as tar-split reads what follows the archive
ZERO_BLOCK = bytes(BLOCK)

WHITEOUT_PREFIX = b".wh."
WHITEOUT_META_PREFIX = b".wh..wh."
WHITEOUT_OPAQUE = b".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
# Without root, trusted.* cannot be set: the opaque marker goes in the user namespace,
# which overlayfs reads instead when mounted with `userxattr` (Linux 5.11+).
USER_OPAQUE_XATTR = "user.overlay.opaque"
OPAQUE_XATTRS = (OPAQUE_XATTR, USER_OPAQUE_XATTR)
# overlayfs' own xattrs (opaque, redirect, metacopy...): never taken from a tar.
OVERLAY_XATTR_PREFIXES = ("trusted.overlay.", "user.overlay.")
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC

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
_HEADER_ONLY = frozenset((LNK, SYM, CHR, BLK, DIR, FIFO))


@dataclass
class ApplyOptions:
    """Limits and policy for apply_layer. Defaults suit real images with room to spare."""

    allow_devices: bool = True
    is_root: bool | None = None  # None: os.geteuid() == 0
    max_entries: int = 2_000_000
    max_path: int = 4096  # bytes, after PAX / GNU long names
    max_depth: int = MAX_DEPTH  # path components
    max_pax_size: int = 1 << 20  # one PAX or GNU long-name record
    # The PAX / GNU long-name headers chained before one entry: their data in total
    # (bytes, padding included) and their number. Each chained header is parsed and
    # kept (and its raw bytes held for tar-split) until the entry itself arrives, so
    # only a cap on the whole chain bounds memory. One header at max_pax_size fits;
    # real tars use at most one PAX and one or two GNU headers per entry.
    max_meta_size: int = 1 << 20
    max_meta_headers: int = 16
    max_total_size: int = 1 << 40  # sum of file contents
    max_seconds: float | None = None
    read_size: int = 1 << 20


@dataclass
class AppliedLayer:
    size: int  # what dockerd stores in layerdb `size`: du of the diff dir (see _du)
    entries: int
    skipped: list[str] = field(default_factory=list)


class _Input:
    """Big reads from the (decompressed, hashed) stream, handed out as slices."""

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

    def copy(self, n: int, fd: int, what: str) -> int:
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


def _num(field_: bytes, what: str, name: str) -> int:
    """A numeric header field: octal text, or base-256 when the high bit is set."""
    if field_ and field_[0] & 0x80:
        value = int.from_bytes(field_, "big", signed=False)
        value &= (1 << (8 * len(field_) - 1)) - 1  # drop the marker bit
        if field_[0] & 0x40:  # negative, two's complement
            value -= 1 << (8 * len(field_) - 1)
        return value
    text = field_.strip(b" \x00")
    nul = text.find(b"\x00")
    if nul >= 0:
        text = text[:nul]
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise LayerError(f"entry {name!r}: invalid {what} field {field_!r}") from None


def _header_name(hdr: bytes, long_name: bytes | None) -> bytes:
    """An entry's name: a GNU long name if one came before, else ustar's prefix/name."""
    if long_name is not None:
        return long_name
    name = _cstr(hdr[0:100])
    if hdr[257:265] == b"ustar\x0000":
        prefix = _cstr(hdr[345:500])
        if prefix:
            name = prefix + b"/" + name
    return name


def _file_flag(flag: bytes, name: bytes) -> bytes:
    """The old-style regular flag (a directory if the name ends in /) and CONT read as REG."""
    if flag == AREG:
        return DIR if name.endswith(b"/") else REG
    if flag == CONT:
        return REG
    return flag


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


def _show(name: bytes) -> str:
    return os.fsdecode(name)


class _Applier:
    def __init__(
        self, stream: BinaryIO, target: Path, ts: TarSplitWriter | None, options: ApplyOptions
    ) -> None:
        self.inp = _Input(stream, options.read_size)
        self.ts = ts
        self.opt = options
        self.root = options.is_root if options.is_root is not None else os.geteuid() == 0
        self.devices = self.root and options.allow_devices
        self.target = target
        self.root_fd = os.open(target, DIR_FLAGS)
        self.parents: dict[bytes, int] = {}
        self.dirs: list[tuple[bytes, int, int, int]] = []  # rel, mode, atime, mtime
        self.skipped: list[str] = []
        self.size = 0  # sum of non-directory st_size, hardlinks once (see _du)
        self.replaced = False  # something extracted was replaced: recount at the end
        self.entries = 0
        self.total = 0
        self.deadline = (
            time.monotonic() + options.max_seconds if options.max_seconds is not None else None
        )

    # --- parent directories ------------------------------------------------------
    def close(self) -> None:
        self._drop_parents()
        os.close(self.root_fd)

    def _drop_parents(self) -> None:
        for fd in self.parents.values():
            os.close(fd)
        self.parents.clear()

    def _parent(self, parent: bytes, shown: str, create: bool = True) -> int:
        """fd of directory `parent` (cleaned rel, b"" = root), never through a symlink.
        Missing directories are created 0755 (docker creates them too, with 0600)."""
        if not parent:
            return self.root_fd
        fd = self.parents.get(parent)
        if fd is not None:
            return fd
        cut = parent.rfind(b"/")
        base_fd = self._parent(parent[:cut], shown, create) if cut >= 0 else self.root_fd
        comp = parent[cut + 1 :]
        try:
            fd = os.open(comp, DIR_FLAGS, dir_fd=base_fd)
        except FileNotFoundError:
            if not create:
                raise LayerError(f"entry {shown!r}: {_show(parent)!r} does not exist") from None
            try:
                os.mkdir(comp, 0o755, dir_fd=base_fd)
                fd = os.open(comp, DIR_FLAGS, dir_fd=base_fd)
            except OSError as exc:
                self._disk(exc, shown)
                raise LayerError(
                    f"entry {shown!r}: cannot create parent {_show(parent)!r}: {exc.strerror}"
                ) from None
        except OSError as exc:
            self._disk(exc, shown)
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise LayerError(
                    f"entry {shown!r}: parent {_show(parent)!r} is a symlink or not a "
                    "directory; refusing to write through it"
                ) from None
            raise LayerError(
                f"entry {shown!r}: cannot open {_show(parent)!r}: {exc.strerror}"
            ) from None
        self.parents[parent] = fd
        return fd

    def _disk(self, exc: OSError, shown: str) -> None:
        """A full or failing disk is no fault of the layer: say so, naming the file."""
        if is_disk_error(exc):
            raise disk_error(exc, "writing", f"{self.target}/{shown.strip('/')}") from None

    # --- metadata -------------------------------------------------------------------
    def _chown(self, pfd: int, base: bytes, uid: int, gid: int, fd: int = -1) -> None:
        if not self.root:
            return
        if fd >= 0:
            os.fchown(fd, uid, gid)
        else:
            os.chown(base, uid, gid, dir_fd=pfd, follow_symlinks=False)

    def _xattrs(
        self, shown: str, pfd: int, base: bytes, xattrs: list[tuple[str, bytes]], fd: int = -1
    ) -> None:
        for key, value in xattrs:
            if key.startswith(OVERLAY_XATTR_PREFIXES):
                # Would steer overlayfs (opaque, redirect, metacopy): never from a tar.
                self.skipped.append(f"{shown}: xattr {key} (reserved for overlayfs)")
                continue
            if not self.root and key.startswith(("trusted.", "security.")):
                self.skipped.append(f"{shown}: xattr {key} (needs root)")
                continue
            try:
                if fd >= 0:
                    os.setxattr(fd, key, value)
                else:
                    path = b"/proc/self/fd/%d/%s" % (pfd, base)
                    os.setxattr(path, key, value, follow_symlinks=False)
            except OSError as exc:
                self._disk(exc, shown)
                if exc.errno in (errno.ENOTSUP, errno.EPERM):
                    self.skipped.append(f"{shown}: xattr {key} ({exc.strerror})")
                    continue
                raise LayerError(
                    f"entry {shown!r}: cannot set xattr {key}: {exc.strerror}"
                ) from None

    def _chmod_path(self, pfd: int, base: bytes, mode: int) -> None:
        """chmod a fifo or device without opening it for I/O and without following."""
        fd = os.open(base, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
        try:
            os.chmod(f"/proc/self/fd/{fd}", mode)
        finally:
            os.close(fd)

    # --- replacing ------------------------------------------------------------------
    def _clear(self, pfd: int, base: bytes, is_dir_entry: bool, rel: bytes) -> bool:
        """Remove whatever is at base unless both it and the entry are directories.
        Returns True when an existing directory is kept (merge)."""
        try:
            st = os.stat(base, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(st.st_mode):
            if is_dir_entry:
                return True
            self.replaced = True
            # rmtree with dir_fd works on fds and never follows symlinks.
            shutil.rmtree(base, dir_fd=pfd)
            # Cached fds of directories inside what we removed are stale now.
            inner = rel + b"/"
            for key in [k for k in self.parents if k == rel or k.startswith(inner)]:
                os.close(self.parents.pop(key))
        else:
            self.replaced = True
            os.unlink(base, dir_fd=pfd)
        return False

    # --- main loop ------------------------------------------------------------------
    def run(self) -> AppliedLayer:
        inp = self.inp
        ts = self.ts
        opt = self.opt
        while True:
            hdr = inp.take(BLOCK)
            if not hdr:
                break  # no end-of-archive blocks: Go's reader accepts this too
            if len(hdr) < BLOCK:
                raise LayerError(f"truncated tar header at offset {inp.offset - len(hdr)}")
            if hdr == ZERO_BLOCK:
                if ts is not None:
                    ts.add_raw(hdr)
                second = inp.take(BLOCK)
                if ts is not None:
                    ts.add_raw(second)
                if len(second) == BLOCK and second != ZERO_BLOCK:
                    raise LayerError(
                        f"zero block followed by a non-zero block at offset {inp.offset - BLOCK}"
                    )
                break
            self._entry(hdr)
            if (
                self.deadline is not None
                and self.entries % 256 == 0
                and time.monotonic() > self.deadline
            ):
                raise LayerError(f"layer took longer than {opt.max_seconds}s to apply")
        # Trailing bytes after the end of the archive: recorded and consumed (hashed).
        if ts is not None:
            ts.flush_raw()
        # Cut into fixed 1 MiB segments, whatever sizes the reads returned, so the same
        # tar always gives the same tar-split (a resumed download reads differently).
        trailer = bytearray()
        for chunk in inp.rest():
            if ts is None:
                continue
            trailer += chunk
            while len(trailer) >= TRAILER_SEGMENT:
                ts.segment(bytes(trailer[:TRAILER_SEGMENT]))
                del trailer[:TRAILER_SEGMENT]
        if ts is not None:
            if trailer:
                ts.segment(bytes(trailer))
            # dockerd's tar-split adds the final empty read at EOF as an empty segment.
            ts.segment(b"")
        self._finish_dirs()
        if self.replaced:
            self.size = self._du()
        return AppliedLayer(self.size, self.entries, self.skipped)

    def _du(self) -> int:
        """dockerd's overlay2 ApplyDiff returns directory.Size of the diff dir: the sum of
        st_size over non-directories, each inode once."""
        seen: set[int] = set()
        total = 0
        for _dir, _subdirs, files, dfd in os.fwalk(".", dir_fd=self.root_fd):
            for name in files:
                st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
                if st.st_size and st.st_ino not in seen:
                    seen.add(st.st_ino)
                    total += st.st_size
        return total

    def _header(self, hdr: bytes) -> None:
        # Checksum: unsigned sum with the checksum field as spaces (signed also accepted).
        want = _num(hdr[148:156], "checksum", "?")
        got = sum(hdr) - sum(hdr[148:156]) + 256
        if want != got:
            signed = (
                sum(b - 256 if b > 127 else b for b in hdr)
                - sum(b - 256 if b > 127 else b for b in hdr[148:156])
                + 256
            )
            if want != signed:
                raise LayerError(
                    f"invalid tar header checksum at offset {self.inp.offset - BLOCK} "
                    f"(name {_show(_cstr(hdr[:100]))!r})"
                )

    def _entry(self, hdr: bytes) -> None:
        inp = self.inp
        ts = self.ts
        opt = self.opt
        parents = self.parents
        while len(parents) > 128:  # bound the cache (oldest first); only between entries
            os.close(parents.pop(next(iter(parents))))
        pax: dict[bytes, bytes] | None = None
        long_name: bytes | None = None
        long_link: bytes | None = None
        meta_bytes = 0
        meta_count = 0
        # Meta headers (PAX 'x', GNU 'L'/'K') come first; all their bytes are raw.
        while True:
            self._header(hdr)
            if ts is not None:
                ts.add_raw(hdr)
            flag = hdr[156:157]
            if flag not in (PAX, LONGNAME, LONGLINK):
                break
            shown = _show(_cstr(hdr[:100]))
            size = _num(hdr[124:136], "size", shown)
            if size < 0 or size > opt.max_pax_size:
                raise LayerError(
                    f"entry {shown!r}: {flag.decode()} header of {size} bytes exceeds the "
                    f"{opt.max_pax_size}-byte limit"
                )
            padded = (size + BLOCK - 1) & ~(BLOCK - 1)
            meta_count += 1
            meta_bytes += padded
            self.total += padded
            if meta_count > opt.max_meta_headers or meta_bytes > opt.max_meta_size:
                raise LayerError(
                    f"entry #{self.entries + 1} (header at offset {inp.offset - BLOCK}): "
                    f"more than {opt.max_meta_headers} PAX/GNU long-name headers or "
                    f"{opt.max_meta_size} bytes of them before one entry"
                )
            if self.total > opt.max_total_size:
                raise LayerError(
                    f"entry #{self.entries + 1} (header at offset {inp.offset - BLOCK}): "
                    f"layer content exceeds the {opt.max_total_size}-byte limit"
                )
            data = inp.take(padded)
            if len(data) < padded:
                raise LayerError(f"entry {shown!r}: layer ends inside a {flag.decode()} header")
            if ts is not None:
                ts.add_raw(data)
            data = data[:size]
            if flag == PAX:
                if pax is None:
                    pax = {}
                _parse_pax(data, pax, shown)
            elif flag == LONGNAME:
                long_name = _cstr(data)
            else:
                long_link = _cstr(data)
            hdr = inp.take(BLOCK)
            if len(hdr) < BLOCK or hdr == ZERO_BLOCK:
                raise LayerError(f"entry {shown!r}: layer ends after a {flag.decode()} header")

        name = _header_name(hdr, long_name)
        linkname = long_link if long_link is not None else _cstr(hdr[157:257])
        shown = _show(name)
        flag = hdr[156:157]
        size = _num(hdr[124:136], "size", shown)
        mode = _num(hdr[100:108], "mode", shown)
        uid = _num(hdr[108:116], "uid", shown)
        gid = _num(hdr[116:124], "gid", shown)
        mtime_ns = _num(hdr[136:148], "mtime", shown) * 1_000_000_000
        atime_ns = -1
        xattrs: list[tuple[str, bytes]] = []
        if pax:
            for key, value in pax.items():
                try:
                    if key == b"path":
                        name = value
                        shown = _show(name)
                    elif key == b"linkpath":
                        linkname = value
                    elif key == b"size":
                        size = int(value)
                    elif key == b"uid":
                        uid = int(value)
                    elif key == b"gid":
                        gid = int(value)
                    elif key == b"mtime":
                        mtime_ns = _pax_time_ns(value, shown)
                    elif key == b"atime":
                        atime_ns = _pax_time_ns(value, shown)
                    elif key.startswith(b"SCHILY.xattr."):
                        xattrs.append((key[13:].decode("utf-8", "surrogateescape"), value))
                    elif key.startswith(b"GNU.sparse."):
                        raise LayerError(f"entry {shown!r}: sparse files are not supported")
                except ValueError:
                    raise LayerError(
                        f"entry {shown!r}: invalid PAX {key.decode(errors='replace')} record"
                    ) from None
        if b"\0" in name or b"\0" in linkname or any("\0" in key for key, _ in xattrs):
            # Only a PAX record can carry one; no file name or xattr key can hold it.
            raise LayerError(f"entry {shown!r}: NUL byte in a name, link name or xattr key")
        if flag == GPAX:
            # Go's reader returns a global header as an entry of its own with size 0;
            # docker ignores it. Its records are not applied to later entries.
            if size < 0 or size > opt.max_pax_size:
                raise LayerError(f"entry {shown!r}: global PAX header of {size} bytes")
            padded = (size + BLOCK - 1) & ~(BLOCK - 1)
            data = inp.take(padded)
            if len(data) < padded:
                raise LayerError(f"entry {shown!r}: layer ends inside a global PAX header")
            self.entries += 1
            if ts is not None:
                ts.add_raw(data)
            if ts is not None:
                ts.file(name, 0, None)
            return
        flag = _file_flag(flag, name)
        if size < 0:
            raise LayerError(f"entry {shown!r}: negative size")
        if uid < 0 or gid < 0:
            raise LayerError(f"entry {shown!r}: negative owner")
        self.entries += 1
        if self.entries > opt.max_entries:
            raise LayerError(f"entry {shown!r}: more than {opt.max_entries} entries in the layer")
        if len(name) > opt.max_path or len(linkname) > opt.max_path:
            raise LayerError(f"entry {shown[:200]!r}...: name longer than {opt.max_path} bytes")
        data_size = 0 if flag in _HEADER_ONLY else size
        self.total += data_size
        if self.total > opt.max_total_size:
            raise LayerError(
                f"entry {shown!r}: layer content exceeds the {opt.max_total_size}-byte limit"
            )

        rel = clean_name(name)
        if rel is None:
            raise LayerError(f"entry {shown!r}: path leads outside the layer root")
        if rel.count(b"/") >= opt.max_depth:
            raise LayerError(f"entry {shown[:200]!r}: more than {opt.max_depth} path components")
        if atime_ns < mtime_ns:
            atime_ns = mtime_ns  # docker: atime = latest of atime and mtime
        if mtime_ns < 0:
            mtime_ns = atime_ns = 0  # docker clamps times before the epoch to the epoch
        mode &= 0o7777

        crc = self._apply(
            rel,
            name,
            shown,
            flag,
            data_size,
            mode,
            uid,
            gid,
            atime_ns,
            mtime_ns,
            linkname,
            hdr,
            xattrs,
        )
        if ts is not None:
            if data_size == 0:
                ts.file(name, 0, None)
            else:
                ts.file(name, data_size, crc)
        # Padding after the content is raw, merged into the next segment as upstream does.
        pad = (-data_size) % BLOCK
        if pad:
            padding = inp.take(pad)
            if ts is not None:
                ts.add_raw(padding)

    def _apply(
        self,
        rel: bytes,
        name: bytes,
        shown: str,
        flag: bytes,
        size: int,
        mode: int,
        uid: int,
        gid: int,
        atime: int,
        mtime: int,
        linkname: bytes,
        hdr: bytes,
        xattrs: list[tuple[str, bytes]],
    ) -> int:
        """Create one entry. Returns the crc64 of its content (0 when none)."""
        inp = self.inp
        if rel == b".":
            if flag != DIR:
                raise LayerError(f"entry {shown!r}: only a directory can name the layer root")
            self._chown(-1, b"", uid, gid, self.root_fd)
            self._xattrs(shown, -1, b"", xattrs, self.root_fd)
            self.dirs.append((b".", mode, atime, mtime))
            return 0
        cut = rel.rfind(b"/")
        parent, base = (rel[:cut], rel[cut + 1 :]) if cut >= 0 else (b"", rel)
        if base.startswith(WHITEOUT_PREFIX):
            if size:
                inp.copy(size, -1, f"entry {shown!r}")
                raise LayerError(f"entry {shown!r}: a whiteout must not carry content")
            self._whiteout(parent, base, shown, uid, gid)
            return 0
        pfd = self._parent(parent, shown)
        try:
            if flag == REG:
                self._clear(pfd, base, False, rel)
                fd = os.open(base, _FILE_FLAGS, 0o600, dir_fd=pfd)
                try:
                    crc = inp.copy(size, fd, f"entry {shown!r}")
                    self.size += size
                    if self.root:
                        os.fchown(fd, uid, gid)
                    self._xattrs(shown, pfd, base, xattrs, fd)
                    os.fchmod(fd, mode)  # after chown, so setuid/setgid bits stay
                    os.utime(fd, ns=(atime, mtime))
                finally:
                    os.close(fd)
                return crc
            if flag == DIR:
                if not self._clear(pfd, base, True, rel):
                    os.mkdir(base, 0o700, dir_fd=pfd)
                fd = os.open(base, DIR_FLAGS, dir_fd=pfd)
                try:
                    if self.root:
                        os.fchown(fd, uid, gid)
                    self._xattrs(shown, pfd, base, xattrs, fd)
                finally:
                    os.close(fd)
                # Mode and times at the end: later entries would change the mtime, and
                # a read-only mode could stop a non-root apply from filling the dir.
                self.dirs.append((rel, mode, atime, mtime))
                return 0
            if flag == SYM:
                self._clear(pfd, base, False, rel)
                os.symlink(linkname, base, dir_fd=pfd)
                self.size += len(linkname)
                self._chown(pfd, base, uid, gid)
                self._xattrs(shown, pfd, base, xattrs)
                os.utime(base, ns=(atime, mtime), dir_fd=pfd, follow_symlinks=False)
                return 0
            if flag == LNK:
                is_symlink = self._hardlink(pfd, base, rel, shown, linkname)
                # dockerd applies the link header's owner, and unless the inode is a
                # symlink its xattrs, mode and times, to the shared inode; so do we,
                # without following anything.
                self._chown(pfd, base, uid, gid)
                if not is_symlink:
                    self._xattrs(shown, pfd, base, xattrs)
                    self._chmod_path(pfd, base, mode)
                    os.utime(base, ns=(atime, mtime), dir_fd=pfd, follow_symlinks=False)
                return 0
            if flag in (CHR, BLK, FIFO):
                if flag != FIFO and not self.devices:
                    why = "not allowed" if self.root else "needs root"
                    self.skipped.append(f"{shown}: device node ({why})")
                    return 0
                self._clear(pfd, base, False, rel)
                if flag == FIFO:
                    os.mkfifo(base, 0o600, dir_fd=pfd)
                else:
                    kind = stat.S_IFCHR if flag == CHR else stat.S_IFBLK
                    major = _num(hdr[329:337], "devmajor", shown)
                    minor = _num(hdr[337:345], "devminor", shown)
                    os.mknod(base, kind | 0o600, os.makedev(major, minor), dir_fd=pfd)
                self._chown(pfd, base, uid, gid)
                self._xattrs(shown, pfd, base, xattrs)
                self._chmod_path(pfd, base, mode)
                os.utime(base, ns=(atime, mtime), dir_fd=pfd, follow_symlinks=False)
                return 0
        except LayerError:
            raise
        except OSError as exc:
            self._disk(exc, shown)
            raise LayerError(f"entry {shown!r}: {exc.strerror or exc}") from None
        raise LayerError(f"entry {shown!r}: unsupported tar entry type {flag!r}")

    def _hardlink(self, pfd: int, base: bytes, rel: bytes, shown: str, linkname: bytes) -> bool:
        """Link base to an earlier entry. Returns whether that entry is a symlink."""
        target = clean_name(linkname)
        if target is None or target == b".":
            raise LayerError(
                f"entry {shown!r}: hardlink target {_show(linkname)!r} is outside the layer"
            )
        cut = target.rfind(b"/")
        tparent, tbase = (target[:cut], target[cut + 1 :]) if cut >= 0 else (b"", target)
        tpfd = self._parent(tparent, shown, create=False)
        try:
            st = os.stat(tbase, dir_fd=tpfd, follow_symlinks=False)
        except FileNotFoundError:
            raise LayerError(
                f"entry {shown!r}: hardlink target {_show(linkname)!r} does not exist "
                "(it must come earlier in the same layer)"
            ) from None
        if stat.S_ISDIR(st.st_mode):
            raise LayerError(f"entry {shown!r}: hardlink target {_show(linkname)!r} is a directory")
        # tpfd may be dropped from the cache by _clear; keep a private dup.
        tpfd = os.dup(tpfd)
        try:
            if not self._same(pfd, base, st):  # else already that inode (a link to itself)
                self._clear(pfd, base, False, rel)
                os.link(tbase, base, src_dir_fd=tpfd, dst_dir_fd=pfd, follow_symlinks=False)
        finally:
            os.close(tpfd)
        return stat.S_ISLNK(st.st_mode)

    def _same(self, pfd: int, base: bytes, st: os.stat_result) -> bool:
        try:
            cur = os.stat(base, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        return (cur.st_dev, cur.st_ino) == (st.st_dev, st.st_ino)

    def _whiteout(self, parent: bytes, base: bytes, shown: str, uid: int, gid: int) -> None:
        pfd = self._parent(parent, shown)
        if base == WHITEOUT_OPAQUE:
            key = OPAQUE_XATTR if self.root else USER_OPAQUE_XATTR
            try:
                os.setxattr(pfd, key, b"y")
            except OSError as exc:
                self._disk(exc, shown)
                if not self.root and exc.errno in (errno.ENOTSUP, errno.EPERM, errno.EACCES):
                    self.skipped.append(f"{shown}: opaque directory marker ({exc.strerror})")
                    return
                raise LayerError(
                    f"entry {shown!r}: cannot mark directory opaque: {exc.strerror}"
                ) from None
            return
        if base.startswith(WHITEOUT_META_PREFIX):
            return  # other AUFS metadata (.wh..wh.plnk etc.): ignored, as docker does
        hidden = base[len(WHITEOUT_PREFIX) :]
        if hidden in (b"", b".", b".."):
            raise LayerError(f"entry {shown!r}: whiteout of {_show(hidden)!r} is not allowed")
        try:
            # Mode 0, as dockerd makes it. Since Linux 5.8 a 0/0 character device (the
            # overlayfs whiteout) needs no privilege, so this is tried without root too.
            os.mknod(hidden, stat.S_IFCHR, 0, dir_fd=pfd)
        except FileExistsError:
            raise LayerError(
                f"entry {shown!r}: whiteout of {_show(hidden)!r}, which this layer also creates"
            ) from None
        except OSError as exc:
            self._disk(exc, shown)
            if not self.root and exc.errno == errno.EPERM:
                self.skipped.append(f"{shown}: whiteout (a 0/0 device: {exc.strerror})")
                return
            raise LayerError(f"entry {shown!r}: cannot create whiteout: {exc.strerror}") from None
        try:
            self._chown(pfd, hidden, uid, gid)
        except OSError as exc:
            self._disk(exc, shown)
            raise LayerError(f"entry {shown!r}: cannot create whiteout: {exc.strerror}") from None

    def _finish_dirs(self) -> None:
        self._drop_parents()
        # A directory named twice takes its last header, as dockerd does; children are
        # finished before parents so setting their times does not touch the parents' again.
        latest: dict[bytes, tuple[int, int, int]] = {}
        for rel, mode, atime, mtime in self.dirs:
            latest.pop(rel, None)
            latest[rel] = (mode, atime, mtime)
        for rel, (mode, atime, mtime) in reversed(latest.items()):
            try:
                fd = open_beneath(self.root_fd, rel)
            except OSError:
                continue  # replaced or removed later in this layer
            try:
                os.fchmod(fd, mode)
                os.utime(fd, ns=(atime, mtime))
            finally:
                os.close(fd)


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
    gz = None
    ts = None
    if tar_split is not None:
        from isal import igzip

        gz = igzip.IGzipFile(fileobj=tar_split, mode="wb", compresslevel=1, mtime=0)
        ts = TarSplitWriter(gz)  # type: ignore[arg-type]
    applier = _Applier(stream, target, ts, opts)
    try:
        result = applier.run()
        if ts is not None:
            ts.close()
    finally:
        applier.close()
        if gz is not None:
            gz.close()
    return result
