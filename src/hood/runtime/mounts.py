"""The container's file system, as the built-in runtime's child sets it up in its own
mount namespace: the overlay root with /proc, /dev, /sys and the cgroup hierarchy, the
etc files, binds, volumes and tmpfs mounts; pivot_root into it; then the read-only root
and docker's masked and read-only paths."""

from __future__ import annotations

import errno
import os
import stat

from hood.core.lean import suppress
from hood.runtime import cgroups, linux
from hood.runtime.devices import device_list, make_device_nodes
from hood.runtime.rootfs import mount_overlay, open_in_root, secure_join
from hood.runtime.spec import MASKED_PATHS, READONLY_PATHS
from hood.store.layout import join

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hood.runtime.launch import Launch
    from hood.runtime.spec import ContainerSpec

MS_STRICTATIME = 1 << 24
MS_RELATIME = 1 << 21
_NOSUID_ALL = linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC


def _mount_in(
    root: str,
    path: str,
    source: str | None,
    fstype: str | None,
    flags: int,
    data: str | None = None,
    kind: str = "dir",
) -> None:
    fd = open_in_root(root, path, kind=kind)
    try:
        linux.mount(source, f"/proc/self/fd/{fd}", fstype, flags, data)
    finally:
        os.close(fd)


def _remount_ro(target: str, recursive: bool = False) -> None:
    flags = linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY
    st = os.statvfs(target)
    flags |= st.f_flag & (linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC)
    if recursive:
        flags |= linux.MS_REC
    linux.mount(None, target, None, flags)


_DEVICES = (
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
)

_TMPFS_FLAGS = {
    "ro": linux.MS_RDONLY,
    "nosuid": linux.MS_NOSUID,
    "nodev": linux.MS_NODEV,
    "noexec": linux.MS_NOEXEC,
    "strictatime": MS_STRICTATIME,
}


def _tmpfs_options(text: str) -> tuple[int, str]:
    flags = linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC
    data = []
    for opt in filter(None, text.split(",")):
        if opt in _TMPFS_FLAGS:
            flags |= _TMPFS_FLAGS[opt]
        elif opt in ("rw",):
            flags &= ~linux.MS_RDONLY
        elif opt in ("exec", "suid", "dev"):
            flags &= ~_TMPFS_FLAGS["no" + opt]
        else:
            data.append(opt)
    return flags, ",".join(data)


def _setup_dev(root: str, rootless: bool, shm_size: int | None = None) -> None:
    _mount_in(
        root, "/dev", "tmpfs", "tmpfs", linux.MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k"
    )
    dev = os.path.join(root, "dev")  # a fresh tmpfs: nothing in it can be a symlink yet
    for name, major, minor in _DEVICES:
        path = os.path.join(dev, name)
        if rootless:
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o666))
            linux.mount(f"/dev/{name}", path, None, linux.MS_BIND)
        else:
            os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
            os.chmod(path, 0o666)
    for sub in ("pts", "shm", "mqueue"):
        os.mkdir(os.path.join(dev, sub), 0o755)
    linux.mount(
        "devpts",
        os.path.join(dev, "pts"),
        "devpts",
        linux.MS_NOSUID | linux.MS_NOEXEC,
        "newinstance,ptmxmode=0666,mode=0620" + ("" if rootless else ",gid=5"),
    )
    size = f"size={shm_size}" if shm_size else "size=65536k"
    linux.mount("shm", os.path.join(dev, "shm"), "tmpfs", _NOSUID_ALL, "mode=1777," + size)
    with suppress(OSError):
        linux.mount("mqueue", os.path.join(dev, "mqueue"), "mqueue", _NOSUID_ALL)
    for name, target in (
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ):
        os.symlink(target, os.path.join(dev, name))


def copy_up(source: str, dest: str) -> None:
    """A volume's first use: what the image has at its mount point, copied into the empty
    volume with modes, owners and times, as docker copies it."""
    import shutil

    st = os.lstat(source)
    for entry in os.scandir(source):
        src, dst = entry.path, os.path.join(dest, entry.name)
        if entry.is_dir(follow_symlinks=False):
            shutil.copytree(src, dst, symlinks=True, copy_function=shutil.copy2)
        else:
            shutil.copy2(src, dst, follow_symlinks=False)
    for dirpath, dirnames, filenames in os.walk(dest):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            orig = os.path.join(source, os.path.relpath(full, dest))
            with suppress(OSError):
                o = os.lstat(orig)
                os.lchown(full, o.st_uid, o.st_gid)
                if not stat.S_ISLNK(o.st_mode):
                    os.chmod(full, stat.S_IMODE(o.st_mode))
    os.chown(dest, st.st_uid, st.st_gid)
    os.chmod(dest, stat.S_IMODE(st.st_mode))


