"""A container's read-write layer in docker's overlay2 layout, and overlayfs over it.

    overlay2/MOUNTID/{diff,work,merged,link,lower}   lower = "l/TOP:...:l/BOTTOM"
    overlay2/l/LINKID -> ../MOUNTID/diff
    image/overlay2/layerdb/mounts/CONTAINERID/{mount-id,parent}

The overlay is mounted with lowerdir/upperdir relative to overlay2/ (a chdir before mount, as
docker does) so the option string stays short however many layers the image has."""

from __future__ import annotations

import errno
import os
import stat

from hood.errors import HoodError, StoreError
from hood.runtime import linux
from hood.runtime.lean import suppress
from hood.store.layout import Layout, join

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path


class MountError(HoodError):
    """A mount or unmount that failed."""


_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def new_link_id() -> str:
    """26 characters of base32 (RFC 4648's alphabet) over 16 random bytes, as docker's."""
    n = int.from_bytes(os.urandom(16), "big") << 2  # 128 bits + 2 zero bits = 26 x 5
    return "".join(_B32[(n >> (5 * i)) & 31] for i in range(25, -1, -1))


def check_safe_dir(path: Path, what: str = "data root") -> None:
    """Refuse a data root or rootfs that is a symlink or writable by everyone."""
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        raise StoreError(f"{what} {path} is a symlink; refusing it")
    if not stat.S_ISDIR(st.st_mode):
        raise StoreError(f"{what} {path} is not a directory")
    if st.st_mode & 0o002 and not st.st_mode & stat.S_ISVTX:
        raise StoreError(f"{what} {path} is writable by everyone; refusing it")


def create_layer(layout: Layout, container_id: str, link_ids: Sequence[str], parent: str) -> str:
    """The container's overlay2 dir over the image layers (`link_ids` lowest first)."""
    mount_id = os.urandom(32).hex()
    layer = layout.layer_dir(mount_id)
    os.makedirs(layout.short_links, exist_ok=True)
    os.mkdir(layer, 0o710)
    os.mkdir(join(layer, "diff"), 0o755)
    os.mkdir(join(layer, "work"), 0o700)
    os.mkdir(join(layer, "merged"), 0o700)
    link = new_link_id()
    _write_text(join(layer, "link"), link)
    if link_ids:
        _write_text(join(layer, "lower"), ":".join(f"l/{lid}" for lid in reversed(link_ids)))
    os.symlink(f"../{mount_id}/diff", join(layout.short_links, link))
    meta = layout.layerdb_mount(container_id)
    os.makedirs(meta, exist_ok=True)
    _write_text(join(meta, "mount-id"), mount_id)
    if parent:
        _write_text(join(meta, "parent"), parent)
    return mount_id


def _write_text(path: Path | str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _read_text(path: Path | str) -> str:
    with open(path) as f:
        return f.read()


def mount_id_of(layout: Layout, container_id: str) -> str:
    try:
        mid = _read_text(join(layout.layerdb_mount(container_id), "mount-id")).strip()
    except FileNotFoundError:
        raise StoreError(f"container {container_id[:12]} has no read-write layer") from None
    if len(mid) != 64 or any(c not in "0123456789abcdef" for c in mid):
        raise StoreError(f"container {container_id[:12]}: corrupt mount-id")
    return mid


def overlay_options(layout: Layout, mount_id: str) -> str:
    """Mount options relative to overlay2/, lowerdir topmost first."""
    layer = layout.layer_dir(mount_id)
    try:
        lower = _read_text(join(layer, "lower")).strip()
    except FileNotFoundError:
        lower = ""
    for item in lower.split(":"):
        if item and (not item.startswith("l/") or "/" in item[2:] or item[2:] in ("", ".", "..")):
            raise StoreError(f"{join(layer, 'lower')}: bad entry {item!r}")
    if not lower:
        # overlayfs needs a lower layer: an image without layers gets an empty one.
        with suppress(FileExistsError):
            os.mkdir(join(layer, "empty"))
        lower = f"{mount_id}/empty"
    return f"lowerdir={lower},upperdir={mount_id}/diff,workdir={mount_id}/work"


def mount_overlay(
    layout: Layout, mount_id: str, target: Path | str | None = None, *, userxattr: bool = False
) -> Path | str:
    """Mount the container's overlay at `target` (default overlay2/MOUNTID/merged); returns
    its absolute path, a Path unless both `target` and the layout's root are str.

    `userxattr` (rootless): overlayfs reads opaque markers from user.overlay.* instead of
    trusted.overlay.*, which a user namespace cannot read; rootless layers carry those."""
    dest = target if target is not None else join(layout.layer_dir(mount_id), "merged")
    if isinstance(dest, str):
        dest = os.path.abspath(dest)
        if not isinstance(layout.root, str):
            from pathlib import Path

            dest = Path(dest)
    else:
        dest = dest.absolute()
    opts = overlay_options(layout, mount_id)
    if userxattr:
        opts = "userxattr," + opts
    saved = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.chdir(layout.overlay2)
        try:
            linux.mount("overlay", str(dest), "overlay", 0, "index=off," + opts)
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.EPERM):
                raise MountError(f"cannot mount the overlay on {dest}: {exc.strerror}") from None
            try:  # a kernel without the index option
                linux.mount("overlay", str(dest), "overlay", 0, opts)
            except OSError as exc2:
                hint = ""
                if os.geteuid() != 0 and exc2.errno == errno.EPERM:
                    hint = " (overlayfs in a user namespace, for rootless, needs Linux >= 5.11)"
                raise MountError(
                    f"cannot mount the overlay on {dest}: {exc2.strerror}{hint}"
                ) from None
    finally:
        os.fchdir(saved)
        os.close(saved)
    return dest


