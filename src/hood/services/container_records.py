"""The records dockerd keeps for a container it creates, as dockerd 20.10 writes them:
config.v2.json (state, config, network settings, mount points) and hostconfig.json
(binds, capabilities, DNS, resources, masked paths). A dockerd started on the data root
loads, lists and starts a container hood created.

On `hood run`'s path (through container_create): nothing heavy is imported."""

from __future__ import annotations

import os

from hood.runtime.spec import ContainerSpec, RunOptions
from hood.store.containers import ZERO_TIME, empty_endpoint, now_rfc3339

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from hood.store.layout import Layout


def config_v2(
    layout: Layout, spec: ContainerSpec, image_name: str, image_id: str
) -> dict[str, Any]:
    """config.v2.json with the keys, in the order, dockerd 20.10 writes for `docker create`
    (ID and Name are the store's to fill in): a dockerd started on this data root loads,
    lists and starts the container."""
    d = layout.container_dir(spec.id)
    return {
        "StreamConfig": {},
        "State": _created_state(),
        "Created": now_rfc3339(),
        "Managed": False,
        "Path": spec.args[0],
        "Args": spec.args[1:],
        "Config": _config(spec, image_name),
        "Image": image_id,
        "NetworkSettings": _network_settings(spec),
        "LogPath": os.path.join(d, f"{spec.id}-json.log"),
        "Driver": "overlay2",
        "OS": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "RestartCount": 0,
        "HasBeenStartedBefore": False,
        "HasBeenManuallyStopped": False,
        "MountPoints": {b.target: _bind_point(b) for b in spec.binds},
        "SecretReferences": None,
        "ConfigReferences": None,
        "AppArmorProfile": "",
        "HostnamePath": os.path.join(d, "hostname"),
        "HostsPath": os.path.join(d, "hosts"),
        "ShmPath": "",
        "ResolvConfPath": os.path.join(d, "resolv.conf"),
        "SeccompProfile": "",
        "NoNewPrivileges": spec.no_new_privs,
        "LocalLogCacheMeta": {"HaveNotifyEnabled": False},
    }


def _created_state() -> dict[str, Any]:
    """config.v2.json's State of a container created and never started."""
    return {
        "Running": False,
        "Paused": False,
        "Restarting": False,
        "OOMKilled": False,
        "RemovalInProgress": False,
        "Dead": False,
        "Pid": 0,
        "ExitCode": 0,
        "Error": "",
        "StartedAt": ZERO_TIME,
        "FinishedAt": ZERO_TIME,
        "Health": None,
    }


def _config(spec: ContainerSpec, image_name: str) -> dict[str, Any]:
    """config.v2.json's Config: what `docker create` was asked for (add_run_config adds
    the less common flags' part)."""
    return {
        "Hostname": spec.hostname,
        "Domainname": "",
        "User": spec.user,
        "AttachStdin": spec.stdin,
        "AttachStdout": True,
        "AttachStderr": True,
        "Tty": spec.tty,
        "OpenStdin": spec.stdin,
        "StdinOnce": spec.stdin,
        "Env": spec.config_env if spec.config_env is not None else spec.env,
        "Cmd": spec.cmd,
        "Image": image_name,
        "Volumes": None,
        "WorkingDir": spec.cwd if spec.cwd != "/" else "",
        "Entrypoint": spec.entrypoint,
        "OnBuild": None,
        "Labels": {},
    }


def _network_settings(spec: ContainerSpec) -> dict[str, Any]:
    """config.v2.json's NetworkSettings: the container's one network, with no address."""
    return {
        "Bridge": "",
        "SandboxID": "",
        "HairpinMode": False,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "Networks": {spec.network: empty_endpoint()},
        "Service": None,
        "Ports": None,
        "SandboxKey": "",
        "SecondaryIPAddresses": None,
        "SecondaryIPv6Addresses": None,
        "IsAnonymousEndpoint": False,
        "HasSwarmEndpoint": False,
    }


def add_run_config(
    config: dict[str, Any], image_config: dict[str, Any], opts: RunOptions, volumes: Any
) -> None:
    """What the less common run flags add to config.v2.json: the image's labels merged
    with --label, -a, --stop-signal, the VOLUMEs and the volumes and mounts."""
    cfg = config["Config"]
    labels = image_config.get("Labels")
    merged = dict(labels) if isinstance(labels, dict) else {}
    merged.update(opts.labels)
    cfg["Labels"] = merged
    if opts.attach is not None:
        cfg["AttachStdin"] = "stdin" in opts.attach or opts.stdin
        cfg["AttachStdout"] = "stdout" in opts.attach
        cfg["AttachStderr"] = "stderr" in opts.attach
    stop_signal = opts.stop_signal or image_config.get("StopSignal")
    if isinstance(stop_signal, str) and stop_signal:
        cfg["StopSignal"] = stop_signal
    if volumes is not None:
        cfg["Volumes"] = volumes.config_volumes or None
        config["MountPoints"].update(volumes.mount_points)


def _bind_point(b: Any) -> dict[str, Any]:
    """A -v HOST:DIR[:ro] in config.v2.json's MountPoints, as dockerd writes it (the
    mode it was given under the Relabel key)."""
    point: dict[str, Any] = {
        "Source": b.source,
        "Destination": b.target,
        "RW": not b.readonly,
        "Name": "",
        "Driver": "",
        "Type": "bind",
    }
    if b.readonly:
        point["Relabel"] = "ro"
    spec = {"Type": "bind", "Source": b.source, "Target": b.target}
    if b.readonly:
        spec["ReadOnly"] = True
    point.update(Propagation="rprivate", Spec=spec, SkipMountpointCreation=False)
    return point


