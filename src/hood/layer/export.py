"""A directory as a layer tar, byte for byte as dockerd writes it: `docker commit` of a
container (its overlay2 upper dir, tarred directly) and `docker cp` out of one.

dockerd (pkg/archive with Go's archive/tar): a depth-first walk, names sorted bytewise in
each directory, the root left out, directories named with a trailing `/`; USTAR headers with
the file type bits in the mode field, mtime cut to whole seconds, owner names looked up on
the host; a PAX header only when USTAR cannot hold a field (or for the one xattr kept,
security.capability); overlayfs whiteouts (0/0 character devices) become `.wh.NAME` files and
an opaque directory gets a `.wh..wh..opq` entry right after it; hard links by inode. The tar
ends with two zero blocks."""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Iterator
from typing import BinaryIO

from hood.layer.overlay import OPAQUE_XATTRS, WHITEOUT_OPAQUE, WHITEOUT_PREFIX

BLOCK = 512
_TYPE_BITS = {
    stat.S_IFREG: 0o100000,
    stat.S_IFDIR: 0o040000,
    stat.S_IFLNK: 0o120000,
    stat.S_IFCHR: 0o020000,
    stat.S_IFBLK: 0o060000,
    stat.S_IFIFO: 0o010000,
}
_TYPEFLAGS = {
    stat.S_IFREG: b"0",
    stat.S_IFLNK: b"2",
    stat.S_IFCHR: b"3",
    stat.S_IFBLK: b"4",
    stat.S_IFDIR: b"5",
    stat.S_IFIFO: b"6",
}
CAPABILITY_XATTR = "security.capability"


class Header:
    """What goes into one tar header (Go's tar.Header, the fields dockerd sets)."""

    __slots__ = (
        "name", "mode", "uid", "gid", "size", "mtime", "typeflag", "linkname",
        "uname", "gname", "devmajor", "devminor", "pax",
    )  # fmt: skip

    def __init__(self, name: bytes, mode: int, typeflag: bytes) -> None:
        self.name = name
        self.mode = mode
        self.typeflag = typeflag
        self.uid = self.gid = self.size = self.mtime = 0
        self.linkname = b""
        self.uname = self.gname = b""
        self.devmajor = self.devminor = 0
        self.pax: dict[str, bytes] = {}


def _octal(value: int, width: int) -> tuple[bytes, bool]:
    """Go's formatOctal: digits with leading zeros and a NUL; 0 when it does not fit."""
    fits = 0 <= value < 1 << (3 * (width - 1))
    digits = f"{value if fits else 0:o}".encode()
    return digits.rjust(width - 1, b"0") + b"\0", fits


def _string(value: bytes, width: int) -> bytes:
    """Go's formatString: as much as fits, NUL-padded; a cut name loses its trailing `/`."""
    out = bytearray(value[:width].ljust(width, b"\0"))
    if len(value) > width and out[width - 1 : width] == b"/":
        n = len(bytes(out).rstrip(b"/"))
        out[n] = 0
    return bytes(out)


def _ascii(value: bytes) -> bytes:
    return bytes(c for c in value if c < 0x80)


def split_ustar_path(name: bytes) -> tuple[bytes, bytes] | None:
    """Go's splitUSTARPath: (prefix, name) for an ASCII name too long for the name field."""
    length = len(name)
    if length <= 100 or not name.isascii():
        return None
    if length > 156:
        length = 156
    elif name[length - 1 : length] == b"/":
        length -= 1
    i = name.rfind(b"/", 0, length)
    suffix_len = len(name) - i - 1
    if i <= 0 or suffix_len > 100 or suffix_len == 0 or i > 155:
        return None
    return name[:i], name[i + 1 :]


def _pax_records(h: Header) -> dict[str, bytes]:
    """The PAX records USTAR cannot do without (Go's allowedFormats), xattrs included."""
    out = dict(h.pax)
    if not h.name.isascii() or (len(h.name) > 100 and split_ustar_path(h.name) is None):
        out["path"] = h.name
    if not h.linkname.isascii() or len(h.linkname) > 100:
        out["linkpath"] = h.linkname
    for key, value in (("uid", h.uid), ("gid", h.gid)):
        if not _octal(value, 8)[1]:
            out[key] = str(value).encode()
    if not _octal(h.size, 12)[1]:
        out["size"] = str(h.size).encode()
    if not _octal(h.mtime, 12)[1]:
        out["mtime"] = str(h.mtime).encode()
    for key, value in (("uname", h.uname), ("gname", h.gname)):
        if not value.isascii() or len(value) > 32:
            out[key] = value
    return out


