"""Creating a container as dockerd does: the image (pulled when asked), a read-write
layer on it, and the records dockerd keeps (config.v2.json, hostconfig.json, hosts,
resolv.conf) beside hood's own. Nothing here prints: warnings go to a `warn` callback.

`hood run` comes through here on its fast path, so only the store's light parts are
imported at module level."""

from __future__ import annotations

import os

from hood.core.errors import HoodError, NotFound
from hood.core.lean import suppress
from hood.runtime.spec import RUNTIMES, ContainerSpec, RunOptions, build_spec
from hood.services.container_lifecycle import remove_container_files, sweep_abandoned
from hood.store.containers import (
    ZERO_TIME,
    Container,
    ContainerStore,
    empty_endpoint,
    hosts_file,
    now_rfc3339,
    resolv_conf,
)
from hood.store.images import ImageStore
from hood.store.layout import Layout
from hood.store.rwlayers import RwLayers

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from hood.core.platform import Platform
    from hood.services.volumes import ContainerVolumes
    from hood.store.images import ImageRecord

    # puller(name, platform, missing): bring the image into the store.
    Puller = Callable[[str, "Platform | None", bool], None]
    Warn = Callable[[str], None]


def _no_warning(_: str) -> None:
    pass


def _find_image(images: ImageStore, name: str) -> ImageRecord | None:
    try:
        return images.resolve(name)
    except NotFound:
        return None


def create_container(
    layout: Layout,
    image_name: str,
    opts: RunOptions,
    *,
    name: str | None = None,
    pull: str = "missing",
    platform: Platform | None = None,
    puller: Puller | None = None,
    auto_remove: bool = False,
    runtime: str = "builtin",
    starting: bool = False,
    warn: Warn = _no_warning,
) -> Container:
    """Create a container from `image_name`, pulling it as docker's `--pull` says.

    `puller(name, platform, missing)` fetches the image into the store; `platform` is
    pulled and required: an image of another platform is never run under that flag.
    `starting` (`run`): this process holds the container until it is done with it, so a
    `--rm` one it leaves behind when killed is known for abandoned (`sweep_abandoned`)."""
    from hood.core.fileio import check_safe_dir

    if runtime not in RUNTIMES:
        raise HoodError(f"unknown runtime {runtime!r}: choose one of {', '.join(RUNTIMES)}")
    if os.path.lexists(layout.root):
        check_safe_dir(layout.root)
    images = ImageStore(layout)
    image = _image_to_run(images, image_name, pull, platform, puller, warn)
    if os.geteuid() != 0:
        _rootless_limits(layout, opts, warn)
    layers = images.layers_of(image.config)
    sweep_abandoned(layout)
    container_id = os.urandom(32).hex()
    image_config = image.config.config
    spec = build_spec(image_config, opts, container_id)
    if spec.devices:
        _check_devices(spec.devices)
    volumes = _volumes(layout, image_config, opts, spec)
    store = ContainerStore(layout)
    config = _config_v2(layout, spec, image_name, str(image.id))
    _add_run_config(config, image_config, opts, volumes)
    c = store.create(
        config,
        _host_config(spec, auto_remove, opts, volumes),
        spec.to_json(),
        runtime=runtime,
        container_id=container_id,
        name=name,
        etc_files=_etc_files(spec, opts),
        starting=starting,
    )
    try:
        RwLayers(layout).create(container_id, layers)
    except BaseException:
        remove_container_files(layout, c)
        raise
    if volumes is not None and os.geteuid() == 0:
        from hood.services.volumes import fill_volumes

        fill_volumes(layout, c.id, spec.mounts)
    return c


def _volumes(
    layout: Layout, image_config: dict[str, Any], opts: RunOptions, spec: ContainerSpec
) -> ContainerVolumes | None:
    """The volumes of -v, --mount and the image's VOLUMEs, made in the store and set as
    the spec's mounts; None when there are none (the volumes module stays unloaded)."""
    if not (opts.volumes or image_config.get("Volumes")):
        return None
    from hood.services.volumes import container_volumes

    volumes = container_volumes(layout, image_config, opts, spec)
    spec.mounts = volumes.mounts
    return volumes


def _etc_files(spec: ContainerSpec, opts: RunOptions) -> dict[str, str]:
    """The files dockerd writes beside a container's records and mounts into it."""
    return {
        "hostname": spec.hostname + "\n",
        "hosts": hosts_file(spec.network, opts.extra_hosts),
        "resolv.conf": resolv_conf(spec.network, opts.dns, opts.dns_search, opts.dns_options),
    }


