"""`hood inspect CONTAINER`: docker's container inspect document, key for key in docker
20.10's order, built from config.v2.json and hostconfig.json."""

from __future__ import annotations

import os
from typing import Any

from hood.core.errors import HoodError
from hood.core.fileio import read_optional
from hood.runtime.spec import MASKED_PATHS, READONLY_PATHS
from hood.services.container_records import resources
from hood.store.containers import ZERO_TIME, Container, ContainerStore, empty_endpoint
from hood.store.layout import Layout
from hood.store.rwlayers import RwLayers


def inspect_container(layout: Layout, name: str) -> dict[str, Any]:
    """The container `name` (ID, name or ID prefix) as docker inspect shows it.
    Raises hood.core.errors.NotFound when there is no such container."""
    c = ContainerStore(layout).resolve(name)
    return container_document(layout, c)


def _state(c: Container) -> dict[str, Any]:
    st = c.state
    running = c.running
    finished = st.get("FinishedAt", ZERO_TIME)
    return {
        "Status": c.status_word(),
        "Running": running,
        "Paused": False,
        "Restarting": False,
        "OOMKilled": bool(st.get("OOMKilled", False)),
        "Dead": bool(st.get("Dead", False)),
        "Pid": st.get("Pid", 0) if running else 0,
        "ExitCode": c.exit_code,
        "Error": st.get("Error", ""),
        "StartedAt": st.get("StartedAt", ZERO_TIME),
        "FinishedAt": finished,
    }


def _host_config(c: Container) -> dict[str, Any]:
    """HostConfig as docker 20.10's inspect shows it: hostconfig.json's values where hood
    keeps them, dockerd's defaults for the rest (Runtime "runc" for hood's built-in)."""
    h = c.hostconfig
    network = h.get("NetworkMode", "host")
    doc: dict[str, Any] = {
        "Binds": h.get("Binds"),
        "ContainerIDFile": "",
        "LogConfig": h.get("LogConfig") or {"Type": "json-file", "Config": {}},
        "NetworkMode": network,
        "PortBindings": {},
        "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
        "AutoRemove": bool(h.get("AutoRemove", False)),
        "VolumeDriver": "",
        "VolumesFrom": None,
        "CapAdd": h.get("CapAdd"),
        "CapDrop": h.get("CapDrop"),
        "CgroupnsMode": "private",
        "Dns": _list(h, "Dns"),
        "DnsOptions": _list(h, "DnsOptions"),
        "DnsSearch": _list(h, "DnsSearch"),
        "ExtraHosts": h.get("ExtraHosts"),
        "GroupAdd": None,
        "IpcMode": "private",
        "Cgroup": "",
        "Links": None,
        "OomScoreAdj": 0,
        "PidMode": "",
        "Privileged": bool(h.get("Privileged", False)),
        "PublishAllPorts": False,
        "ReadonlyRootfs": bool(h.get("ReadonlyRootfs", False)),
        "SecurityOpt": h.get("SecurityOpt"),
    }
    if h.get("Tmpfs"):
        doc["Tmpfs"] = h["Tmpfs"]
    doc.update(
        {
            "UTSMode": "",
            "UsernsMode": "",
            "ShmSize": h.get("ShmSize") or 67108864,
            "Runtime": "runc" if h.get("Runtime", "builtin") == "builtin" else h["Runtime"],
            "ConsoleSize": [0, 0],
            "Isolation": "",
        }
    )
    doc.update(_resources(h))
    if h.get("Mounts"):
        doc["Mounts"] = h["Mounts"]
    for key, default in (("MaskedPaths", MASKED_PATHS), ("ReadonlyPaths", READONLY_PATHS)):
        value = h.get(key, list(default))  # null for a privileged container, as docker's
        doc[key] = value if value is None or isinstance(value, list) else list(default)
    if h.get("Init") is not None:
        doc["Init"] = bool(h["Init"])
    return doc


def _resources(h: dict[str, Any]) -> dict[str, Any]:
    """HostConfig's part that is docker's Resources: the limits hostconfig.json records
    (memory, CPUs, pids, devices, ulimits, block I/O), dockerd's defaults for the rest."""
    return resources(
        Memory=h.get("Memory") or 0,
        NanoCpus=h.get("NanoCpus") or 0,
        BlkioDeviceReadBps=_list(h, "BlkioDeviceReadBps"),
        BlkioDeviceWriteBps=_list(h, "BlkioDeviceWriteBps"),
        BlkioDeviceReadIOps=_list(h, "BlkioDeviceReadIOps"),
        BlkioDeviceWriteIOps=_list(h, "BlkioDeviceWriteIOps"),
        Devices=_list(h, "Devices"),
        PidsLimit=h.get("PidsLimit"),
        Ulimits=_list(h, "Ulimits"),
    )


