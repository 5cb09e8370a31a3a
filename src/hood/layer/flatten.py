"""Flatten overlay2 layer dirs (lowest first) into one plain directory, as overlayfs
would show them merged: whiteouts (0/0 character devices) delete, opaque directories
hide lower content, an upper directory replaces a lower non-directory (a lower
`var/run -> /run` symlink is replaced, never written through).

Everything in `dest` is reached through dir fds opened O_NOFOLLOW and created with
O_EXCL/O_NOFOLLOW or *at() calls, so a symlink from any layer is copied as a symlink
and never followed. Owners, modes (setuid included), times, xattrs (minus
overlayfs' own `trusted.overlay.*` / `user.overlay.*`) and hardlinks within a layer
are kept. A directory is opaque with `trusted.overlay.opaque=y` or, as a rootless
unpack marks it, `user.overlay.opaque=y`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from pathlib import Path

from hood.core.errors import LayerError
from hood.core.fileio import disk_error, is_disk_error
from hood.layer.beneath import DIR_FLAGS, MAX_DEPTH, open_beneath
from hood.layer.overlay import OPAQUE_XATTRS, OVERLAY_XATTR_PREFIXES


def _proc(fd: int, name: str) -> str:
    return f"/proc/self/fd/{fd}/{name}"


def _is_opaque(dir_fd: int) -> bool:
    """The directory at `dir_fd` has an opaque marker: trusted (root) or user (rootless)."""
    opaque = False
    for key in OPAQUE_XATTRS:
        with contextlib.suppress(OSError):
            opaque = opaque or os.getxattr(dir_fd, key) == b"y"
    return opaque


def _clear_way_for_dir(dfd: int, name: str) -> bool:
    """Whether dfd/name is a directory already; a non-directory there is removed (an upper
    directory replaces a lower non-directory)."""
    try:
        cst = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        exists_dir = stat.S_ISDIR(cst.st_mode)
        if not exists_dir:
            os.unlink(name, dir_fd=dfd)
    except FileNotFoundError:
        exists_dir = False
    return exists_dir


class _Flattener:
    def __init__(self, dest: Path, is_root: bool, chown: bool) -> None:
        self.root = is_root  # privileged xattrs, device nodes
        self.chown = chown  # owners kept
        self.dest_fd = os.open(dest, DIR_FLAGS)
        self.dirs: dict[str, tuple[int, int, int]] = {}  # rel -> mode, atime, mtime
        self.skipped: list[str] = []
        self.links: dict[tuple[int, int], str] = {}
        self.at = ""  # the entry being written, relative to dest

    def close(self) -> None:
        os.close(self.dest_fd)

    # --- helpers --------------------------------------------------------------------
    def _remove(self, dfd: int, name: str) -> None:
        try:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(name, dir_fd=dfd)  # fd-based, never follows symlinks
        else:
            os.unlink(name, dir_fd=dfd)

    def _clear_children(self, dfd: int) -> None:
        for entry in os.scandir(dfd):
            self._remove(dfd, entry.name)

    def _xattrs(self, sfd: int, dfd: int, name: str, rel: str, is_link: bool) -> None:
        try:
            keys = os.listxattr(_proc(sfd, name), follow_symlinks=False)
        except OSError:
            return
        for key in keys:
            if key.startswith(OVERLAY_XATTR_PREFIXES):
                continue  # overlayfs' own bookkeeping (opaque, redirect...): not content
            if not self.root and key.startswith(("trusted.", "security.")):
                self.skipped.append(f"{rel}: xattr {key} (needs root)")
                continue
            try:
                value = os.getxattr(_proc(sfd, name), key, follow_symlinks=False)
                os.setxattr(_proc(dfd, name), key, value, follow_symlinks=False)
            except OSError as exc:
                if exc.errno in (errno.ENOTSUP, errno.EPERM, errno.ENODATA):
                    self.skipped.append(f"{rel}: xattr {key} ({exc.strerror})")
                    continue
                raise

    def _meta(self, sfd: int, dfd: int, name: str, rel: str, st: os.stat_result) -> None:
        """Owner, xattrs, mode, times for a non-directory just created at dfd/name."""
        is_link = stat.S_ISLNK(st.st_mode)
        if self.chown:
            os.chown(name, st.st_uid, st.st_gid, dir_fd=dfd, follow_symlinks=False)
        self._xattrs(sfd, dfd, name, rel, is_link)
        if not is_link:
            fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
            try:
                os.chmod(f"/proc/self/fd/{fd}", stat.S_IMODE(st.st_mode))
            finally:
                os.close(fd)
        os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dfd, follow_symlinks=False)

    def _copy_file(self, sfd: int, dfd: int, name: str, size: int) -> None:
        src = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=sfd)
        try:
            dst = os.open(
                name,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o600,
                dir_fd=dfd,
            )
            try:
                left = size
                while left > 0:
                    try:
                        n = os.copy_file_range(src, dst, min(left, 1 << 30))
                    except OSError as exc:
                        if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL):
                            raise
                        n = os.sendfile(dst, src, None, min(left, 1 << 30))
                    if n == 0:
                        break
                    left -= n
            finally:
                os.close(dst)
        finally:
            os.close(src)

    # --- walking ----------------------------------------------------------------------
    def layer(self, layer_dir: Path) -> None:
        """Depth first with a stack of paths, not recursion: only a few fds are open at
        any depth (each directory is reopened from the roots, component by component,
        never following a symlink), so MAX_DEPTH levels need neither MAX_DEPTH fds
        nor stack frames."""
        self.links = {}
        sroot = os.open(layer_dir, DIR_FLAGS)
        try:
            stack = [""]
            while stack:
                rel = stack.pop()
                sfd = open_beneath(sroot, rel)
                try:
                    dfd = open_beneath(self.dest_fd, rel)
                    try:
                        stack.extend(self._dir(sfd, dfd, rel))
                    finally:
                        os.close(dfd)
                finally:
                    os.close(sfd)
        finally:
            os.close(sroot)

    def _dir(self, sfd: int, dfd: int, rel: str) -> list[str]:
        """Merge one directory's entries; sets up its subdirectories in dest and
        returns their paths, for the caller to walk."""
        subdirs: list[str] = []
        for entry in os.scandir(sfd):
            name = entry.name
            crel = f"{rel}/{name}" if rel else name
            self.at = crel
            st = os.stat(name, dir_fd=sfd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                subdirs.append(name)
            else:
                self._entry(sfd, dfd, name, crel, st)
        children: list[str] = []
        for name in subdirs:
            crel = f"{rel}/{name}" if rel else name
            self.at = crel
            if crel.count("/") >= MAX_DEPTH:  # as apply_layer counts path components
                raise LayerError(f"{crel[:200]}...: more than {MAX_DEPTH} path components")
            self._subdir(sfd, dfd, name, crel)
            children.append(crel)
        return children

    def _entry(self, sfd: int, dfd: int, name: str, crel: str, st: os.stat_result) -> None:
        """A non-directory: a whiteout hides whatever lower layers had; anything else
        replaces it (a hardlink to an inode of this layer already written: linked)."""
        mode = st.st_mode
        if stat.S_ISCHR(mode) and st.st_rdev == 0:
            self._remove(dfd, name)  # whiteout: hide whatever lower layers had
            self.dirs.pop(crel, None)
            return
        self._remove(dfd, name)
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in self.links:
            self._link(self.links[key], dfd, name, crel)
            return
        if stat.S_ISREG(mode):
            self._copy_file(sfd, dfd, name, st.st_size)
        elif stat.S_ISLNK(mode):
            os.symlink(os.readlink(name, dir_fd=sfd), name, dir_fd=dfd)
        elif stat.S_ISFIFO(mode):
            os.mkfifo(name, 0o600, dir_fd=dfd)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            if not self.root:
                self.skipped.append(f"{crel}: device node (needs root)")
                return
            os.mknod(name, stat.S_IFMT(mode) | 0o600, st.st_rdev, dir_fd=dfd)
        else:
            self.skipped.append(f"{crel}: unsupported file type (socket?)")
            return
        self._meta(sfd, dfd, name, crel, st)
        if st.st_nlink > 1:
            self.links[key] = crel

    def _subdir(self, sfd: int, dfd: int, name: str, crel: str) -> None:
        """Subdirectory `name` in dest: made (an upper directory replaces a lower
        non-directory), emptied if this layer makes it opaque, given its owner and
        xattrs; its mode and times wait for `finish`."""
        st = os.stat(name, dir_fd=sfd, follow_symlinks=False)
        csfd = os.open(name, DIR_FLAGS, dir_fd=sfd)
        try:
            opaque = _is_opaque(csfd)
            exists_dir = _clear_way_for_dir(dfd, name)
            if not exists_dir:
                os.mkdir(name, 0o700, dir_fd=dfd)
            cdfd = os.open(name, DIR_FLAGS, dir_fd=dfd)
            try:
                if exists_dir and opaque:
                    self._clear_children(cdfd)
                if self.chown:
                    os.fchown(cdfd, st.st_uid, st.st_gid)
                self._xattrs(sfd, dfd, name, crel, False)
                self.dirs[crel] = (stat.S_IMODE(st.st_mode), st.st_atime_ns, st.st_mtime_ns)
            finally:
                os.close(cdfd)
        finally:
            os.close(csfd)

    def _link(self, first: str, dfd: int, name: str, crel: str) -> None:
        parent, _, base = first.rpartition("/")
        pfd = open_beneath(self.dest_fd, parent)
        try:
            os.link(base, name, src_dir_fd=pfd, dst_dir_fd=dfd, follow_symlinks=False)
        except OSError as exc:
            if is_disk_error(exc):
                raise
            raise LayerError(f"{crel}: cannot hardlink to {first}: {exc.strerror}") from None
        finally:
            os.close(pfd)

    def finish(self) -> None:
        for rel, (mode, atime, mtime) in sorted(self.dirs.items(), reverse=True):
            try:
                fd = open_beneath(self.dest_fd, rel)
            except OSError:
                continue  # removed by an upper layer's whiteout
            try:
                os.fchmod(fd, mode)
                os.utime(fd, ns=(atime, mtime))
            finally:
                os.close(fd)


def flatten(layer_dirs: list[Path], dest: Path, *, is_root: bool | None = None) -> list[str]:
    """Merge overlay2 diff dirs (lowest first) into the plain directory `dest`.

    Returns what could not be reproduced (device nodes and privileged xattrs when not
    root). Raises LayerError, DiskError (full or failing disk, naming the file) or
    OSError."""
    if is_root is None:
        from hood.core.privilege import can_chown, host_root

        root, chown = host_root(), can_chown()
    else:
        root = chown = is_root
    flattener = _Flattener(dest, root, chown)
    try:
        for layer_dir in layer_dirs:
            try:
                flattener.layer(layer_dir)
            except LayerError:
                raise
            except OSError as exc:
                if is_disk_error(exc):
                    raise disk_error(exc, "writing", dest / flattener.at) from None
                raise LayerError(f"flattening {layer_dir}: {exc}") from exc
        flattener.at = ""
        try:
            flattener.finish()
        except OSError as exc:
            if is_disk_error(exc):
                raise disk_error(exc, "writing", dest) from None
            raise
    finally:
        flattener.close()
    return flattener.skipped