def _block(fields: list[bytes]) -> bytes:
    block = bytearray(b"".join(fields).ljust(BLOCK, b"\0"))
    block[148:156] = b" " * 8
    block[148:156] = f"{sum(block):06o}".encode() + b"\0 "
    return bytes(block)


def _record(key: str, value: bytes) -> bytes:
    body = b" " + key.encode() + b"=" + value + b"\n"
    length = len(body) + len(str(len(body)))
    length = len(body) + len(str(length))
    return str(length).encode() + body


def header_bytes(h: Header) -> bytes:
    """One entry's header block(s), as Go's tar.Writer writes them for dockerd."""
    pax = _pax_records(h)
    mtime = _octal(h.mtime, 12)[0]
    common = [
        _octal(h.mode, 8)[0],
        _octal(h.uid, 8)[0],
        _octal(h.gid, 8)[0],
        _octal(h.size, 12)[0],
        mtime,
        b" " * 8,
        h.typeflag,
    ]
    owners = [
        b"ustar\x0000",
        _string(_ascii(h.uname), 32),
        _string(_ascii(h.gname), 32),
        _octal(h.devmajor, 8)[0],
        _octal(h.devminor, 8)[0],
    ]
    if not pax:
        prefix, name = split_ustar_path(h.name) or (b"", h.name)
        fields = [_string(name, 100), *common, _string(h.linkname, 100), *owners, _string(prefix, 155)]
        return _block(fields)
    data = b"".join(_record(k, pax[k]) for k in sorted(pax))
    slash = h.name.rfind(b"/")  # Go: path.Join(path.Split(name) around "PaxHeaders.0")
    pax_name = posixpath.normpath(h.name[: slash + 1] + b"PaxHeaders.0/" + h.name[slash + 1 :])
    pax_name = _ascii(pax_name)[:100].rstrip(b"/")
    pax_header = _block(
        [
            _string(pax_name, 100),
            _octal(0, 8)[0],
            _octal(0, 8)[0],
            _octal(0, 8)[0],
            _octal(len(data), 12)[0],
            _octal(0, 12)[0],
            b" " * 8,
            b"x",
            b"\0" * 100,
            b"ustar\x0000",
        ]
    )
    main = _block(
        [
            _string(_ascii(h.name), 100),
            *common,
            _string(_ascii(h.linkname), 100),
            *owners,
        ]
    )
    return pax_header + data + b"\0" * (-len(data) % BLOCK) + main


class _Names:
    """Host user and group names by id, looked up once (Go's FileInfoHeader does the same)."""

    def __init__(self) -> None:
        self.users: dict[int, bytes] = {}
        self.groups: dict[int, bytes] = {}

    def user(self, uid: int) -> bytes:
        if uid not in self.users:
            import pwd

            try:
                self.users[uid] = pwd.getpwuid(uid).pw_name.encode()
            except KeyError:
                self.users[uid] = b""
        return self.users[uid]

    def group(self, gid: int) -> bytes:
        if gid not in self.groups:
            import grp

            try:
                self.groups[gid] = grp.getgrgid(gid).gr_name.encode()
            except KeyError:
                self.groups[gid] = b""
        return self.groups[gid]


def _capability(path: bytes) -> bytes | None:
    try:
        value = os.getxattr(path, CAPABILITY_XATTR, follow_symlinks=False)
    except OSError:
        return None
    if len(value) >= 4 and value[3] == 3:  # a v3 (namespaced) capability: written as v2
        value = value[:3] + b"\x02" + value[4:20]
    return value


def _is_opaque(path: bytes) -> bool:
    for key in OPAQUE_XATTRS:
        try:
            if os.getxattr(path, key, follow_symlinks=False) == b"y":
                return True
        except OSError:
            continue
    return False


def _walk(root: bytes, rel: bytes = b"") -> Iterator[tuple[bytes, os.stat_result]]:
    """(relative name, lstat) depth first, names sorted bytewise, the root left out."""
    here = os.path.join(root, rel) if rel else root
    for name in sorted(os.listdir(here)):
        path_rel = rel + b"/" + name if rel else name
        st = os.lstat(os.path.join(root, path_rel))
        yield path_rel, st
        if stat.S_ISDIR(st.st_mode):
            yield from _walk(root, path_rel)


