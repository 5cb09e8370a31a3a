"""What `hood info`, `hood version` and `hood system df` report: the host, the data root and
what it holds, as docker's system commands report a daemon's."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from typing import Any

from hood.core.digest import Digest
from hood.core.privilege import host_root
from hood.runtime.spec import RUNTIMES
from hood.store.containers import ContainerStore
from hood.store.images import ImageStore
from hood.store.layout import Layout


def version_info() -> dict[str, Any]:
    """hood's version and the Python and platform it runs on."""
    from hood.core.platform import Platform
    from hood.core.version import VERSION as __version__

    host = Platform.host()
    return {
        "Version": __version__,
        "PythonVersion": sys.version.split()[0],
        "PythonImplementation": sys.implementation.name,
        "Os": host.os,
        "Arch": host.architecture + (f"/{host.variant}" if host.variant else ""),
    }


def _mount_fstype(path: str) -> str:
    """The type of the filesystem `path` (or its nearest existing parent) is on, named as
    docker names backing filesystems (ext2/3/4: extfs)."""
    while not os.path.exists(path) and path not in ("", "/"):
        path = os.path.dirname(path)
    path = os.path.realpath(path)
    best, fstype = "", ""
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                point = fields[4].replace("\\040", " ")
                sep = fields.index("-")
                inside = path == point or path.startswith(point.rstrip("/") + "/")
                if inside and len(point) >= len(best):
                    best, fstype = point, fields[sep + 1]
    except (OSError, ValueError, IndexError):
        return ""
    return "extfs" if fstype in ("ext2", "ext3", "ext4") else fstype


def _os_release() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                key, _, value = line.strip().partition("=")
                if key == "PRETTY_NAME":
                    return value.strip().strip('"')
    except OSError:
        pass
    return "<unknown>"


def _mem_total() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def runtimes() -> dict[str, str]:
    """The runtimes hood can use here: name -> path (the built-in one is always there)."""
    out = {"builtin": "(built in)"}
    for name in RUNTIMES[1:]:
        path = shutil.which(name)
        if path:
            out[name] = path
    return out


def system_info(layout: Layout) -> dict[str, Any]:
    """docker info's fields, for this data root and host."""
    from hood.runtime.cgroups import is_v2

    containers = ContainerStore(layout).list()
    running = sum(1 for c in containers if c.running)
    rootless = not host_root()
    uname = os.uname()
    return {
        "Containers": len(containers),
        "ContainersRunning": running,
        "ContainersPaused": 0,
        "ContainersStopped": len(containers) - running,
        "Images": len(ImageStore(layout).image_ids()),
        "ServerVersion": version_info()["Version"],
        "Driver": "overlay2",
        "DriverStatus": [
            ["Backing Filesystem", _mount_fstype(str(layout.root))],
            ["userxattr", "true" if rootless else "false"],
        ],
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": "2" if is_v2() else "1",
        "Runtimes": runtimes(),
        "DefaultRuntime": "builtin",
        "SecurityOptions": ["name=rootless"] if rootless else [],
        "Rootless": rootless,
        "KernelVersion": uname.release,
        "OperatingSystem": _os_release(),
        "OSType": "linux",
        "Architecture": uname.machine,
        "NCPU": len(os.sched_getaffinity(0)),
        "MemTotal": _mem_total(),
        "Name": uname.nodename,
        "DockerRootDir": str(layout.root),
    }


# --- system df ---------------------------------------------------------------------------------


@dataclass
class UsageRow:
    """One line of `docker system df`: counts and bytes (reclaimable as docker reckons it)."""

    type: str
    total: int = 0
    active: int = 0
    size: int = 0
    reclaimable: int = 0
    # what the RECLAIMABLE percentage is of (docker: the images' layers, or `size`)
    of: int = 0


@dataclass
class DiskUsage:
    rows: list[UsageRow] = field(default_factory=list)


def tree_size(path: str) -> int:
    """Bytes of the files under `path` as docker's directory.Size counts them: every
    non-directory once (hardlinks once), directories not at all."""
    total, seen = 0, set()
    for dirpath, dirnames, filenames in os.walk(path):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            if st.st_size and (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def _volumes(layout: Layout, containers: list[Any]) -> UsageRow:
    """Local volumes, kept as docker keeps them: ROOT/volumes/NAME/_data."""
    row = UsageRow("Local Volumes")
    base = os.path.join(str(layout.root), "volumes")
    try:
        names = sorted(n for n in os.listdir(base) if os.path.isdir(os.path.join(base, n, "_data")))
    except OSError:
        names = []
    used = set()
    for c in containers:
        for point in (c.config.get("MountPoints") or {}).values():
            if isinstance(point, dict) and point.get("Name"):
                used.add(point["Name"])
    for name in names:
        size = tree_size(os.path.join(base, name, "_data"))
        row.total += 1
        row.size += size
        if name in used:
            row.active += 1
        else:
            row.reclaimable += size
    row.of = row.size
    return row


def disk_usage(layout: Layout) -> DiskUsage:
    """docker system df's rows: images, containers, local volumes, build cache."""
    from hood.services.container_lifecycle import rw_size

    images = ImageStore(layout)
    containers = ContainerStore(layout).list()
    records = images.list()
    refs: dict[Digest, int] = {}
    sizes: dict[Digest, int] = {}
    chains: dict[Digest, list[Digest]] = {}
    for record in records:
        layers = images.layers_of(record.config)
        chains[record.id] = [layer.chain_id for layer in layers]
        for layer in layers:
            refs[layer.chain_id] = refs.get(layer.chain_id, 0) + 1
            sizes[layer.chain_id] = layer.size
    users: dict[str, int] = {}
    for c in containers:
        image_id = str(c.config.get("Image", ""))
        users[image_id] = users.get(image_id, 0) + 1
    layers_size = sum(sizes.values())
    image_row = UsageRow("Images", total=len(records), size=layers_size, of=layers_size)
    used = 0
    for record in records:
        if users.get(str(record.id)):
            image_row.active += 1
            chain = chains[record.id]
            size = sum(sizes[c] for c in chain)
            shared = sum(sizes[c] for c in chain if refs[c] > 1)
            used += size - shared
    image_row.reclaimable = layers_size - used
    container_row = UsageRow("Containers", total=len(containers))
    for c in containers:
        size = rw_size(layout, c)
        container_row.size += size
        if c.running:
            container_row.active += 1
        else:
            container_row.reclaimable += size
    container_row.of = container_row.size
    return DiskUsage(
        [image_row, container_row, _volumes(layout, containers), UsageRow("Build Cache")]
    )
