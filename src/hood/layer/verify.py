"""Compare an extracted layer directory with what its tar says, entry by entry.

The tar headers come out of the layer's tar-split metadata: its segments, put end to
end, are the layer tar with every file's content left out (headers, PAX and GNU
long-name records, padding, end blocks). So one pass over tar-split gives every
header, and one walk of the directory gives what is there. Content is not read here:
rebuilding the diff ID through tar-split (`iter_tar`: crc64 per file, sha256 of the
whole) already proves it.

What is compared is what the extraction (hood's `apply_layer`, or dockerd's overlay2
ApplyDiff, which do the same) leaves behind: each entry's type, permission bits
(setuid, setgid and sticky included), owner, size, symlink target, device numbers and
hardlink identity; a `.wh.NAME` entry as a 0/0 character device NAME; `.wh..wh..opq`
as `trusted.overlay.opaque=y` on its directory (`user.overlay.opaque=y` from an
extraction without root, not required then, as the filesystem may not take it); xattrs the tar carries. And nothing
may be in the directory that the tar does not name. Times are not compared.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from hood.core.errors import LayerError
from hood.layer.overlay import (
    OPAQUE_XATTRS,
    OVERLAY_XATTR_PREFIXES,
    WHITEOUT_META_PREFIX,
    WHITEOUT_OPAQUE,
    WHITEOUT_PREFIX,
)
from hood.layer.tarheader import (
    BLK,
    BLOCK,
    CHR,
    DIR,
    FIFO,
    GPAX,
    LNK,
    NO_LIMITS,
    REG,
    SYM,
    ZERO_BLOCK,
    HeaderReader,
    TarHeader,
    clean_name,
)
from hood.layer.tarsplit import FILE, SEGMENT, open_tar_split, read_entries

DEFAULT_LIMIT = 100


def _show(rel: bytes) -> str:
    return os.fsdecode(rel)


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
    shown = _show(name)
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


# --- what the directory should hold ---------------------------------------------------

_KIND_NAMES = {
    "file": "a regular file",
    "dir": "a directory",
    "symlink": "a symlink",
    "fifo": "a fifo",
    "char": "a character device",
    "block": "a block device",
    "whiteout": "a whiteout (0/0 character device)",
    "socket": "a socket",
    "other": "an unknown kind of file",
}


@dataclass
class _Want:
    kind: str
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    size: int | None = None
    target: bytes | None = None
    dev: tuple[int, int] | None = None
    xattrs: dict[str, bytes] = field(default_factory=dict)
    opaque: bool = False
    implicit: bool = False  # a parent the tar does not name: only its kind is known
    optional: bool = False  # not created without root (whiteouts, devices)
    names: int = 1  # paths that are this one inode (hardlinks)


def _kind_of(st: os.stat_result) -> str:
    m = st.st_mode
    if stat.S_ISREG(m):
        return "file"
    if stat.S_ISDIR(m):
        return "dir"
    if stat.S_ISLNK(m):
        return "symlink"
    if stat.S_ISFIFO(m):
        return "fifo"
    if stat.S_ISCHR(m):
        return "whiteout" if st.st_rdev == 0 else "char"  # overlayfs reads 0/0 so
    if stat.S_ISBLK(m):
        return "block"
    if stat.S_ISSOCK(m):
        return "socket"
    return "other"


class _Expected:
    def __init__(self, as_root: bool) -> None:
        self.as_root = as_root
        self.want: dict[bytes, _Want] = {}
        self.problems: list[tuple[str, str]] = []

    def _drop_below(self, rel: bytes) -> None:
        prefix = rel + b"/"
        for key in [k for k in self.want if k.startswith(prefix)]:
            del self.want[key]

    def _put(self, rel: bytes, want: _Want) -> None:
        old = self.want.get(rel)
        if old is not None and old.kind == "dir" and want.kind != "dir":
            self._drop_below(rel)
        self.want[rel] = want

    def _xattrs(self, header: TarHeader) -> dict[str, bytes]:
        out = {}
        for key, value in header.xattrs:
            if key.startswith(OVERLAY_XATTR_PREFIXES):
                continue  # never applied from a tar
            if not self.as_root and key.startswith(("trusted.", "security.")):
                continue
            out[key] = value
        return out

    def add(self, header: TarHeader) -> None:
        if header.typeflag == GPAX:
            return
        rel = clean_name(header.name)
        shown = _show(header.name)
        if rel is None:
            self.problems.append((shown, "the layer names a path outside its root"))
            return
        owner = (header.uid, header.gid) if self.as_root else (None, None)
        if rel != b".":
            cut = rel.rfind(b"/")
            parent, base = (rel[:cut], rel[cut + 1 :]) if cut >= 0 else (b"", rel)
            if base.startswith(WHITEOUT_PREFIX):
                self._whiteout(parent, base, owner)
                return
        flag = header.typeflag
        mode = header.mode & 0o7777
        if flag == DIR:
            old = self.want.get(rel)
            if old is not None and old.kind == "dir":
                old.mode, old.uid, old.gid = mode, *owner
                old.xattrs.update(self._xattrs(header))
                old.implicit = False
            else:
                self._put(rel, _Want("dir", mode, *owner, xattrs=self._xattrs(header)))
            return
        if rel == b".":
            self.problems.append((shown, "the layer root is named by a non-directory entry"))
            return
        if flag == REG:
            want = _Want("file", mode, *owner, size=header.size)
            want.xattrs = self._xattrs(header)
        elif flag == SYM:
            want = _Want("symlink", None, *owner, target=header.linkname)
            want.xattrs = self._xattrs(header)
        elif flag in (CHR, BLK):
            kind = "char" if flag == CHR else "block"
            want = _Want(kind, mode, *owner, dev=(header.devmajor, header.devminor))
            want.xattrs = self._xattrs(header)
            want.optional = not self.as_root
        elif flag == FIFO:
            want = _Want("fifo", mode, *owner, xattrs=self._xattrs(header))
        elif flag == LNK:
            self._hardlink(rel, header, owner)
            return
        else:
            self.problems.append((shown, f"unsupported tar entry type {flag!r}"))
            return
        self._put(rel, want)

    def _hardlink(
        self, rel: bytes, header: TarHeader, owner: tuple[int | None, int | None]
    ) -> None:
        target = clean_name(header.linkname)
        shared = self.want.get(target) if target not in (None, b".") else None
        if shared is None or shared.kind == "dir":
            self.problems.append(
                (
                    _show(rel),
                    f"hardlink to {_show(header.linkname)!r}, which the layer does not "
                    "have before it",
                )
            )
            return
        if self.want.get(rel) is shared:
            return
        # The link's header owner (and, unless the inode is a symlink, its mode and
        # xattrs) lands on the shared inode, as the extraction does it.
        shared.uid, shared.gid = owner
        if shared.kind != "symlink":
            shared.mode = header.mode & 0o7777
            shared.xattrs.update(self._xattrs(header))
        shared.names += 1
        self._put(rel, shared)

    def _whiteout(self, parent: bytes, base: bytes, owner: tuple[int | None, int | None]) -> None:
        if parent and parent not in self.want:
            self.want[parent] = _Want("dir", implicit=True)
        if base == WHITEOUT_OPAQUE:
            if parent:
                self.want[parent].opaque = True
            else:
                self.want.setdefault(b".", _Want("dir", implicit=True)).opaque = True
            return
        if base.startswith(WHITEOUT_META_PREFIX):
            return
        hidden = base[len(WHITEOUT_PREFIX) :]
        rel = parent + b"/" + hidden if parent else hidden
        want = _Want("whiteout", None, *owner, optional=not self.as_root)
        self._put(rel, want)

    def finish(self) -> None:
        """Parents the tar does not name exist as directories all the same."""
        for rel in list(self.want):
            cut = rel.rfind(b"/")
            while cut > 0:
                parent = rel[:cut]
                if parent in self.want:
                    break
                self.want[parent] = _Want("dir", implicit=True)
                cut = parent.rfind(b"/")


# --- comparing ------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    """One way the directory is not what the tar says. `path` is relative to the layer
    root ("" for the layer as a whole); `what` says what differs."""

    path: str
    what: str

    def __str__(self) -> str:
        return f"{self.path}: {self.what}" if self.path else self.what


class _Report:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.lines: list[Difference] = []
        self.more = 0

    def add(self, path: str, what: str) -> None:
        if len(self.lines) < self.limit:
            self.lines.append(Difference(path, what))
        else:
            self.more += 1

    def result(self) -> list[Difference]:
        if self.more:
            return [*self.lines, Difference("", f"... and {self.more} more difference(s)")]
        return self.lines


def _mode(m: int) -> str:
    return f"{m:04o}"


def _get_xattr(path: bytes | int, key: str) -> bytes | None:
    try:
        return os.getxattr(path, key, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in (errno.ENODATA, errno.ENOTSUP, errno.EPERM, errno.EACCES):
            return None
        raise


def _compare(
    report: _Report, shown: str, want: _Want, st: os.stat_result, path: bytes, as_root: bool
) -> None:
    kind = _kind_of(st)
    if kind == "whiteout" and want.kind == "char":
        kind = "char"  # a 0/0 device the tar itself has; its numbers are compared below
    if kind != want.kind:
        report.add(shown, f"{_KIND_NAMES[kind]}, the layer says {_KIND_NAMES[want.kind]}")
        return
    if want.implicit:
        return
    if want.mode is not None and kind not in ("symlink", "whiteout"):
        mode = stat.S_IMODE(st.st_mode)
        if mode != want.mode:
            report.add(shown, f"mode {_mode(mode)}, the layer says {_mode(want.mode)}")
    if want.uid is not None and (st.st_uid, st.st_gid) != (want.uid, want.gid):
        report.add(shown, f"owner {st.st_uid}:{st.st_gid}, the layer says {want.uid}:{want.gid}")
    if want.size is not None and st.st_size != want.size:
        report.add(shown, f"size {st.st_size} bytes, the layer says {want.size}")
    if want.target is not None:
        target = os.readlink(path)
        if target != want.target:
            report.add(
                shown, f"symlink to {_show(target)!r}, the layer says {_show(want.target)!r}"
            )
    if want.dev is not None:
        dev = (os.major(st.st_rdev), os.minor(st.st_rdev))
        if dev != want.dev:
            report.add(
                shown, f"device {dev[0]}:{dev[1]}, the layer says {want.dev[0]}:{want.dev[1]}"
            )
    for key, value in want.xattrs.items():
        have = _get_xattr(path, key)
        if have != value:
            now = "missing" if have is None else repr(have)
            report.add(shown, f"xattr {key} is {now}, the layer says {value!r}")


def tree_problems(
    tar_split_path: Path,
    diff_dir: Path,
    *,
    as_root: bool | None = None,
    limit: int = DEFAULT_LIMIT,
) -> list[str]:
    """What differs between the layer directory `diff_dir` and the tar its tar-split
    metadata describes, one line per difference ("etc/passwd: mode 0644, the layer says
    0600"); empty when they agree. See `tree_differences`."""
    return [
        str(d) for d in tree_differences(tar_split_path, diff_dir, as_root=as_root, limit=limit)
    ]


def tree_differences(
    tar_split_path: Path,
    diff_dir: Path,
    *,
    as_root: bool | None = None,
    limit: int = DEFAULT_LIMIT,
) -> list[Difference]:
    """What differs between the layer directory `diff_dir` and the tar its tar-split
    metadata describes; empty when they agree. `as_root` (default: running as root) says whether the
    extraction could set owners and make whiteouts, opaque markers and device nodes:
    without it those are not required. At most `limit` lines, then a count."""
    if as_root is None:
        as_root = os.geteuid() == 0
    report = _Report(limit)
    expected = _Expected(as_root)
    try:
        for header, recorded in read_headers(tar_split_path):
            rel_name = _show(header.name)
            if header.typeflag != GPAX and header.size != recorded:
                report.add(
                    rel_name,
                    f"tar-split records {recorded} content bytes, its header says {header.size}",
                )
            expected.add(header)
    except (LayerError, OSError, EOFError) as exc:
        return [Difference("", f"cannot read the layer's tar headers from {tar_split_path}: {exc}")]
    for shown, what in expected.problems:
        report.add(shown, what)
    expected.finish()
    want = expected.want

    root = os.fsencode(diff_dir)
    try:
        root_st = os.stat(root, follow_symlinks=False)
    except OSError as exc:
        what = f"cannot read the layer directory {diff_dir}: {exc.strerror}"
        return [*report.result(), Difference("", what)]
    if not stat.S_ISDIR(root_st.st_mode):
        return [*report.result(), Difference("", f"{diff_dir} is not a directory")]
    root_want = want.pop(b".", None)
    if root_want is not None:
        _compare(report, ".", root_want, root_st, root, as_root)
    _check_opaque(report, ".", root, root_want, as_root)

    seen: set[bytes] = set()
    inode_of: dict[int, tuple[tuple[int, int], bytes]] = {}  # id(want) -> first inode
    want_at: dict[tuple[int, int], tuple[int, bytes]] = {}  # inode -> (id(want), path)
    skip = len(root) + 1
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = dirpath[skip:]
        keep_dirs = []
        for name in dirnames + filenames:
            rel = rel_dir + b"/" + name if rel_dir else name
            path = dirpath + b"/" + name
            shown = _show(rel)
            st = os.stat(path, follow_symlinks=False)
            w = want.get(rel)
            if w is None:
                what = _KIND_NAMES[_kind_of(st)]
                report.add(shown, f"{what} the layer does not have (added or renamed)")
                continue
            seen.add(rel)
            if w.kind == "dir" and stat.S_ISDIR(st.st_mode):
                keep_dirs.append(name)
                _check_opaque(report, shown, path, w, as_root)
            _compare(report, shown, w, st, path, as_root)
            if not stat.S_ISDIR(st.st_mode):
                _check_links(report, shown, rel, w, st, inode_of, want_at)
        dirnames[:] = [d for d in dirnames if d in keep_dirs]

    missing = sorted(rel for rel, w in want.items() if rel not in seen and not w.optional)
    reported: set[bytes] = set()
    for rel in missing:
        if any(rel[:i] in reported for i in range(len(rel)) if rel[i : i + 1] == b"/"):
            continue  # inside a missing directory already named
        reported.add(rel)
        report.add(_show(rel), f"missing, the layer has {_KIND_NAMES[want[rel].kind]} there")
    return report.result()


def _check_opaque(
    report: _Report, shown: str, path: bytes, want: _Want | None, as_root: bool
) -> None:
    """Either marker (trusted: root; user: rootless) makes a directory opaque. Without
    root a missing marker is not required (the filesystem may not take user xattrs)."""
    marked = [key for key in OPAQUE_XATTRS if _get_xattr(path, key) == b"y"]
    wanted = want is not None and want.opaque
    if wanted and not marked and as_root:
        report.add(
            shown, f"the layer makes this directory opaque, but {OPAQUE_XATTRS[0]}=y is not set"
        )
    elif marked and not wanted:
        report.add(
            shown,
            f"has {marked[0]}=y (hides the layers below), the layer does not make it opaque",
        )


def _check_links(
    report: _Report,
    shown: str,
    rel: bytes,
    want: _Want,
    st: os.stat_result,
    inode_of: dict[int, tuple[tuple[int, int], bytes]],
    want_at: dict[tuple[int, int], tuple[int, bytes]],
) -> None:
    inode = (st.st_dev, st.st_ino)
    if want.names > 1:
        first = inode_of.setdefault(id(want), (inode, rel))
        if first[0] != inode:
            report.add(shown, f"not the same file as {_show(first[1])}, the layer hardlinks them")
    if st.st_nlink > 1:
        other = want_at.setdefault(inode, (id(want), rel))
        if other[0] != id(want):
            report.add(
                shown,
                f"the same file as {_show(other[1])} (hardlinked), the layer has "
                "them as separate files",
            )