def _caps_as_recorded(names: list[str]) -> list[str] | None:
    """--cap-add/--cap-drop as docker's CLI sends them: upper case, CAP_ prefixed (ALL
    kept), without repeats, sorted."""
    if not names:
        return None
    out = set()
    for name in names:
        cap = name.strip().upper()
        out.add(cap if cap == "ALL" or cap.startswith("CAP_") else "CAP_" + cap)
    return sorted(out)


def host_config(
    spec: ContainerSpec, auto_remove: bool, opts: RunOptions | None = None, volumes: Any = None
) -> dict[str, Any]:
    """hostconfig.json with dockerd's keys and values it accepts: Runtime is "runc" (what
    dockerd runs it with); which runtime hood uses is kept in hood's own record."""
    from hood.runtime.spec import MASKED_PATHS, READONLY_PATHS

    opts = opts or RunOptions()
    binds = [f"{b.source}:{b.target}{':ro' if b.readonly else ''}" for b in spec.binds]
    if volumes is not None:
        binds += volumes.binds
    doc = {
        "Binds": binds or None,
        "ContainerIDFile": "",
        "LogConfig": {"Type": "json-file", "Config": {}},
        "NetworkMode": spec.network,
        "PortBindings": {},
        "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
        "AutoRemove": auto_remove,
        "VolumeDriver": "",
        "VolumesFrom": None,
        "CapAdd": _caps_as_recorded(opts.cap_add),
        "CapDrop": _caps_as_recorded(opts.cap_drop),
        "CgroupnsMode": "host",
        "Dns": list(opts.dns),
        "DnsOptions": list(opts.dns_options),
        "DnsSearch": list(opts.dns_search),
        "ExtraHosts": list(opts.extra_hosts) or None,
        "GroupAdd": None,
        "IpcMode": "private",
        "Cgroup": "",
        "Links": None,
        "OomScoreAdj": 0,
        "PidMode": "",
        "Privileged": spec.privileged,
        "PublishAllPorts": False,
        "ReadonlyRootfs": spec.read_only,
        "SecurityOpt": list(opts.security_opt) or None,
        "Tmpfs": spec.tmpfs or None,
        "UTSMode": "",
        "UsernsMode": "",
        "ShmSize": spec.shm_size or 67108864,
        "Runtime": "runc",
        "ConsoleSize": [0, 0],
        "Isolation": "",
        **_resources(spec),
    }
    if volumes is not None and volumes.host_mounts:
        doc["Mounts"] = volumes.host_mounts
    unmasked = None if spec.privileged else [] if spec.systempaths else None
    doc["MaskedPaths"] = unmasked if spec.unmasked else list(MASKED_PATHS)
    doc["ReadonlyPaths"] = unmasked if spec.unmasked else list(READONLY_PATHS)
    if opts.init is not None:
        doc["Init"] = opts.init
    return doc


# docker's Resources (in HostConfig), in its order, with dockerd's defaults.
RESOURCE_DEFAULTS: dict[str, Any] = {
    "CpuShares": 0,
    "Memory": 0,
    "NanoCpus": 0,
    "CgroupParent": "",
    "BlkioWeight": 0,
    "BlkioWeightDevice": [],
    "BlkioDeviceReadBps": [],
    "BlkioDeviceWriteBps": [],
    "BlkioDeviceReadIOps": [],
    "BlkioDeviceWriteIOps": [],
    "CpuPeriod": 0,
    "CpuQuota": 0,
    "CpuRealtimePeriod": 0,
    "CpuRealtimeRuntime": 0,
    "CpusetCpus": "",
    "CpusetMems": "",
    "Devices": [],
    "DeviceCgroupRules": None,
    "DeviceRequests": None,
    "KernelMemory": 0,
    "KernelMemoryTCP": 0,
    "MemoryReservation": 0,
    "MemorySwap": 0,
    "MemorySwappiness": None,
    "OomKillDisable": False,
    "PidsLimit": None,
    "Ulimits": [],
    "CpuCount": 0,
    "CpuPercent": 0,
    "IOMaximumIOps": 0,
    "IOMaximumBandwidth": 0,
}


def resources(**given: Any) -> dict[str, Any]:
    """docker's Resources: the values `given`, dockerd's defaults for the rest."""
    doc = {k: list(v) if isinstance(v, list) else v for k, v in RESOURCE_DEFAULTS.items()}
    doc.update(given)
    return doc


def _resources(spec: ContainerSpec) -> dict[str, Any]:
    """hostconfig.json's part that is docker's Resources: the limits given (memory, CPUs,
    pids, devices, ulimits)."""
    return resources(
        Memory=spec.memory or 0,
        NanoCpus=int((spec.cpus or 0) * 1e9),
        Devices=[
            {"PathOnHost": h, "PathInContainer": c, "CgroupPermissions": p}
            for h, c, p in spec.devices
        ],
        PidsLimit=spec.pids_limit,
        Ulimits=[{"Name": n, "Hard": h, "Soft": s} for n, s, h in spec.ulimits],
    )