def _list(hostconfig: dict[str, Any], key: str) -> list[Any]:
    """A list docker's CLI always sends, so its inspect shows [] rather than null."""
    value = hostconfig.get(key)
    return value if isinstance(value, list) else []


def _graph_driver(layout: Layout, c: Container) -> dict[str, Any]:
    data: dict[str, str] = {}
    try:
        layer: str | None = layout.layer_dir(RwLayers(layout).mount_id(c.id))
    except HoodError:
        layer = None
    if layer is not None:
        lowers = []
        lower = read_optional(os.path.join(layer, "lower"))
        for item in filter(None, lower.split(":")):
            link = os.path.join(layout.overlay2, item)
            try:
                lowers.append(
                    os.path.realpath(os.path.join(os.path.dirname(link), os.readlink(link)))
                )
            except OSError:
                lowers.append(link)
        data = {
            "LowerDir": ":".join(lowers),
            "MergedDir": os.path.join(layer, "merged"),
            "UpperDir": os.path.join(layer, "diff"),
            "WorkDir": os.path.join(layer, "work"),
        }
    return {"Data": data or None, "Name": "overlay2"}


def _mounts(c: Container) -> list[dict[str, Any]]:
    out = []
    for point in (c.config.get("MountPoints") or {}).values():
        if not isinstance(point, dict):
            continue
        rw = bool(point.get("RW", True))
        kind = point.get("Type", "bind")
        doc: dict[str, Any] = {"Type": kind}
        if point.get("Name"):
            doc["Name"] = point["Name"]
        doc["Source"] = point.get("Source", "")
        doc["Destination"] = point.get("Destination", "")
        if point.get("Driver"):
            doc["Driver"] = point["Driver"]
        doc["Mode"] = str(point.get("Relabel") or "")  # docker keeps -v's mode under that key
        doc["RW"] = rw
        doc["Propagation"] = point.get("Propagation", "rprivate" if kind == "bind" else "")
        out.append(doc)
    return out


def _config(c: Container) -> dict[str, Any]:
    stored = c.config.get("Config") or {}
    keys = (
        "Hostname",
        "Domainname",
        "User",
        "AttachStdin",
        "AttachStdout",
        "AttachStderr",
        "Tty",
        "OpenStdin",
        "StdinOnce",
        "Env",
        "Cmd",
        "Image",
        "Volumes",
        "WorkingDir",
        "Entrypoint",
        "OnBuild",
        "Labels",
    )
    out = {k: stored.get(k) for k in keys}
    if stored.get("StopSignal"):
        out["StopSignal"] = stored["StopSignal"]
    return out


def _network_settings(c: Container) -> dict[str, Any]:
    mode = c.hostconfig.get("NetworkMode", "host")
    endpoint = empty_endpoint()
    del endpoint["IPAMOperational"]  # recorded, never shown
    return {
        "Bridge": "",
        "SandboxID": "",
        "HairpinMode": False,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "Ports": {},
        "SandboxKey": "",
        "SecondaryIPAddresses": None,
        "SecondaryIPv6Addresses": None,
        "EndpointID": "",
        "Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "MacAddress": "",
        "Networks": {mode: endpoint},
    }


def container_document(layout: Layout, c: Container) -> dict[str, Any]:
    cfg = c.config
    return {
        "Id": c.id,
        "Created": cfg.get("Created", ZERO_TIME),
        "Path": cfg.get("Path", ""),
        "Args": list(cfg.get("Args") or []),
        "State": _state(c),
        "Image": cfg.get("Image", ""),
        "ResolvConfPath": cfg.get("ResolvConfPath", ""),
        "HostnamePath": cfg.get("HostnamePath", ""),
        "HostsPath": cfg.get("HostsPath", ""),
        "LogPath": cfg.get("LogPath", ""),
        "Name": cfg.get("Name", ""),
        "RestartCount": cfg.get("RestartCount", 0),
        "Driver": cfg.get("Driver", "overlay2"),
        "Platform": cfg.get("OS", "linux"),
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": None,
        "HostConfig": _host_config(c),
        "GraphDriver": _graph_driver(layout, c),
        "Mounts": _mounts(c),
        "Config": _config(c),
        "NetworkSettings": _network_settings(c),
    }
