"""What an extracted layer directory should hold, path by path, as its tar headers say it
and as the extraction (hood's `apply_layer`, or dockerd's overlay2 ApplyDiff) leaves it:
each entry's kind, permission bits, owner, size, symlink target, device numbers, xattrs
and hardlinks; `.wh.NAME` as a whiteout, `.wh..wh..opq` as an opaque directory; the
parents the tar does not name as directories. What `verify` compares the directory with."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

from hood.layer.overlay import (
    OVERLAY_XATTR_PREFIXES,
    WHITEOUT_META_PREFIX,
    WHITEOUT_OPAQUE,
    WHITEOUT_PREFIX,
)
from hood.layer.tarheader import (
    BLK,
    CHR,
    DIR,
    FIFO,
    GPAX,
    LNK,
    REG,
    SYM,
    TarHeader,
    clean_name,
)

KIND_NAMES = {
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
class Want:
    """One path's expected inode (shared by the paths a hardlink joins); None: not known or
    not compared."""

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


def kind_of(st: os.stat_result) -> str:
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


class ExpectedTree:
    """What the directory should hold (`want`, by path relative to the layer root), built
    header by header (`add`, then `finish`); `problems`: what the headers themselves get
    wrong, as (path, what)."""

    def __init__(self, as_root: bool, chown: bool | None = None) -> None:
        self.as_root = as_root  # privileged xattrs, device nodes
        self.chown = as_root if chown is None else chown  # owners as the headers say
        self.want: dict[bytes, Want] = {}
        self.problems: list[tuple[str, str]] = []

    def _drop_below(self, rel: bytes) -> None:
        prefix = rel + b"/"
        for key in [k for k in self.want if k.startswith(prefix)]:
            del self.want[key]

    def _put(self, rel: bytes, want: Want) -> None:
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
        shown = os.fsdecode(header.name)
        if rel is None:
            self.problems.append((shown, "the layer names a path outside its root"))
            return
        owner = (header.uid, header.gid) if self.chown else (None, None)
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
                self._put(rel, Want("dir", mode, *owner, xattrs=self._xattrs(header)))
            return
        if rel == b".":
            self.problems.append((shown, "the layer root is named by a non-directory entry"))
            return
        if flag == REG:
            want = Want("file", mode, *owner, size=header.size)
            want.xattrs = self._xattrs(header)
        elif flag == SYM:
            want = Want("symlink", None, *owner, target=header.linkname)
            want.xattrs = self._xattrs(header)
        elif flag in (CHR, BLK):
            kind = "char" if flag == CHR else "block"
            want = Want(kind, mode, *owner, dev=(header.devmajor, header.devminor))
            want.xattrs = self._xattrs(header)
            want.optional = not self.as_root
        elif flag == FIFO:
            want = Want("fifo", mode, *owner, xattrs=self._xattrs(header))
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
                    os.fsdecode(rel),
                    f"hardlink to {os.fsdecode(header.linkname)!r}, which the layer does not "
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
            self.want[parent] = Want("dir", implicit=True)
        if base == WHITEOUT_OPAQUE:
            if parent:
                self.want[parent].opaque = True
            else:
                self.want.setdefault(b".", Want("dir", implicit=True)).opaque = True
            return
        if base.startswith(WHITEOUT_META_PREFIX):
            return
        hidden = base[len(WHITEOUT_PREFIX) :]
        rel = parent + b"/" + hidden if parent else hidden
        want = Want("whiteout", None, *owner, optional=not self.as_root)
        self._put(rel, want)

    def finish(self) -> None:
        """Parents the tar does not name exist as directories all the same."""
        for rel in list(self.want):
            cut = rel.rfind(b"/")
            while cut > 0:
                parent = rel[:cut]
                if parent in self.want:
                    break
                self.want[parent] = Want("dir", implicit=True)
                cut = parent.rfind(b"/")
