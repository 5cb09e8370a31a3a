"""Overlayfs over a layer's lower layers, and paths resolved inside a root filesystem
without ever leaving it.

The overlay is mounted with lowerdir/upperdir relative to overlay2/ (a chdir before mount, as
docker does) so the option string stays short however many layers the image has."""

from __future__ import annotations

import errno
import os
import stat

from hood.core.errors import HoodError, StoreError
from hood.core.lean import suppress
from hood.core.privilege import host_root
from hood.runtime import linux
from hood.store.layout import Layout, join


class MountError(HoodError):
    """A mount or unmount that failed."""


def _read_text(path: str) -> str:
    with open(path) as f:
        return f.read()


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
    layout: Layout, mount_id: str, target: str | None = None, *, userxattr: bool = False
) -> str:
    """Mount layer `mount_id` with its lower layers at `target` (default
    overlay2/MOUNTID/merged); returns the target's absolute path.

    `userxattr` (rootless): overlayfs reads opaque markers from user.overlay.* instead of
    trusted.overlay.*, which a user namespace cannot read; rootless layers carry those."""
    dest = os.path.abspath(target if target is not None else join(layout.layer_dir(mount_id), "merged"))
    with suppress(FileExistsError):  # dockerd makes merged/ when it mounts, and removes it
        os.mkdir(dest, 0o700)
    opts = overlay_options(layout, mount_id)
    if userxattr:
        opts = "userxattr," + opts
    saved = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.chdir(layout.overlay2)
        try:
            linux.mount("overlay", dest, "overlay", 0, "index=off," + opts)
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.EPERM):
                raise MountError(f"cannot mount the overlay on {dest}: {exc.strerror}") from None
            try:  # a kernel without the index option
                linux.mount("overlay", dest, "overlay", 0, opts)
            except OSError as exc2:
                hint = ""
                if not host_root() and exc2.errno == errno.EPERM:
                    hint = " (overlayfs in a user namespace, for rootless, needs Linux >= 5.11)"
                raise MountError(
                    f"cannot mount the overlay on {dest}: {exc2.strerror}{hint}"
                ) from None
    finally:
        os.fchdir(saved)
        os.close(saved)
    return dest


def lower_of(layout: Layout, layer_id: str) -> list[str]:
    """A layer's lower layers (its `lower` file), topmost first, relative to overlay2/."""
    try:
        lower = _read_text(join(layout.layer_dir(layer_id), "lower")).strip()
    except FileNotFoundError:
        return []
    items = lower.split(":") if lower else []
    for item in items:
        if not item.startswith("l/") or "/" in item[2:] or item[2:] in ("", ".", ".."):
            raise StoreError(f"{join(layout.layer_dir(layer_id), 'lower')}: bad entry {item!r}")
    return items


def mount_read_only(
    layout: Layout, lowers: list[str], target: str, *, userxattr: bool = False
) -> None:
    """A read-only view of `lowers` (relative to overlay2/, topmost first) at `target`:
    a bind mount of the one directory, or an overlay of several (`userxattr`: rootless
    layers' opaque markers, see mount_overlay)."""
    if not lowers:
        raise MountError("no layers to mount")
    target = os.path.abspath(target)
    saved = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.chdir(layout.overlay2)
        if len(lowers) == 1:
            linux.mount(os.path.realpath(lowers[0]), target, None, linux.MS_BIND)
            linux.mount(None, target, None, linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY)
        else:
            opts = ("userxattr," if userxattr else "") + "lowerdir=" + ":".join(lowers)
            linux.mount("overlay", target, "overlay", linux.MS_RDONLY, opts)
    except PermissionError:
        raise MountError(
            f"cannot mount on {target}: permission denied (mounting needs root)"
        ) from None
    except OSError as exc:
        raise MountError(f"cannot mount the layers on {target}: {exc.strerror}") from None
    finally:
        os.fchdir(saved)
        os.close(saved)


def mounted_under(path: str) -> list[str]:
    """Mount points at or below `path` in this mount namespace, deepest first."""
    base = os.path.realpath(path)
    out = []
    with (
        suppress(OSError),
        open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f,
    ):
        for line in f:
            point = line.split()[4]
            if "\\" in point:
                point = mountinfo_path(point)
            if point == base or point.startswith(base.rstrip("/") + "/"):
                out.append(point)
    out.sort(key=len, reverse=True)
    return out


def mountinfo_path(field: str) -> str:
    """A path as /proc/self/mountinfo writes it: space, tab, newline and backslash as
    \\ooo (octal); the rest as it is (UTF-8, already decoded)."""
    head, *escaped = field.split("\\")
    out = [head]
    for part in escaped:
        try:
            out.append(chr(int(part[:3], 8)) + part[3:])
        except ValueError:
            out.append("\\" + part)
    return "".join(out)


def is_mounted(path: str) -> bool:
    return os.path.realpath(path) in mounted_under(path)


def unmount(path: str) -> bool:
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
