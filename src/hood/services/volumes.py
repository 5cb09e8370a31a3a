"""Volumes: the anonymous and named volumes `run` mounts (image VOLUMEs, -v NAME:/path,
--mount), and `hood volume ls|create|rm|inspect|prune` as docker's."""

from __future__ import annotations

import os
from typing import Any

from hood.core.errors import HoodError, NotFound
from hood.core.lean import Record
from hood.runtime.mount_spec import MountPoint, VolumeRequest, depth
from hood.runtime.spec import ContainerSpec, RunOptions
from hood.store.containers import Container, ContainerStore
from hood.store.layout import Layout
from hood.store.volumes import ANONYMOUS_LABEL, Volume, VolumeStore, check_name, size_of


class ContainerVolumes(Record):
    """What a new container's volumes and mounts put in its records and its spec."""

    __slots__ = ("mounts", "config_volumes", "binds", "host_mounts", "mount_points")

    def __init__(self) -> None:
        self.mounts: list[MountPoint] = []  # ContainerSpec.mounts
        self.config_volumes: dict[str, dict] = {}  # Config.Volumes
        self.binds: list[str] = []  # HostConfig.Binds of named -v volumes
        self.host_mounts: list[dict] = []  # HostConfig.Mounts (--mount)
        self.mount_points: dict[str, dict] = {}  # config.v2.json MountPoints


def _volume_point(
    target: str, volume: Volume, readonly: bool, spec: dict, mode: str
) -> dict[str, Any]:
    point: dict[str, Any] = {
        "Source": volume.mountpoint,
        "Destination": target,
        "RW": not readonly,
        "Name": volume.name,
        "Driver": "local",
        "Type": "volume",
    }
    if mode:  # dockerd keeps the mode under this key: "z" for a named volume by default
        point["Relabel"] = mode
    point.update(Spec=spec, SkipMountpointCreation=False)
    return point


def container_volumes(
    layout: Layout, image_config: dict[str, Any], opts: RunOptions, spec: ContainerSpec
) -> ContainerVolumes:
    """Each volume the container mounts, made in the store when it does not exist yet: an
    anonymous one (64 hex characters) for each -v /path, --mount without source and image
    VOLUME no other mount covers; the named ones by their names."""
    out = ContainerVolumes()
    store = VolumeStore(layout)
    for req in _requests(image_config, opts, spec, out):
        if req.kind == "bind":
            _add_bind(out, req)
        elif req.kind == "tmpfs":
            _add_tmpfs(out, req)
        else:
            _add_volume(out, store, req)
        if req.spec is not None:
            out.host_mounts.append(req.spec)
    out.mounts.sort(key=lambda m: depth(m.target))
    return out


def _requests(
    image_config: dict[str, Any], opts: RunOptions, spec: ContainerSpec, out: ContainerVolumes
) -> list[VolumeRequest]:
    """-v's and --mount's requests (a mount point taken twice is docker's "Duplicate mount
    point"), then an anonymous volume for each image VOLUME no other mount covers, noted
    in Config.Volumes."""
    taken = {b.target for b in spec.binds} | set(spec.tmpfs)
    requests: list[VolumeRequest] = list(opts.volumes)
    for req in requests:
        if req.target in taken:
            raise HoodError(f"Duplicate mount point: {req.target}")
        taken.add(req.target)
    image_volumes = image_config.get("Volumes")
    for target in sorted(image_volumes) if isinstance(image_volumes, dict) else []:
        path = "/" + os.path.normpath(str(target)).lstrip("/")
        if path not in taken:
            requests.append(VolumeRequest("volume", "", path))
            taken.add(path)
            out.config_volumes[str(target)] = {}
    return requests


def _add_bind(out: ContainerVolumes, req: VolumeRequest) -> None:
    """--mount type=bind: the host path mounted, as dockerd records it."""
    out.mounts.append(MountPoint("bind", req.source, req.target, req.readonly))
    out.mount_points[req.target] = {
        "Source": req.source,
        "Destination": req.target,
        "RW": not req.readonly,
        "Name": "",
        "Driver": "",
        "Type": "bind",
        "Propagation": "rprivate",
        "Spec": req.spec,
        "SkipMountpointCreation": True,
    }