def _image_to_run(
    images: ImageStore,
    image_name: str,
    pull: str,
    platform: Platform | None,
    puller: Puller | None,
    warn: Warn,
) -> ImageRecord:
    """The image as --pull says: the store's (unless "always", or it is of another
    platform than `platform`), else pulled (unless "never" or there is no puller); of
    `platform` when one is asked for, else a warning when it is not the host's."""
    image = None
    local_platform = None
    if pull != "always":
        image = _find_image(images, image_name)
        if image is not None and platform and not platform.matches(image.config.platform):
            local_platform, image = image.config.platform, None
    if image is None:
        if pull == "never" or puller is None:
            if local_platform is not None:
                raise HoodError(_platform_mismatch(image_name, platform, local_platform))
            hint = " (and --pull never was given)" if pull == "never" else ""
            raise NotFound(f"No such image: {image_name}{hint}")
        puller(image_name, platform, pull != "always")
        image = images.resolve(image_name)
    _check_platform(image_name, image.config.platform, platform, warn)
    return image


def _check_platform(image_name: str, have: Platform, platform: Platform | None, warn: Warn) -> None:
    """An image of another platform than --platform's is refused; without --platform,
    one that is not the host's is run with docker's warning."""
    from hood.core.platform import Platform

    if platform:
        if not platform.matches(have):
            raise HoodError(_platform_mismatch(image_name, platform, have))
    elif have.architecture and not Platform.host().matches(have):
        warn(
            f"The requested image's platform ({have.normalized()}) does not match the "
            f"detected host platform ({Platform.host()}) and no specific platform was requested"
        )


def _rootless_limits(layout: Layout, opts: RunOptions, warn: Warn) -> None:
    """Rootless: the one-id mapping noted, and resource limits the cgroups cannot give
    discarded with docker's warning ("Limitation discarded"), the run going on."""
    _note_single_id_mapping(layout, warn)
    from hood.runtime.cgroups import rootless_problem

    problem = rootless_problem(opts.memory, opts.cpus, opts.pids_limit)
    if problem:  # docker's "Limitation discarded": a warning, and the run goes on
        warn(problem)
        opts.memory = opts.cpus = opts.pids_limit = None


def _note_single_id_mapping(layout: Layout, warn: Warn) -> None:
    """Rootless without subordinate ids: say once per data root what that means."""
    from hood.runtime.user_namespace import subordinate_ids

    if subordinate_ids(os.geteuid(), os.getegid()) is not None:
        return
    marker = os.path.join(layout.hood_dir, "notes", "rootless-one-id")
    if os.path.exists(marker):
        return
    warn(
        "rootless without subordinate ids: only your uid and gid are mapped, to root in the"
        " container, so -u, chown to other ids and the image's other owners do not work;"
        " for them give your user ranges in /etc/subuid and /etc/subgid and install"
        " newuidmap/newgidmap (Debian's uidmap). Said once for this data root."
    )
    with suppress(OSError):
        os.makedirs(os.path.dirname(marker), exist_ok=True)
        os.close(os.open(marker, os.O_CREAT | os.O_WRONLY, 0o644))


def _config_v2(
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
    """config.v2.json's Config: what `docker create` was asked for (_add_run_config adds
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


def _check_devices(devices: list[list[str]]) -> None:
    """--device HOST paths that are device nodes (or directories of them), as the daemon
    checks when it creates the container's spec."""
    import stat

    from hood.runtime.launch import ContainerError

    for host, _, _ in devices:
        what = f'error gathering device information while adding custom device "{host}"'
        try:
            st = os.stat(host)
        except OSError as exc:  # docker's CLI: 127 for "no such file or directory"
            status = 127 if exc.errno == 2 else 125
            raise ContainerError(f"{what}: {(exc.strerror or '').lower()}", status) from None
        if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) or stat.S_ISDIR(st.st_mode)):
            raise ContainerError(f"{what}: not a device node")


def _add_run_config(
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


def _host_config(
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


def _resources(spec: ContainerSpec) -> dict[str, Any]:
    """hostconfig.json's part that is docker's Resources: the limits given (memory, CPUs,
    pids, devices, ulimits), dockerd's defaults for the rest."""
    return {
        "CpuShares": 0,
        "Memory": spec.memory or 0,
        "NanoCpus": int((spec.cpus or 0) * 1e9),
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
        "Devices": [
            {"PathOnHost": h, "PathInContainer": c, "CgroupPermissions": p}
            for h, c, p in spec.devices
        ],
        "DeviceCgroupRules": None,
        "DeviceRequests": None,
        "KernelMemory": 0,
        "KernelMemoryTCP": 0,
        "MemoryReservation": 0,
        "MemorySwap": 0,
        "MemorySwappiness": None,
        "OomKillDisable": False,
        "PidsLimit": spec.pids_limit,
        "Ulimits": [{"Name": n, "Hard": h, "Soft": s} for n, s, h in spec.ulimits],
        "CpuCount": 0,
        "CpuPercent": 0,
        "IOMaximumIOps": 0,
        "IOMaximumBandwidth": 0,
    }


def _platform_mismatch(name: str, wanted: Platform | None, actual: Platform) -> str:
    return (
        f"image with reference {name} was found but does not match the specified platform:"
        f" wanted {wanted}, actual: {actual.normalized()}"
    )