def _mount_all(rootfs: str, spec: ContainerSpec) -> None:
    """-v binds, volumes, --tmpfs and --mount in the root, parents first."""
    for m in spec.all_mounts():
        if m.kind == "tmpfs":
            tflags, data = _tmpfs_options(m.data)
            _mount_in(rootfs, m.target, "tmpfs", "tmpfs", tflags, data or None)
            continue
        if not os.path.exists(m.source):
            os.makedirs(m.source, 0o755, exist_ok=True)
        if m.kind == "volume" and m.copy and not os.listdir(m.source):
            inside = secure_join(rootfs, m.target)
            if os.path.isdir(inside) and not os.path.islink(inside):
                copy_up(inside, m.source)
        kind = "dir" if os.path.isdir(m.source) else "file"
        fd = open_in_root(rootfs, m.target, kind=kind)
        try:
            target = f"/proc/self/fd/{fd}"
            linux.mount(m.source, target, None, linux.MS_BIND | linux.MS_REC)
            if m.readonly:
                _remount_ro(os.readlink(target), recursive=True)
        finally:
            os.close(fd)


def _bind_rw(source: str, target: str) -> None:
    """A writable bind (a cgroup hierarchy in a privileged container's /sys/fs/cgroup)."""
    linux.mount(source, target, None, linux.MS_BIND)


def _bind_ro(source: str, target: str) -> None:
    """A read-only bind with nosuid, nodev and noexec (a cgroup hierarchy in /sys/fs/cgroup)."""
    linux.mount(source, target, None, linux.MS_BIND)
    flags = linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY
    flags |= linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC
    linux.mount(None, target, None, flags | (os.statvfs(target).f_flag & MS_RELATIME))


def _mount_sys(rootfs: str, container_id: str, privileged: bool, rootless: bool) -> None:
    """/sys and the cgroup hierarchy in /sys/fs/cgroup: read-only unless privileged."""
    sys_ro = 0 if privileged else linux.MS_RDONLY  # docker: /sys writable when privileged
    try:
        _mount_in(rootfs, "/sys", "sysfs", "sysfs", _NOSUID_ALL | sys_ro)
    except OSError:  # a network namespace we do not own: the host's /sys, read-only
        _mount_in(rootfs, "/sys", "/sys", None, linux.MS_BIND | linux.MS_REC)
        _remount_ro(os.path.join(rootfs, "sys"), recursive=True)
    try:
        cgroups.mount_in_container(
            rootfs, container_id, linux.mount, _bind_ro if sys_ro else _bind_rw, not sys_ro
        )
    except OSError:
        if not rootless:
            raise


def mount_root(launch: Launch, rootless: bool) -> str:
    """In a fresh (private) mount namespace: the container's overlay with everything it
    mounts in it, ready for pivot_root; its path."""
    spec = launch.spec
    rootfs = str(mount_overlay(launch.layout, launch.mount_id, userxattr=rootless))
    _mount_in(rootfs, "/proc", "proc", "proc", _NOSUID_ALL)
    _setup_dev(rootfs, rootless, spec.shm_size)
    if spec.privileged or spec.devices:
        make_device_nodes(rootfs, device_list(spec), rootless)
    _mount_sys(rootfs, spec.id, spec.privileged, rootless)
    for name in ("hostname", "hosts", "resolv.conf"):
        src = join(launch.container_dir, name)
        if os.path.exists(src):
            _mount_in(rootfs, f"/etc/{name}", str(src), None, linux.MS_BIND, kind="file")
    _mount_all(rootfs, spec)
    return rootfs


def pivot_into(rootfs: str) -> None:
    """`rootfs` becomes "/", the host's root is detached from under it."""
    os.chdir(rootfs)
    linux.pivot_root(".", ".")
    linux.umount(".", linux.MNT_DETACH)
    os.chdir("/")


def restrict_paths(spec: ContainerSpec) -> None:
    """After pivot_root: --read-only's root, and docker's masked and read-only paths
    (none with systempaths=unconfined); a path the container lacks is skipped."""
    if spec.read_only:
        _remount_ro("/")
    for path in () if spec.unmasked else MASKED_PATHS:
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                linux.mount("tmpfs", path, "tmpfs", linux.MS_RDONLY)
            else:
                linux.mount("/dev/null", path, None, linux.MS_BIND)
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
                raise
    for path in () if spec.unmasked else READONLY_PATHS:
        try:
            linux.mount(path, path, None, linux.MS_BIND | linux.MS_REC)
            _remount_ro(path, recursive=True)
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
                raise