def _add_tmpfs(out: ContainerVolumes, req: VolumeRequest) -> None:
    """--mount type=tmpfs: a tmpfs with its options, as dockerd records it."""
    out.mounts.append(MountPoint("tmpfs", "tmpfs", req.target, req.readonly, data=req.data))
    out.mount_points[req.target] = {
        "Source": "",
        "Destination": req.target,
        "RW": not req.readonly,
        "Name": "",
        "Driver": "",
        "Type": "tmpfs",
        "Spec": req.spec,
        "SkipMountpointCreation": False,
    }


def _add_volume(out: ContainerVolumes, store: VolumeStore, req: VolumeRequest) -> None:
    """A volume, named or anonymous, made in the store when it does not exist yet, and
    recorded as dockerd does: its mount point with the mode it was given, a -v NAME:DIR
    in HostConfig.Binds, a -v DIR in Config.Volumes."""
    labels = (req.spec or {}).get("VolumeOptions", {}).get("Labels")
    volume = store.create(req.source or None, labels, anonymous=not req.source)
    out.mounts.append(
        MountPoint("volume", volume.mountpoint, req.target, req.readonly, not req.nocopy)
    )
    mode = ""
    if req.spec is None and req.source:  # -v NAME:DIR[:MODE]
        given = ("ro" if req.readonly else "", "nocopy" if req.nocopy else "")
        mode = ",".join(m for m in given if m)
        out.binds.append(f"{req.source}:{req.target}" + (f":{mode}" if mode else ""))
        mode = mode or "z"
    elif req.source:  # --mount type=volume,source=NAME
        mode = "z"
    elif req.spec is None and req.target not in out.config_volumes:  # -v DIR
        out.config_volumes[req.target] = {}
    out.mount_points[req.target] = _volume_point(
        req.target, volume, req.readonly, _volume_spec(req), mode
    )


def _volume_spec(req: VolumeRequest) -> dict[str, Any]:
    """The mount point's Spec: --mount's own, the one docker's CLI makes of a -v NAME:DIR,
    empty for a -v DIR or an image VOLUME."""
    if req.spec is not None:
        return req.spec
    if not req.source:
        return {}
    spec: dict[str, Any] = {"Type": "volume", "Source": req.source, "Target": req.target}
    if req.readonly:
        spec["ReadOnly"] = True
    return spec


def fill_volumes(layout: Layout, container_id: str, mounts: list[MountPoint]) -> None:
    """At create, as docker does: each empty volume the container mounts gets what the
    image has at its mount point (the container's root mounted aside for a moment). What
    cannot be mounted here (rootless) is filled when the container starts instead."""
    import tempfile

    from hood.runtime.mounts import copy_up
    from hood.runtime.rootfs import mount_overlay, secure_join, unmount
    from hood.store.rwlayers import RwLayers

    empty = [m for m in mounts if m.kind == "volume" and m.copy and not os.listdir(m.source)]
    if not empty:
        return
    mount_id = RwLayers(layout).mount_id(container_id)
    os.makedirs(layout.tmp, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="volumes-", dir=layout.tmp) as target:
        try:
            mount_overlay(layout, mount_id, target)
        except HoodError:
            return
        try:
            for m in empty:
                inside = secure_join(target, m.target)
                if os.path.isdir(inside) and not os.path.islink(inside):
                    copy_up(inside, m.source)
        finally:
            unmount(target)


# --- which containers use which volumes --------------------------------------------------


def _volume_points(c: Container) -> list[dict[str, Any]]:
    points = c.config.get("MountPoints")
    if not isinstance(points, dict):
        return []
    return [p for p in points.values() if isinstance(p, dict) and p.get("Type") == "volume"]


def users(layout: Layout) -> dict[str, list[str]]:
    """Volume name -> the IDs of the containers that mount it."""
    out: dict[str, list[str]] = {}
    for c in ContainerStore(layout).list():
        for point in _volume_points(c):
            name = point.get("Name")
            if isinstance(name, str) and name:
                out.setdefault(name, []).append(c.id)
    return out


