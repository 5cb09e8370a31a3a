"""Containers: create, run, start, stop, kill, remove, prune, export, and what `ps` and
`logs` show. Nothing here prints: warnings go to a `warn` callback, results come back.

`hood run` goes through `create_container` and `run_attached` on its fast path, so this
module imports only the store's light parts at module level."""

from __future__ import annotations

import _signal as signal  # signal's ints without its enum (and enum's imports)
import os
import time

from hood.core.errors import Conflict, HoodError, NotFound
from hood.core.lean import Record, suppress
from hood.runtime.spec import ContainerSpec, RunOptions, build_spec
from hood.store.containers import (
    ZERO_TIME,
    Container,
    ContainerStore,
    hosts_file,
    now_rfc3339,
    resolv_conf,
)
from hood.store.images import ImageStore
from hood.store.layout import Layout
from hood.store.rwlayers import RwLayers

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any, BinaryIO

    from hood.core.platform import Platform
    from hood.store.images import ImageRecord

    # puller(name, platform, missing): bring the image into the store.
    Puller = Callable[[str, "Platform | None", bool], None]
    Warn = Callable[[str], None]

RUNTIMES = ("builtin", "runc", "crun")


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
    from hood.core.platform import Platform

    if runtime not in RUNTIMES:
        raise HoodError(f"unknown runtime {runtime!r}: choose one of {', '.join(RUNTIMES)}")
    if os.path.lexists(layout.root):
        check_safe_dir(layout.root)
    images = ImageStore(layout)
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
    have = image.config.platform
    if platform:
        if not platform.matches(have):
            raise HoodError(_platform_mismatch(image_name, platform, have))
    elif have.architecture and not Platform.host().matches(have):
        warn(
            f"The requested image's platform ({have.normalized()}) does not match the "
            f"detected host platform ({Platform.host()}) and no specific platform was requested"
        )
    if os.geteuid() != 0:
        _note_single_id_mapping(layout, warn)
        from hood.runtime.cgroups import rootless_problem

        problem = rootless_problem(opts.memory, opts.cpus, opts.pids_limit)
        if problem:  # docker's "Limitation discarded": a warning, and the run goes on
            warn(problem)
            opts.memory = opts.cpus = opts.pids_limit = None
    layers = images.layers_of(image.config)
    sweep_abandoned(layout)
    container_id = os.urandom(32).hex()
    image_config = image.config.config
    spec = build_spec(image_config, opts, container_id)
    if spec.devices:
        _check_devices(spec.devices)
    volumes = None
    if opts.volumes or image_config.get("Volumes"):
        from hood.services.volumes import container_volumes

        volumes = container_volumes(layout, image_config, opts, spec)
        spec.mounts = volumes.mounts
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
        etc_files={
            "hostname": spec.hostname + "\n",
            "hosts": hosts_file(spec.network, opts.extra_hosts),
            "resolv.conf": resolv_conf(spec.network, opts.dns, opts.dns_search, opts.dns_options),
        },
        starting=starting,
    )
    try:
        RwLayers(layout).create(container_id, layers)
    except BaseException:
        _remove_files(layout, c)
        raise
    if volumes is not None and os.geteuid() == 0:
        from hood.services.volumes import fill_volumes

        fill_volumes(layout, c.id, spec.mounts)
    return c


