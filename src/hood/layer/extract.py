"""Writing a layer's entries into its empty overlay2 diff directory, securely.

Entries are made the way dockerd's overlay2 driver makes them (whiteouts become
overlayfs whiteouts, `.wh..wh..opq` an opaque marker) and nothing outside the
directory is created, changed or deleted:
- every parent is walked component by component with dir fds opened
  O_NOFOLLOW|O_DIRECTORY, so a symlink (or any non-directory) in a parent is refused,
  never followed; files are created O_EXCL|O_NOFOLLOW relative to the parent fd;
- metadata calls (chown, utime, xattrs) never follow the final component: they use
  the file's own fd or *at() calls with AT_SYMLINK_NOFOLLOW;
- hardlink targets are cleaned and resolved the same way and linked with linkat()
  without following; symlink targets are stored as they are (they are never
  followed by us; overlayfs resolves them inside the container's root).
Names arrive cleaned (`tarheader.clean_name`); `apply` checks the layer's limits.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

from hood.core.errors import LayerError
from hood.core.fileio import disk_error, is_disk_error
from hood.layer.beneath import DIR_FLAGS, open_beneath
from hood.layer.overlay import (
    OPAQUE_XATTR,
    OVERLAY_XATTR_PREFIXES,
    USER_OPAQUE_XATTR,
    WHITEOUT_META_PREFIX,
    WHITEOUT_OPAQUE,
    WHITEOUT_PREFIX,
)
from hood.layer.tarheader import BLK, CHR, DIR, FIFO, LNK, REG, SYM, TarHeader, clean_name

_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_MAX_PARENTS = 128  # directory fds kept open between entries

# copy(n, fd, rel, what): the n content bytes of entry `rel` (its cleaned name) from the
# layer to fd (dropped when fd < 0); their crc64.
Copy = Callable[[int, int, bytes, str], int]
Times = tuple[int, int]  # atime, mtime in ns


class DiffDir:
    """The directory a layer is extracted into, open for the length of the extraction.

    `root`: trusted.* xattrs and the trusted opaque marker can be set (root on the host);
    `chown`: owners can be set (root, or a user namespace mapping subordinate ids);
    `devices`: device nodes are made (else skipped and said in `skipped`)."""

    def __init__(
        self, target: Path, *, root: bool, devices: bool, copy: Copy, chown: bool | None = None
    ) -> None:
        self.target = target
        self.root = root
        self.chown = root if chown is None else chown
        self.devices = devices
        self._copy = copy
        self.root_fd = os.open(target, DIR_FLAGS)
        self.parents: dict[bytes, int] = {}
        self.dirs: list[tuple[bytes, int, int, int]] = []  # rel, mode, atime, mtime
        self.skipped: list[str] = []
        self.size = 0  # sum of non-directory st_size, hardlinks once (see _du)
        self.replaced = False  # something extracted was replaced: recount at the end

    def close(self) -> None:
        self._drop_parents()
        os.close(self.root_fd)

    # --- one entry ------------------------------------------------------------------
    def add(self, rel: bytes, h: TarHeader, shown: str) -> int:
        """Create entry `h` at `rel`, its cleaned name; its content is read through
        `copy`. Returns the crc64 of the content (0 when it has none)."""
        parents = self.parents
        while len(parents) > _MAX_PARENTS:  # bound the cache, oldest first
            os.close(parents.pop(next(iter(parents))))
        mode = h.mode & 0o7777
        atime, mtime = h.atime_ns, h.mtime_ns
        if atime < mtime:
            atime = mtime  # docker: atime = latest of atime and mtime
        if mtime < 0:
            mtime = atime = 0  # docker clamps times before the epoch to the epoch
        times = (atime, mtime)
        if rel == b".":
            if h.typeflag != DIR:
                raise LayerError(f"entry {shown!r}: only a directory can name the layer root")
            self._chown(-1, b"", h.uid, h.gid, self.root_fd)
            self._xattrs(shown, -1, b"", h.xattrs, self.root_fd)
            self.dirs.append((b".", mode, atime, mtime))
            return 0
        cut = rel.rfind(b"/")
        parent, base = (rel[:cut], rel[cut + 1 :]) if cut >= 0 else (b"", rel)
        if base.startswith(WHITEOUT_PREFIX):
            if h.size:
                self._copy(h.size, -1, rel, f"entry {shown!r}")
                raise LayerError(f"entry {shown!r}: a whiteout must not carry content")
            self._whiteout(parent, base, shown, h.uid, h.gid)
            return 0
        pfd = self._parent(parent, shown)
        flag = h.typeflag
        try:
            if flag == REG:
                return self._file(pfd, base, rel, h, shown, mode, times)
            if flag == DIR:
                self._dir(pfd, base, rel, h, shown, mode, times)
            elif flag == SYM:
                self._symlink(pfd, base, rel, h, shown, times)
            elif flag == LNK:
                self._hardlink(pfd, base, rel, h, shown, mode, times)
            elif flag in (CHR, BLK, FIFO):
                self._node(pfd, base, rel, h, shown, mode, times)
            else:
                raise LayerError(f"entry {shown!r}: unsupported tar entry type {flag!r}")
            return 0
        except LayerError:
            raise
        except OSError as exc:
            self._disk(exc, shown)
            raise LayerError(f"entry {shown!r}: {exc.strerror or exc}") from None

    def _file(
        self, pfd: int, base: bytes, rel: bytes, h: TarHeader, shown: str, mode: int, times: Times
    ) -> int:
        try:  # made first, looked at only when the name is taken (a lookup less per file)
            fd = os.open(base, _FILE_FLAGS, 0o600, dir_fd=pfd)
        except FileExistsError:
            self._clear(pfd, base, False, rel)
            fd = os.open(base, _FILE_FLAGS, 0o600, dir_fd=pfd)
        try:
            crc = self._copy(h.size, fd, rel, f"entry {shown!r}")
            self.size += h.size
            self._chown(-1, b"", h.uid, h.gid, fd)
            self._xattrs(shown, pfd, base, h.xattrs, fd)
            os.fchmod(fd, mode)  # after chown, so setuid/setgid bits stay
            os.utime(fd, ns=times)
        finally:
            os.close(fd)
        return crc

    def _dir(
        self, pfd: int, base: bytes, rel: bytes, h: TarHeader, shown: str, mode: int, times: Times
    ) -> None:
        if not self._clear(pfd, base, True, rel):
            os.mkdir(base, 0o700, dir_fd=pfd)
        fd = os.open(base, DIR_FLAGS, dir_fd=pfd)
        try:
            self._chown(-1, b"", h.uid, h.gid, fd)
            self._xattrs(shown, pfd, base, h.xattrs, fd)
        finally:
            os.close(fd)
        # Mode and times at the end: later entries would change the mtime, and a
        # read-only mode could stop a non-root apply from filling the dir.
        self.dirs.append((rel, mode, *times))

    def _symlink(
        self, pfd: int, base: bytes, rel: bytes, h: TarHeader, shown: str, times: Times
    ) -> None:
        self._clear(pfd, base, False, rel)
        os.symlink(h.linkname, base, dir_fd=pfd)
        self.size += len(h.linkname)
        self._chown(pfd, base, h.uid, h.gid)
        self._xattrs(shown, pfd, base, h.xattrs)
        os.utime(base, ns=times, dir_fd=pfd, follow_symlinks=False)

    def _hardlink(
        self, pfd: int, base: bytes, rel: bytes, h: TarHeader, shown: str, mode: int, times: Times
    ) -> None:
        is_symlink = self._link(pfd, base, rel, shown, h.linkname)
        # dockerd applies the link header's owner, and unless the inode is a symlink
        # its xattrs, mode and times, to the shared inode; so do we, without following.
        self._chown(pfd, base, h.uid, h.gid)
        if not is_symlink:
            self._xattrs(shown, pfd, base, h.xattrs)
            self._chmod_path(pfd, base, mode)
            os.utime(base, ns=times, dir_fd=pfd, follow_symlinks=False)

    def _node(
        self, pfd: int, base: bytes, rel: bytes, h: TarHeader, shown: str, mode: int, times: Times
    ) -> None:
        """A fifo or a device node."""
        flag = h.typeflag
        if flag != FIFO and not self.devices:
            why = "not allowed" if self.root else "needs root"
            self.skipped.append(f"{shown}: device node ({why})")
            return
        self._clear(pfd, base, False, rel)
        if flag == FIFO:
            os.mkfifo(base, 0o600, dir_fd=pfd)
        else:
            kind = stat.S_IFCHR if flag == CHR else stat.S_IFBLK
            os.mknod(base, kind | 0o600, os.makedev(h.devmajor, h.devminor), dir_fd=pfd)
        self._chown(pfd, base, h.uid, h.gid)
        self._xattrs(shown, pfd, base, h.xattrs)
        self._chmod_path(pfd, base, mode)
        os.utime(base, ns=times, dir_fd=pfd, follow_symlinks=False)

    def _link(self, pfd: int, base: bytes, rel: bytes, shown: str, linkname: bytes) -> bool:
        """Link base to an earlier entry. Returns whether that entry is a symlink."""
        target = clean_name(linkname)
        if target is None or target == b".":
            raise LayerError(
                f"entry {shown!r}: hardlink target {os.fsdecode(linkname)!r} is outside the layer"
            )
        cut = target.rfind(b"/")
        tparent, tbase = (target[:cut], target[cut + 1 :]) if cut >= 0 else (b"", target)
        tpfd = self._parent(tparent, shown, create=False)
        try:
            st = os.stat(tbase, dir_fd=tpfd, follow_symlinks=False)
        except FileNotFoundError:
            raise LayerError(
                f"entry {shown!r}: hardlink target {os.fsdecode(linkname)!r} does not exist "
                "(it must come earlier in the same layer)"
            ) from None
        if stat.S_ISDIR(st.st_mode):
            raise LayerError(
                f"entry {shown!r}: hardlink target {os.fsdecode(linkname)!r} is a directory"
            )
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
            raise LayerError(f"entry {shown!r}: whiteout of {os.fsdecode(hidden)!r} is not allowed")
        try:
            # Mode 0, as dockerd makes it. Since Linux 5.8 a 0/0 character device (the
            # overlayfs whiteout) needs no privilege, so this is tried without root too.
            os.mknod(hidden, stat.S_IFCHR, 0, dir_fd=pfd)
        except FileExistsError:
            raise LayerError(
                f"entry {shown!r}: whiteout of {os.fsdecode(hidden)!r}, which this layer "
                "also creates"
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

    # --- parent directories ------------------------------------------------------
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
        shown_parent = os.fsdecode(parent)
        try:
            fd = os.open(comp, DIR_FLAGS, dir_fd=base_fd)
        except FileNotFoundError:
            if not create:
                raise LayerError(f"entry {shown!r}: {shown_parent!r} does not exist") from None
            try:
                os.mkdir(comp, 0o755, dir_fd=base_fd)
                fd = os.open(comp, DIR_FLAGS, dir_fd=base_fd)
            except OSError as exc:
                self._disk(exc, shown)
                raise LayerError(
                    f"entry {shown!r}: cannot create parent {shown_parent!r}: {exc.strerror}"
                ) from None
        except OSError as exc:
            self._disk(exc, shown)
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise LayerError(
                    f"entry {shown!r}: parent {shown_parent!r} is a symlink or not a "
                    "directory; refusing to write through it"
                ) from None
            raise LayerError(
                f"entry {shown!r}: cannot open {shown_parent!r}: {exc.strerror}"
            ) from None
        self.parents[parent] = fd
        return fd

    def _disk(self, exc: OSError, shown: str) -> None:
        """A full or failing disk is no fault of the layer: say so, naming the file."""
        if is_disk_error(exc):
            raise disk_error(exc, "writing", f"{self.target}/{shown.strip('/')}") from None

    # --- metadata -------------------------------------------------------------------
    def _chown(self, pfd: int, base: bytes, uid: int, gid: int, fd: int = -1) -> None:
        if not self.chown:
            return
        try:
            if fd >= 0:
                os.fchown(fd, uid, gid)
            else:
                os.chown(base, uid, gid, dir_fd=pfd, follow_symlinks=False)
        except OSError as exc:
            if exc.errno != errno.EINVAL or self.root:
                raise
            raise LayerError(
                f"owner {uid}:{gid} of {os.fsdecode(base) or 'an entry'} is beyond the ids "
                "your user namespace maps: give your user a larger range in /etc/subuid "
                "and /etc/subgid"
            ) from None

    def _xattrs(
        self,
        shown: str,
        pfd: int,
        base: bytes,
        xattrs: tuple[tuple[str, bytes], ...],
        fd: int = -1,
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

    # --- the end --------------------------------------------------------------------
    def finish(self) -> int:
        """Directory modes and times, now that nothing more goes in. Returns the size
        dockerd stores in layerdb (see _du)."""
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
        return self._du() if self.replaced else self.size

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
