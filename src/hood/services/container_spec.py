"""How to run a container: hood's own record, or what dockerd's records say, as the
runtime's ContainerSpec."""

from __future__ import annotations

from hood.core.errors import HoodError
from hood.core.lean import suppress
from hood.runtime.spec import ContainerSpec
from hood.store.containers import (
    Container,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from hood.core.platform import Platform

    # puller(name, platform, missing): bring the image into the store.
    Puller = Callable[[str, "Platform | None", bool], None]
    Warn = Callable[[str], None]


def container_spec(c: Container) -> ContainerSpec:
    """How to run `c`: hood's own record, or for a container dockerd created, what its
    config.v2.json and hostconfig.json say (dockerd's rules, with hood's networks: a
    network other than host or none gets none)."""
    if c.created_by_hood:
        return ContainerSpec.from_json(c.spec_doc)
    from hood.runtime.mount_spec import Bind
    from hood.runtime.spec import DEFAULT_PATH, merge_env

    config = c.config.get("Config") if isinstance(c.config.get("Config"), dict) else {}
    host = c.hostconfig
    hostname = str(config.get("Hostname") or c.id[:12])
    tty = bool(config.get("Tty"))
    daemon_env = [f"PATH={DEFAULT_PATH}", f"HOSTNAME={hostname}"] + (["TERM=xterm"] if tty else [])
    env = merge_env(daemon_env, [str(e) for e in config.get("Env") or [] if isinstance(e, str)])
    path = c.config.get("Path")
    if not isinstance(path, str) or not path:
        raise HoodError(f"container {c.name}: its config.v2.json names no command (Path)")
    network = host.get("NetworkMode") if host.get("NetworkMode") in ("host", "none") else "none"
    binds = []
    for text in host.get("Binds") or []:
        try:
            binds.append(Bind.parse(str(text)))
        except HoodError:
            continue  # a named volume: docker's, not hood's
    cpus = host.get("NanoCpus") or 0
    extra = _docker_run_options(c)
    return ContainerSpec(
        **extra,
        id=c.id,
        hostname=hostname,
        args=[path, *[str(a) for a in c.config.get("Args") or []]],
        env=env,
        cwd=str(config.get("WorkingDir") or "/"),
        user=str(config.get("User") or ""),
        tty=tty,
        stdin=bool(config.get("OpenStdin")),
        network=network,
        read_only=bool(host.get("ReadonlyRootfs")),
        binds=binds,
        tmpfs=dict(host.get("Tmpfs") or {}),
        memory=host.get("Memory") or None,
        cpus=cpus / 1e9 if cpus else None,
        pids_limit=host.get("PidsLimit") or None,
        entrypoint=config.get("Entrypoint"),
        cmd=config.get("Cmd"),
        no_new_privs=bool(c.config.get("NoNewPrivileges")),
        config_env=config.get("Env"),
    )


def _docker_run_options(c: Container) -> dict[str, Any]:
    """What dockerd's records say of the less common run options, for ContainerSpec: the
    capabilities, privileged, ulimits, devices, /dev/shm's size, --init, and the volumes
    and tmpfs mounts of MountPoints."""
    from hood.runtime.capabilities import effective_caps
    from hood.runtime.mount_spec import MountPoint, tmpfs_data
    from hood.runtime.spec import ULIMITS
    from hood.runtime.spec_errors import SpecError

    host = c.hostconfig
    out: dict[str, Any] = {"privileged": bool(host.get("Privileged"))}

    def strings(key: str) -> list[str]:
        value = host.get(key)
        return [str(v) for v in value] if isinstance(value, list) else []

    with suppress(SpecError):
        out["caps"] = effective_caps(strings("CapAdd"), strings("CapDrop"))
    ulimits = []
    for u in host.get("Ulimits") or []:
        if isinstance(u, dict) and u.get("Name") in ULIMITS:
            ulimits.append([u["Name"], int(u.get("Soft", 0)), int(u.get("Hard", 0))])
    out["ulimits"] = ulimits
    out["devices"] = [
        [str(d.get("PathOnHost")), str(d.get("PathInContainer") or d.get("PathOnHost")),
         str(d.get("CgroupPermissions") or "rwm")]
        for d in host.get("Devices") or [] if isinstance(d, dict) and d.get("PathOnHost")
    ]  # fmt: skip
    shm = host.get("ShmSize")
    out["shm_size"] = shm if isinstance(shm, int) and shm > 0 and shm != 67108864 else None
    out["init"] = bool(host.get("Init"))
    out["systempaths"] = host.get("MaskedPaths") == [] and not out["privileged"]
    mounts = []
    for point in (c.config.get("MountPoints") or {}).values():
        if not isinstance(point, dict):
            continue
        target = str(point.get("Destination") or "")
        if point.get("Type") == "volume" and point.get("Name"):
            source = c.layout.volume_data(str(point["Name"]))
            mounts.append(MountPoint("volume", source, target, not point.get("RW", True), True))
        elif point.get("Type") == "tmpfs" and target:
            spec = point.get("Spec") if isinstance(point.get("Spec"), dict) else {}
            tmpfs = spec.get("TmpfsOptions") if isinstance(spec.get("TmpfsOptions"), dict) else {}
            data = tmpfs_data(bool(spec.get("ReadOnly")), tmpfs.get("SizeBytes"), tmpfs.get("Mode"))
            mounts.append(MountPoint("tmpfs", "tmpfs", target, data=data))
    out["mounts"] = mounts
    return out