def anonymous_volumes(c: Container) -> list[str]:
    """The container's volumes nobody named (-v /path, image VOLUMEs, --mount without a
    source): what `rm -v` and `run --rm` remove with it, as docker's."""
    out = []
    for point in _volume_points(c):
        spec = point.get("Spec")
        name = point.get("Name")
        if isinstance(name, str) and name and not (isinstance(spec, dict) and spec.get("Source")):
            out.append(name)
    return out


def remove_anonymous(layout: Layout, c: Container) -> None:
    """Remove the container's anonymous volumes that no other container uses (after the
    container's own record is gone)."""
    names = anonymous_volumes(c)
    if not names:
        return
    used = users(layout)
    store = VolumeStore(layout)
    for name in names:
        if used.get(name):
            continue
        try:
            store.remove(name)
        except NotFound:
            continue


# --- hood volume -----------------------------------------------------------------------------


def volume_document(v: Volume) -> dict[str, Any]:
    """docker volume inspect's document."""
    return {
        "CreatedAt": v.created,
        "Driver": "local",
        "Labels": v.labels or None,
        "Mountpoint": v.mountpoint,
        "Name": v.name,
        "Options": v.options or None,
        "Scope": "local",
    }


def create_volume(layout: Layout, name: str | None, labels: dict[str, str]) -> Volume:
    if name:
        check_name(name)
    return VolumeStore(layout).create(name or None, labels)


def inspect_volumes(layout: Layout, names: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """The documents of the volumes found, and an error line for each one not found."""
    store = VolumeStore(layout)
    docs, errors = [], []
    for name in names:
        try:
            docs.append(volume_document(store.get(name)))
        except NotFound:
            errors.append(f"get {name}: no such volume")
    return docs, errors


def list_volumes(layout: Layout, filters: list[tuple[str, str]] | None = None) -> list[Volume]:
    """docker volume ls, by name (filters: dangling, name, label, driver)."""
    from hood.services.filters import Filters

    selected = Filters(filters or ())
    selected.validate(("dangling", "driver", "label", "name"))
    used = users(layout) if selected.contains("dangling") else {}
    dangling = selected.get_bool("dangling", False) if selected.contains("dangling") else None
    out = []
    for v in VolumeStore(layout).list():
        if not selected.match("name", v.name):
            continue
        if not selected.match("driver", "local"):
            continue
        if not selected.match_kv_list("label", v.labels):
            continue
        if dangling is not None and bool(used.get(v.name)) == dangling:
            continue
        out.append(v)
    return out


def remove_volumes(layout: Layout, names: list[str], force: bool = False) -> list[tuple[str, str]]:
    """Remove each volume; (name, error) for each one that could not be ("" when gone)."""
    used = users(layout)
    store = VolumeStore(layout)
    out = []
    for name in names:
        try:
            store.remove(name, used.get(name))
            out.append((name, ""))
        except NotFound as exc:
            out.append((name, "" if force else str(exc)))
        except HoodError as exc:
            out.append((name, str(exc)))
    return out


def prune_volumes(
    layout: Layout,
    *,
    all: bool = False,
    filters: list[tuple[str, str]] | None = None,  # noqa: A002
) -> tuple[list[str], int]:
    """docker volume prune: the volumes no container uses, the anonymous ones only unless
    `all`; their names and the bytes they held."""
    from hood.services.filters import Filters

    selected = Filters(filters or ())
    selected.validate(("label", "label!", "all"))
    if selected.contains("all"):
        all = selected.get_bool("all", False)  # noqa: A001
    used = users(layout)
    store = VolumeStore(layout)
    removed, reclaimed = [], 0
    for v in store.list():
        if used.get(v.name) or (not all and ANONYMOUS_LABEL not in v.labels):
            continue
        if not selected.match_kv_list("label", v.labels):
            continue
        if selected.contains("label!") and selected.match_kv_list("label!", v.labels):
            continue
        size = size_of(v.mountpoint)
        try:
            store.remove(v.name)
        except HoodError:
            continue
        removed.append(v.name)
        reclaimed += size
    return removed, reclaimed
