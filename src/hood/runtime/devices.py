"""The host's devices a container gets beyond its own /dev (--device, and every one with
--privileged): which nodes, their cgroup allow list, and the nodes made in its root.
The built-in runtime and the OCI bundle (runc, crun) read the same lists."""

from __future__ import annotations

import os
import stat

from hood.runtime import cgroups, linux
from hood.runtime.rootfs import secure_join

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hood.runtime.spec import ContainerSpec

# Under /dev, what runc's HostDevices leaves out of a privileged container's devices.
_HOST_DEV_SKIP = ("pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev")


def host_devices(path: str = "/dev") -> list[str]:
    """The device nodes under `path` (itself, when it is one), as runc's GetDevices walks
    /dev for --privileged and for a --device that names a directory."""
    try:
        st = os.lstat(path)
    except OSError:
        return []
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        return [path]
    if not stat.S_ISDIR(st.st_mode):
        return []
    out = []
    for name in sorted(os.listdir(path)):
        full = os.path.join(path, name)
        if os.path.isdir(full) and not os.path.islink(full):
            if name not in _HOST_DEV_SKIP:
                out += host_devices(full)
        elif name != "console" and not os.path.islink(full):
            out += host_devices(full)
    return out


def device_list(spec: ContainerSpec) -> list[tuple[str, str]]:
    """(host node, path in the container) of every device the container gets beyond its
    own: the host's with --privileged, then each --device (a directory: the nodes under it)."""
    out = [(d, d) for d in host_devices()] if spec.privileged else []
    for host, inside, _ in spec.devices:
        for node in host_devices(host):
            out.append((node, inside + node[len(host) :] if node != host else inside))
    return out


def device_cgroup_rules(spec: ContainerSpec) -> list[str] | None:
    """docker's device allow list for the container (None: every device, privileged)."""
    if spec.privileged:
        return None
    perms = {node: p for host, _, p in spec.devices for node in host_devices(host)}
    return cgroups.device_rules([d for d in device_list(spec) if d[0] in perms], perms)


def make_device_nodes(root: str, devices: list[tuple[str, str]], rootless: bool) -> None:
    """Each host device node at its path in the container (made with the host's mode and
    owner; bound from the host when rootless), as runc creates linux.devices."""
    old_mask = os.umask(0)
    try:
        for host, inside in devices:
            st = os.stat(host)
            target = secure_join(root, inside)
            if os.path.lexists(target):
                if inside.startswith("/dev/") and inside.count("/") == 2:
                    continue  # one of the container's own: /dev/null, /dev/ptmx, ...
                os.unlink(target)  # what the image has there
            os.makedirs(os.path.dirname(target), 0o755, exist_ok=True)
            if rootless:
                os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o666))
                linux.mount(host, target, None, linux.MS_BIND)
                continue
            kind = stat.S_IFCHR if stat.S_ISCHR(st.st_mode) else stat.S_IFBLK
            os.mknod(target, kind | stat.S_IMODE(st.st_mode), st.st_rdev)
            os.chown(target, st.st_uid, st.st_gid)
    finally:
        os.umask(old_mask)