class TarEntries:
    """Headers for files of one tar, as dockerd's tarAppender makes them: owner names looked
    up once, hard links by inode (the first name carries the data)."""

    def __init__(self, *, whiteouts: bool = True) -> None:
        self.names = _Names()
        self.seen: dict[int, bytes] = {}
        self.whiteouts = whiteouts

    def header(self, path: bytes, name: bytes, st: os.stat_result) -> tuple[Header, Header | None] | None:
        """The header of `path` (lstat `st`) named `name`, and the opaque marker to write
        after it; None for what a tar cannot hold (sockets)."""
        fmt = stat.S_IFMT(st.st_mode)
        typeflag = _TYPEFLAGS.get(fmt)
        if typeflag is None:  # sockets: Go's FileInfoHeader refuses them, dockerd skips
            return None
        if fmt == stat.S_IFDIR and not name.endswith(b"/"):
            name += b"/"
        h = Header(name, (st.st_mode & 0o7777) | _TYPE_BITS[fmt], typeflag)
        h.uid, h.gid = st.st_uid, st.st_gid
        h.uname, h.gname = self.names.user(st.st_uid), self.names.group(st.st_gid)
        h.mtime = int(st.st_mtime)
        if fmt == stat.S_IFREG:
            h.size = st.st_size
        elif fmt == stat.S_IFLNK:
            h.linkname = os.readlink(path)
        elif fmt in (stat.S_IFCHR, stat.S_IFBLK):
            h.devmajor, h.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        capability = _capability(path)
        if capability is not None:
            h.pax["SCHILY.xattr." + CAPABILITY_XATTR] = capability
        if fmt != stat.S_IFDIR and st.st_nlink > 1:
            first = self.seen.get(st.st_ino)
            if first is not None:
                h.typeflag, h.linkname, h.size = b"1", first, 0
            else:
                self.seen[st.st_ino] = name
        opaque = None
        if self.whiteouts:
            if fmt == stat.S_IFCHR and st.st_rdev == 0:
                head, _, tail = name.rpartition(b"/")
                h.name = (head + b"/" if head else b"") + WHITEOUT_PREFIX + tail
                h.mode, h.typeflag, h.size = 0o600, b"0", 0
            elif fmt == stat.S_IFDIR and _is_opaque(path):
                opaque = Header(name + WHITEOUT_OPAQUE, h.mode & 0o777, b"0")
                opaque.uid, opaque.gid, opaque.uname, opaque.gname = h.uid, h.gid, h.uname, h.gname
        return h, opaque

    def content(self, out: BinaryIO, path: bytes, size: int) -> None:
        """The file's first `size` bytes, the entry's data."""
        with open(path, "rb") as f:
            left = size
            while left:
                chunk = f.read(min(left, 1 << 20))
                if not chunk:
                    raise OSError(f"{os.fsdecode(path)} shrank while it was read")
                out.write(chunk)
                left -= len(chunk)

    def write(self, out: BinaryIO, path: bytes, name: bytes, st: os.stat_result) -> int:
        """The entry (header, data, padding); bytes written."""
        made = self.header(path, name, st)
        if made is None:
            return 0
        h, opaque = made
        data = header_bytes(h)
        out.write(data)
        written = len(data)
        if h.typeflag == b"0" and h.size > 0:
            self.content(out, path, h.size)
            pad = b"\0" * (-h.size % BLOCK)
            out.write(pad)
            written += h.size + len(pad)
        if opaque is not None:
            data = header_bytes(opaque)
            out.write(data)
            written += len(data)
        return written


END = b"\0" * (2 * BLOCK)


def write_tree_tar(
    root: str | bytes,
    out: BinaryIO,
    *,
    prefix: bytes = b"",
    whiteouts: bool = True,
    end: bool = True,
    entries: TarEntries | None = None,
) -> int:
    """Tar everything below `root` into `out` as dockerd would; returns bytes written.
    `prefix` is put before every name (docker cp's base name); `whiteouts` converts
    overlayfs whiteouts and opaque dirs (a container's upper dir); `end` writes the two
    zero blocks that end the archive."""
    base = os.fsencode(root)
    entries = entries or TarEntries(whiteouts=whiteouts)
    written = 0
    for rel, st in _walk(base):
        written += entries.write(out, os.path.join(base, rel), prefix + rel, st)
    if end:
        out.write(END)
        written += len(END)
    return written