def _note_single_id_mapping(layout: Layout, warn: Warn) -> None:
    """Rootless without subordinate ids: say once per data root what that means."""
    from hood.runtime.builtin import subordinate_ids

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
    config: dict[str, Any] = {
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
    return {
        "StreamConfig": {},
        "State": {
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
        },
        "Created": now_rfc3339(),
        "Managed": False,
        "Path": spec.args[0],
        "Args": spec.args[1:],
        "Config": config,
        "Image": image_id,
        "NetworkSettings": {
            "Bridge": "",
            "SandboxID": "",
            "HairpinMode": False,
            "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0,
            "Networks": {spec.network: _endpoint()},
            "Service": None,
            "Ports": None,
            "SandboxKey": "",
            "SecondaryIPAddresses": None,
            "SecondaryIPv6Addresses": None,
            "IsAnonymousEndpoint": False,
            "HasSwarmEndpoint": False,
        },
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


def _check_devices(devices: list[list[str]]) -> None:
    """--device HOST paths that are device nodes (or directories of them), as the daemon
    checks when it creates the container's spec."""
    import stat

    from hood.runtime.builtin import ContainerError

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


def _endpoint() -> dict[str, Any]:
    return {
        "IPAMConfig": None,
        "Links": None,
        "Aliases": None,
        "NetworkID": "",
        "EndpointID": "",
        "Gateway": "",
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "MacAddress": "",
        "DriverOpts": None,
        "IPAMOperational": False,
    }


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
    if volumes is not None and volumes.host_mounts:
        doc["Mounts"] = volumes.host_mounts
    unmasked = None if spec.privileged else [] if spec.systempaths else None
    doc["MaskedPaths"] = unmasked if spec.unmasked else list(MASKED_PATHS)
    doc["ReadonlyPaths"] = unmasked if spec.unmasked else list(READONLY_PATHS)
    if opts.init is not None:
        doc["Init"] = opts.init
    return doc


def _platform_mismatch(name: str, wanted: Platform | None, actual: Platform) -> str:
    return (
        f"image with reference {name} was found but does not match the specified platform:"
        f" wanted {wanted}, actual: {actual.normalized()}"
    )


def container_spec(c: Container) -> ContainerSpec:
    """How to run `c`: hood's own record, or for a container dockerd created, what its
    config.v2.json and hostconfig.json say (dockerd's rules, with hood's networks: a
    network other than host or none gets none)."""
    if c.created_by_hood:
        return ContainerSpec.from_json(c.spec_doc)
    from hood.runtime.spec import DEFAULT_PATH, Bind, merge_env

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
    from hood.runtime.spec import ULIMITS, MountPoint, SpecError, effective_caps, tmpfs_data

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


def _launch(layout: Layout, c: Container, detached: bool):  # type: ignore[no-untyped-def]
    from hood.runtime.builtin import Launch

    return Launch(
        spec=container_spec(c),
        layout=layout,
        mount_id=RwLayers(layout).mount_id(c.id),
        container_dir=c.dir,
        log_path=c.log_path,  # kept in the foreground too, as docker's json-file log
        foreground=not detached,
    )


def _finish(layout: Layout, c: Container, status: int, error: str = "") -> None:
    """Record the exit; a container run with --rm is removed instead."""
    if c.hostconfig.get("AutoRemove"):  # nobody will read the exit status: just remove
        with suppress(OSError, HoodError):
            _remove_files(layout, c)
        return
    with suppress(OSError, HoodError):
        if os.path.exists(c.dir):
            ContainerStore(layout).mark_exited(c, status, error)


def _runtime_name(c: Container) -> str:
    """The runtime hood runs it with: its own record's choice, else the built-in one."""
    runtime = c.hood.get("Runtime") or "builtin"
    return runtime if runtime in RUNTIMES else "builtin"


def _start(
    layout: Layout, c: Container, detached: bool, on_started: Callable[[int], None]
) -> int:
    """Run the container's process with its runtime until it exits; its status."""
    runtime = _runtime_name(c)
    if runtime != "builtin":
        from hood.runtime.bundle import run_with_oci_runtime

        return run_with_oci_runtime(
            layout,
            c,
            container_spec(c),
            RwLayers(layout).mount_id(c.id),
            runtime,
            on_started,
            log_path=c.log_path,
            foreground=not detached,
        )
    from hood.runtime import builtin

    launch = _launch(layout, c, detached)
    launch.on_started = on_started
    return builtin.run(launch)


def run_attached(layout: Layout, c: Container, *, to_log: bool = False) -> int:
    """Run in the foreground; returns the container's exit status (raises ContainerError).
    The output goes to this process's stdout and stderr, or with `to_log` only to the
    container's json-file log (what `logs` and the Python API's capture read)."""
    from hood.runtime.builtin import ContainerError

    if c.running:
        raise Conflict(f"container {c.name} is already running")
    store = ContainerStore(layout)
    store.hold(c)
    try:
        status = _start(layout, c, to_log, lambda pid: store.mark_started(c, pid))
    except ContainerError as exc:
        _finish(layout, c, exc.status, str(exc))
        raise
    except BaseException as exc:
        _finish(layout, c, 125, str(exc))
        raise
    finally:
        store.release(c)
    _finish(layout, c, status)
    return status


def start_detached(layout: Layout, c: Container) -> None:
    """Start in a monitor process that outlives us and keeps the output in the json log."""
    from hood.core.jsonio import dumps, loads
    from hood.runtime.builtin import ContainerError

    if c.running:
        return
    store = ContainerStore(layout)
    store.hold(c)  # the monitor inherits the lock; ours is closed once it has started
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the monitor
        try:
            os.close(r)
            os.setsid()
            if os.fork():
                os._exit(0)
            null = os.open("/dev/null", os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            os.close(null)

            def started(child: int) -> None:
                store.mark_started(c, child)
                os.write(w, b'[0, ""]\n')
                os.close(w)

            try:
                status = _start(layout, c, True, started)
            except ContainerError as exc:
                with suppress(OSError):
                    os.write(w, dumps([exc.status, str(exc)]).encode() + b"\n")
                _finish(layout, c, exc.status, str(exc))
                os._exit(0)
            except BaseException as exc:  # noqa: BLE001
                with suppress(OSError):
                    os.write(w, dumps([125, str(exc)]).encode() + b"\n")
                _finish(layout, c, 125, str(exc))
                os._exit(0)
            _finish(layout, c, status)
        finally:
            os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    data = b""
    while b"\n" not in data:
        chunk = os.read(r, 4096)
        if not chunk:
            break
        data += chunk
    os.close(r)
    store.release(c)
    try:
        status, message = loads(data.split(b"\n", 1)[0] or b'[125, "the monitor died"]')
    except ValueError:
        status, message = 125, "the monitor died"
    if status:
        raise ContainerError(message, status)


def signal_container(c: Container, sig: int) -> None:
    if not c.running or not c.pid:
        raise Conflict(f"Container {c.id} is not running")
    os.kill(c.pid, sig)


def wait_for_exit(pid: int, timeout: float) -> bool:
    from hood.runtime.builtin import pid_alive

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.02)
    return not pid_alive(pid)


def stop_container(
    layout: Layout, c: Container, timeout: float = 10, sig: int | None = None
) -> None:
    if not c.running:
        return
    pid = c.pid
    first = sig or stop_signal(c)
    with suppress(ProcessLookupError):
        os.kill(pid, first)
    killed_with = first
    if not wait_for_exit(pid, timeout):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        killed_with = signal.SIGKILL
        wait_for_exit(pid, 10)
    settle(layout, c, 128 + killed_with)


def signal_number(text: str) -> int | None:
    """A signal by number or name, with or without SIG (docker's ParseSignal); None when
    there is no such signal."""
    if text.isdigit():
        return int(text)
    name = text.upper()
    value = getattr(signal, name if name.startswith("SIG") else "SIG" + name, None)
    return value if isinstance(value, int) and not name.startswith("SIG_") else None


def stop_signal(c: Container) -> int:
    """The signal `stop` sends first: the container's Config.StopSignal, else SIGTERM."""
    config = c.config.get("Config")
    text = config.get("StopSignal") if isinstance(config, dict) else None
    number = signal_number(text) if isinstance(text, str) and text else None
    return number or signal.SIGTERM


def kill_container(layout: Layout, c: Container, sig: int) -> None:
    """Send `sig`; for SIGKILL, wait for the end and record status 137 as docker does."""
    signal_container(c, sig)
    if sig == signal.SIGKILL:
        wait_for_exit(c.pid, 5)
        settle(layout, c, 137)


def settle(layout: Layout, c: Container, status: int) -> None:
    """Give the monitor a moment to record the exit; record it ourselves if it is gone."""
    store = ContainerStore(layout)
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        try:
            fresh = store.load(c.id)
        except NotFound:
            return
        if not fresh.state.get("Running"):
            return
        time.sleep(0.02)
    with suppress(NotFound):
        store.mark_exited(store.load(c.id), status)


def _remove_files(layout: Layout, c: Container, volumes: bool | None = None) -> None:
    """Remove the container; with `volumes` (default: when it was run with --rm, as
    docker's) its anonymous volumes too."""
    remove_leftover_container(layout, c.id)
    if volumes is None:
        volumes = bool(c.hostconfig.get("AutoRemove"))
    if volumes and c.config.get("MountPoints"):
        from hood.services.volumes import remove_anonymous

        remove_anonymous(layout, c)


def remove_leftover_container(layout: Layout, container_id: str) -> None:
    """Remove whatever exists of a container: its read-write layer (unmounted first), then
    its record, docker's and hood's."""
    from hood.runtime.cgroups import remove_leftover
    from hood.runtime.rootfs import unmount

    RwLayers(layout).remove(container_id, unmount=unmount)
    ContainerStore(layout).remove_record(container_id)
    if os.geteuid() == 0:
        remove_leftover(container_id)


def abandoned_auto_remove(layout: Layout) -> list[Container]:
    """`--rm` containers a killed hood left behind (see Container.abandoned)."""
    return [c for c in ContainerStore(layout).list() if c.abandoned()]


def sweep_abandoned(layout: Layout) -> list[str]:
    """Remove the `--rm` containers killed hoods left, as dockerd does when it restarts
    (there is no daemon: each command that looks at containers does it). Their IDs."""
    removed = []
    for c in abandoned_auto_remove(layout):
        with suppress(OSError, HoodError):
            _remove_files(layout, c)
            removed.append(c.id)
    return removed


def remove_container(
    layout: Layout, c: Container, force: bool = False, volumes: bool = False
) -> None:
    """docker rm [-f] [-v]: `volumes` removes its anonymous volumes with it."""
    if c.running:
        if not force:
            raise Conflict(
                f"cannot remove container {c.id}: container is running: "
                "stop the container before removing or force remove"
            )
        stop_container(layout, c, timeout=0, sig=signal.SIGKILL)
    _remove_files(layout, c, volumes or None)
    sweep_abandoned(layout)


class PruneResult(Record):
    __slots__ = ("removed", "reclaimed")

    def __init__(self, removed: list[str], reclaimed: int) -> None:
        self.removed = removed
        self.reclaimed = reclaimed


def rw_size(layout: Layout, c: Container) -> int:
    """What the container's read-write layer holds, as docker's SizeRw: files (not
    directories), hardlinks once."""
    try:
        path = layout.layer_diff(RwLayers(layout).mount_id(c.id))
    except HoodError:
        return 0
    total, seen = 0, set()
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    return total


def prune_containers(layout: Layout) -> PruneResult:
    """Remove every stopped container; what went and how many bytes that freed."""
    sweep_abandoned(layout)
    removed, reclaimed = [], 0
    for c in ContainerStore(layout).list():
        if not c.running:
            size = rw_size(layout, c)
            remove_container(layout, c)
            reclaimed += size
            removed.append(c.id)
    return PruneResult(removed, reclaimed)


def export_container(layout: Layout, c: Container, out: BinaryIO) -> None:
    """The container's filesystem as a tar stream, as `docker export` writes it."""
    import tarfile
    import tempfile

    from hood.runtime.rootfs import mount_overlay, unmount

    mount_id = RwLayers(layout).mount_id(c.id)
    with tempfile.TemporaryDirectory(prefix="hood-export-", dir=layout.root) as target:
        mount_overlay(layout, mount_id, target)
        try:
            with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
                for dirpath, dirnames, filenames in os.walk(target):
                    dirnames.sort()
                    for name in sorted(dirnames) + sorted(filenames):
                        full = os.path.join(dirpath, name)
                        arc = os.path.relpath(full, target)
                        info = tf.gettarinfo(full, arc)
                        info.uname = info.gname = ""
                        if info.isreg():
                            with open(full, "rb") as f:
                                tf.addfile(info, f)
                        else:
                            tf.addfile(info)
        finally:
            unmount(target)


# --- what `ps` and `logs` show --------------------------------------------------------------


class ContainerRow(Record):
    """One `ps` row, in docker's formatter's field names."""

    __slots__ = ("fields", "container")

    def __init__(self, fields: dict[str, str], container: Container) -> None:
        self.fields = fields
        self.container = container


def status_text(c: Container, now: float | None = None) -> str:
    """docker ps's STATUS: `Up 2 minutes`, `Exited (0) 3 seconds ago`, `Created`."""
    from datetime import UTC, datetime

    from hood.core.timefmt import human_duration, parse_rfc3339

    st = c.state
    current = datetime.fromtimestamp(now if now is not None else time.time(), UTC)
    if c.running:
        started = parse_rfc3339(str(st.get("StartedAt", ""))) or current
        return "Up " + human_duration(current - started)
    if st.get("StartedAt", ZERO_TIME) == ZERO_TIME:
        return "Created"
    finished = (
        parse_rfc3339(str(st.get("FinishedAt", "")))
        if st.get("FinishedAt") != ZERO_TIME
        else None
    )
    code = st.get("ExitCode", 0)
    if st.get("Running"):  # the process vanished with its hood: treat as killed
        code = 137
        finished = None
    if finished is None:
        finished = datetime.fromtimestamp(
            os.stat(os.path.join(c.dir, "config.v2.json")).st_mtime, UTC
        )
    return f"Exited ({code}) {human_duration(current - finished)} ago"


def command_line(c: Container) -> str:
    """The container's command as the daemon lists it: Path and Args, an argument with a
    space in it between single quotes."""
    args = [f"'{a}'" if " " in a else a for a in map(str, c.config.get("Args") or [])]
    path = str(c.config.get("Path", ""))
    return f"{path} {' '.join(args)}" if args else path


def _command_text(c: Container, trunc: bool) -> str:
    """docker ps's COMMAND: command_line, cut to 20 columns, quoted as Go's %q."""
    from hood.core.jsonio import go_quote
    from hood.services.history import ellipsis

    text = command_line(c)
    return go_quote(ellipsis(text, 20) if trunc else text)


def container_rows(layout: Layout, *, all: bool = False, trunc: bool = True) -> list[ContainerRow]:  # noqa: A002
    """`ps` (and `ps -a`): newest first, as docker's formatter names the fields."""
    return list_containers(layout, all=all, trunc=trunc)


class LogEntry(Record):
    __slots__ = ("stream", "data", "time")

    def __init__(self, stream: str, data: bytes, time: str) -> None:  # noqa: A002
        self.stream = stream
        self.data = data
        self.time = time


def read_logs(layout: Layout, c: Container, *, follow: bool = False) -> Iterator[LogEntry]:
    """The container's json-file log, entry by entry; with `follow`, until it stops."""
    from hood.core.jsonio import loads

    def entry(line: bytes) -> LogEntry | None:
        try:
            doc = loads(line)
        except (ValueError, RecursionError, UnicodeDecodeError):
            return None
        if not isinstance(doc, dict):
            return None
        stream = doc.get("stream")
        return LogEntry(
            stream if stream in ("stdout", "stderr") else "stdout",
            str(doc.get("log", "")).encode("utf-8", "surrogateescape"),
            str(doc.get("time", "")),
        )

    try:
        f = open(c.log_path, "rb")  # noqa: SIM115
    except FileNotFoundError:
        return
    store = ContainerStore(layout)
    with f:
        while True:
            line = f.readline()
            if line.endswith(b"\n"):
                item = entry(line)
                if item is not None:
                    yield item
                continue
            if line:
                f.seek(-len(line), 1)
            if not follow:
                return
            try:
                running = store.load(c.id).running
            except HoodError:  # removed meanwhile
                return
            if not running:
                for raw in f.read().splitlines():
                    item = entry(raw)
                    if item is not None:
                        yield item
                return
            time.sleep(0.1)


# --- selecting containers as docker's filters do (ps, container prune) -------------------------

CONTAINER_PRUNE_FILTERS = ("label", "label!", "until")


def prune_stopped(layout: Layout, *, filters: list[tuple[str, str]] | None = None) -> PruneResult:
    """docker container prune: every stopped container (`filters`: label, label!, until on
    its creation time), removed; what went and the bytes their read-write layers held."""
    from hood.core.timefmt import docker_timestamp, parse_rfc3339
    from hood.services.filters import Filters

    selected = Filters(filters or ())
    selected.validate(CONTAINER_PRUNE_FILTERS)
    until = None
    values = selected.get("until")
    if len(values) > 1:
        raise HoodError("more than one until filter specified")
    if values:
        try:
            seconds, nanos = docker_timestamp(values[0], time.time())
        except ValueError as exc:
            raise HoodError(str(exc)) from None
        until = seconds + nanos / 1e9
    removed, reclaimed = [], 0
    for c in ContainerStore(layout).list():
        if c.running:
            continue
        if until is not None:
            created = parse_rfc3339(str(c.config.get("Created", "")))
            if created is None or created.timestamp() > until:
                continue
        labels = _labels(c)
        if not selected.match_kv_list("label", labels):
            continue
        if selected.contains("label!") and selected.match_kv_list("label!", labels):
            continue
        size = rw_size(layout, c)
        with suppress(NotFound):
            remove_container(layout, c)
            reclaimed += size
            removed.append(c.id)
    return PruneResult(removed, reclaimed)


def _labels(c: Container) -> dict[str, str]:
    config = c.config.get("Config")
    labels = config.get("Labels") if isinstance(config, dict) else None
    return labels if isinstance(labels, dict) else {}


PS_FILTERS = (
    "ancestor", "before", "exited", "expose", "health", "id", "isolation", "is-task", "label",
    "name", "network", "publish", "since", "status", "volume",
)  # fmt: skip
STATES = ("created", "running", "paused", "restarting", "removing", "exited", "dead")


def select_containers(
    layout: Layout,
    *,
    all: bool = False,  # noqa: A002
    filters: list[tuple[str, str]] | None = None,
    limit: int = -1,
) -> list[Container]:
    """The containers `docker ps` lists, newest first, by the daemon's rules: running ones
    unless `all` (or a status filter, or a `limit` > 0: the last N created), then the
    filters (ancestor, before, since, exited, id, label, name, status, network, volume, ...)."""
    from hood.services.filters import Filters, InvalidFilter

    selected = Filters(filters or ())
    selected.validate(PS_FILTERS)
    sweep_abandoned(layout)  # what a killed `--rm` run left is gone, not listed
    exited = []
    for value in selected.get("exited"):
        try:
            exited.append(int(value, 10))
        except ValueError:
            raise InvalidFilter(
                f"invalid filter 'exited={value}': strconv.Atoi: parsing \"{value}\": invalid syntax"
            ) from None
    for value in selected.get("status"):
        if value not in STATES:
            raise InvalidFilter(
                f"invalid filter 'status={value}': invalid value for state ({value}): "
                f"must be one of {', '.join(STATES)}"
            )
        all = True  # noqa: A001
    for value in selected.get("health"):
        if value not in ("starting", "healthy", "unhealthy", "none"):
            raise InvalidFilter(
                f"invalid filter 'health={value}': Unrecognised filter value for health: {value}"
            )
    is_task = selected.get_bool("is-task", False)
    store = ContainerStore(layout)
    containers = store.list()  # newest first
    before = since = None
    for value in selected.get("before"):
        before = store.resolve(value).id
    for value in selected.get("since"):
        since = store.resolve(value).id
    ancestors = None
    if selected.contains("ancestor"):
        images = ImageStore(layout)
        ancestors = set()
        for value in selected.get("ancestor"):
            with suppress(HoodError):  # docker: a warning in its log, and no match
                ancestors.add(str(images.resolve_id(value)))
    ids = selected.get("id")
    if ids:
        containers = [c for c in containers if any(c.id.startswith(i) for i in ids)]
    out: list[Container] = []
    for c in containers:
        if before is not None:
            if c.id == before:
                before = None
            continue
        if since is not None and c.id == since:
            break
        running = c.running
        if not running and not all and limit <= 0:
            continue
        if not selected.match("name", c.name) and not selected.match("name", "/" + c.name):
            continue
        if not selected.match("id", c.id):
            continue
        if selected.contains("is-task") and is_task:
            continue
        if not selected.match_kv_list("label", _labels(c)):
            continue
        if not selected.exact_match("isolation", ""):
            continue
        if limit > 0 and len(out) == limit:
            break
        if exited:
            started = c.state.get("StartedAt", ZERO_TIME) not in (ZERO_TIME, "")
            if running or not started or _exit_code(c) not in exited:
                continue
        if not selected.match("status", c.status_word()):
            continue
        if not selected.exact_match("health", "none"):
            continue
        if selected.contains("volume") and not _has_volume(c, selected.get("volume")):
            continue
        if ancestors is not None and str(c.config.get("Image", "")) not in ancestors:
            continue
        if selected.contains("network"):
            networks = c.config.get("NetworkSettings", {}).get("Networks") or {}
            if not any(v in networks for v in selected.get("network")):
                continue
        if selected.contains("publish") or selected.contains("expose"):
            continue  # no container of hood's publishes or exposes a port
        out.append(c)
    return out


def _exit_code(c: Container) -> int:
    code = c.state.get("ExitCode", 0)
    if c.state.get("Running") and not c.running:  # its hood was killed with it
        return 137
    return code if isinstance(code, int) else 0


def _has_volume(c: Container, wanted: list[str]) -> bool:
    for point in (c.config.get("MountPoints") or {}).values():
        if not isinstance(point, dict):
            continue
        keys = {point.get("Destination"), point.get("Name") or point.get("Source")}
        if keys & set(wanted):
            return True
    return False


def container_size(layout: Layout, c: Container) -> tuple[int, int]:
    """docker's SizeRw and SizeRootFs: the read-write layer's bytes, and those plus the
    image's layers."""
    rw = rw_size(layout, c)
    images = ImageStore(layout)
    image = 0
    with suppress(HoodError, ValueError):
        from hood.core.digest import Digest

        config = images.load_config(Digest.parse(str(c.config.get("Image", ""))))
        image = sum(layer.size for layer in images.layers_of(config))
    return rw, rw + image


def list_containers(
    layout: Layout,
    *,
    all: bool = False,  # noqa: A002
    filters: list[tuple[str, str]] | None = None,
    limit: int = -1,
    size: bool = False,
    trunc: bool = True,
) -> list[ContainerRow]:
    """`docker ps`'s rows: select_containers' containers, with the fields docker's
    container formatter shows (Size only when `size`)."""
    from datetime import UTC, datetime

    from hood.core.timefmt import human_duration, human_size, parse_rfc3339
    from hood.services.history import ellipsis

    now = time.time()
    current = datetime.fromtimestamp(now, UTC)
    names = ImageStore(layout)
    rows = []
    for c in select_containers(layout, all=all, filters=filters, limit=limit):
        created = parse_rfc3339(str(c.config.get("Created", ""))) or current
        config = c.config.get("Config") if isinstance(c.config.get("Config"), dict) else {}
        mounts = []
        local = 0
        for point in (c.config.get("MountPoints") or {}).values():
            if not isinstance(point, dict):
                continue
            name = str(point.get("Name") or point.get("Source") or "")
            mounts.append(ellipsis(name, 15) if trunc else name)
            local += point.get("Driver") == "local"
        networks = c.config.get("NetworkSettings", {}).get("Networks") or {}
        labels = _labels(c)
        fields = {
            "ID": c.id[:12] if trunc else c.id,
            "Image": _image_text(names, c, str(config.get("Image", "")), trunc),
            "Command": _command_text(c, trunc),
            "CreatedAt": created.strftime("%Y-%m-%d %H:%M:%S +0000 UTC"),
            "RunningFor": human_duration(current - created) + " ago",
            "Status": status_text(c, now),
            "State": c.status_word(),
            "Ports": "",
            "Names": c.name,
            "Labels": ",".join(sorted(f"{k}={v}" for k, v in labels.items())),
            "Mounts": ",".join(mounts),
            "LocalVolumes": str(local),
            "Networks": ",".join(networks) if isinstance(networks, dict) else "",
        }
        if size:
            rw, rootfs = container_size(layout, c)
            text = human_size(rw)
            fields["Size"] = f"{text} (virtual {human_size(rootfs)})" if rootfs > 0 else text
        rows.append(ContainerRow(fields, c))
    return rows


def _image_text(images: ImageStore, c: Container, name: str, trunc: bool) -> str:
    """docker ps's IMAGE: the name it was created from while that name still means its
    image, else the image ID (the daemon's refreshImage); cut as docker's CLI cuts it."""
    image_id = str(c.config.get("Image", ""))
    if name and name != image_id:
        try:
            if str(images.resolve_id(name)) != image_id:
                name = image_id
        except HoodError:
            name = image_id
    if not name:
        return "<no image>"
    if not trunc:
        return name
    short = image_id.partition(":")[2][:12] if ":" in image_id else image_id[:12]
    if short and short == (name.partition(":")[2] if name.startswith("sha256:") else name)[:12]:
        return short
    from hood.core import reference

    try:
        ref = reference.parse(name, default_tag=False)
    except HoodError:
        return name
    if ref.tag is not None:
        return f"{ref.familiar_name}:{ref.tag}"
    return ref.familiar_name


# --- docker logs' selections --------------------------------------------------------------------


def _entry_time(entry: LogEntry) -> tuple[int, int]:
    from hood.core.timefmt import parse_go_time

    when = parse_go_time(entry.time)
    return (int(when.whole.timestamp()), when.nanos) if when else (0, 0)


def container_logs(
    layout: Layout,
    c: Container,
    *,
    follow: bool = False,
    tail: int = -1,
    since: tuple[int, int] | None = None,
    until: tuple[int, int] | None = None,
) -> Iterator[LogEntry]:
    """docker logs: the last `tail` entries (all when negative), those at or after `since`
    and up to `until` ((seconds, nanoseconds) since the epoch); with `follow`, then what
    the container writes until it stops (or until `until` has passed)."""
    skip = 0
    if tail >= 0:
        skip = max(0, sum(1 for _ in read_logs(layout, c)) - tail)
    for i, entry in enumerate(read_logs(layout, c, follow=follow)):
        if i < skip:
            continue
        if since is not None or until is not None:
            when = _entry_time(entry)
            if since is not None and when < since:
                continue
            if until is not None and when > until:
                return
        yield entry