def mounted_under(path: Path | str) -> list[str]:
    """Mount points at or below `path` in this mount namespace, deepest first."""
    base = os.path.realpath(path)
    out = []
    with suppress(OSError), open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].encode().decode("unicode_escape")
            if point == base or point.startswith(base.rstrip("/") + "/"):
                out.append(point)
    out.sort(key=len, reverse=True)
    return out


def is_mounted(path: Path | str) -> bool:
    return os.path.realpath(path) in mounted_under(path)


def unmount(path: Path | str) -> bool:
    """Unmount everything at or below `path`. Returns whether anything was mounted."""
    points = mounted_under(path)
    for point in points:
        try:
            linux.umount(point)
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                continue
            try:
                linux.umount(point, linux.MNT_DETACH)
            except OSError as exc2:
                raise MountError(f"cannot unmount {point}: {exc2.strerror}") from None
    return bool(points)


def remove_layer(layout: Layout, container_id: str) -> None:
    """Unmount and delete the container's read-write layer and its layerdb/mounts entry."""
    meta = layout.layerdb_mount(container_id)
    with suppress(StoreError):
        mount_id = mount_id_of(layout, container_id)
        layer = layout.layer_dir(mount_id)
        unmount(join(layer, "merged"))
        with suppress(OSError):
            link = _read_text(join(layer, "link")).strip()
            if link and "/" not in link:
                os.unlink(join(layout.short_links, link))
        remove_tree(layer)
    remove_tree(meta)


def remove_tree(path: Path | str) -> None:
    """rm -rf through directory fds, never following a symlink. A container's few files go
    this way on every `--rm`; store.atomic's shutil-based one is the fallback for what
    this cannot remove (unreadable dirs when not root)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    try:
        if not stat.S_ISDIR(st.st_mode):
            os.unlink(path)
            return
        fd = _open_dir(str(path), None)
        try:
            _clear_dir(fd)
        finally:
            os.close(fd)
        os.rmdir(path)
    except OSError:
        from pathlib import Path

        from hood.store.atomic import remove_tree as slow_remove_tree

        slow_remove_tree(Path(path))


def _open_dir(name: str, dfd: int | None) -> int:
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(name, flags, dir_fd=dfd)
    except PermissionError:
        # Rootless: a dir of ours made unreadable from inside the container (overlayfs's
        # work/work is mode 000): we own it, so open it up and go on.
        path = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
        try:
            os.chmod(f"/proc/self/fd/{path}", 0o700)
        finally:
            os.close(path)
        return os.open(name, flags, dir_fd=dfd)


def _clear_dir(dfd: int) -> None:
    if os.geteuid() != 0:  # rootless: no CAP_DAC_OVERRIDE for a dir of ours without rwx
        mode = os.fstat(dfd).st_mode
        if mode & 0o700 != 0o700:
            os.fchmod(dfd, mode | 0o700)
    with os.scandir(dfd) as entries:
        names = [(e.name, e.is_dir(follow_symlinks=False)) for e in entries]
    for name, is_dir in names:
        if is_dir:
            sub = _open_dir(name, dfd)
            try:
                _clear_dir(sub)
            finally:
                os.close(sub)
            os.rmdir(name, dir_fd=dfd)
        else:
            os.unlink(name, dir_fd=dfd)


# --- resolving paths inside a root, never leaving it --------------------------------------

_MAX_LINKS = 255


def secure_join(root: str, path: str) -> str:
    """`path` resolved inside `root`: symlinks are followed as if `root` were /, `..` stops at
    root. The result is always root or below it (filepath-securejoin's rule)."""
    root = os.path.realpath(root)
    parts = [p for p in path.split("/") if p]
    resolved: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == ".":
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:
            resolved.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > _MAX_LINKS:
                raise OSError(errno.ELOOP, "too many symlinks", path)
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p] + parts
            continue
        resolved.append(part)
    return os.path.join(root, *resolved)


def open_in_root(root: str, path: str, *, kind: str = "dir") -> int:
    """An O_PATH fd of `path` inside `root`, created (as `kind`: dir|file) if missing.

    Each component is opened relative to its parent with O_NOFOLLOW after resolution, and the
    final fd's real path is checked to be inside root: a symlink swapped in meanwhile makes
    this fail instead of escaping (CVE-2021-30465)."""
    root = os.path.realpath(root)
    full = secure_join(root, path)
    rel = os.path.relpath(full, root)
    comps = [] if rel == "." else rel.split("/")
    fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for i, comp in enumerate(comps):
            last = i == len(comps) - 1
            try:
                nxt = os.open(comp, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            except FileNotFoundError:
                if last and kind == "file":
                    # O_PATH cannot create: make the file through a real directory fd.
                    dfd = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_DIRECTORY)
                    try:
                        os.close(
                            os.open(
                                comp, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW, 0o755, dir_fd=dfd
                            )
                        )
                    finally:
                        os.close(dfd)
                else:
                    dfd = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_DIRECTORY)
                    try:
                        os.mkdir(comp, 0o755, dir_fd=dfd)
                    finally:
                        os.close(dfd)
                nxt = os.open(comp, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = nxt
            if stat.S_ISLNK(os.fstat(fd).st_mode):
                raise OSError(errno.ELOOP, "path changed to a symlink", path)
        real = os.readlink(f"/proc/self/fd/{fd}")
        if real != root and not real.startswith(root.rstrip("/") + "/"):
            raise OSError(errno.EXDEV, f"{path} resolves outside the root filesystem", path)
        return fd
    except BaseException:
        os.close(fd)
        raise
