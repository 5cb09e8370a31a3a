"""What a container runs, derived from the image config and the command line as docker does:
the command line's options (`RunOptions`), the container's spec (`ContainerSpec`) and
docker's rules that make one of the other (`build_spec`).

Pure functions and small value types: nothing here touches the system, so the rules can be
tested alone and reused by the built-in runtime and the OCI bundle writer. The spec's
parts have modules of their own: capabilities, mount_spec, exec_user, spec_errors."""

from __future__ import annotations

import posixpath

from hood.core.lean import Record
from hood.runtime.capabilities import effective_caps
from hood.runtime.mount_spec import Bind, MountPoint, VolumeRequest, depth
from hood.runtime.spec_errors import SpecError

# The runtimes a container can run with: hood's own, or an OCI runtime from PATH.
RUNTIMES = ("builtin", "runc", "crun")

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# docker's --ulimit names and the RLIMIT_ each sets (asm-generic/resource.h numbers).
ULIMITS = {
    "cpu": 0, "fsize": 1, "data": 2, "stack": 3, "core": 4, "rss": 5, "nproc": 6,
    "nofile": 7, "memlock": 8, "locks": 10, "sigpending": 11, "msgqueue": 12,
    "nice": 13, "rtprio": 14, "rttime": 15,
}  # fmt: skip

MASKED_PATHS = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)
READONLY_PATHS = (
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)


class RunOptions(Record):
    """What the command line adds to the image (docker run's flags)."""

    __slots__ = (
        "args",
        "entrypoint",
        "env",
        "workdir",
        "user",
        "hostname",
        "tty",
        "stdin",
        "network",
        "read_only",
        "binds",
        "tmpfs",
        "memory",
        "cpus",
        "pids_limit",
        "no_new_privs",
        "seccomp",
        "cap_add",
        "cap_drop",
        "privileged",
        "init",
        "extra_hosts",
        "dns",
        "dns_search",
        "dns_options",
        "ulimits",
        "devices",
        "labels",
        "stop_signal",
        "shm_size",
        "attach",
        "volumes",
        "security_opt",
        "systempaths",
    )

    def __init__(
        self,
        args: list[str] | None = None,
        entrypoint: str | None = None,  # None: not given; "": reset
        env: list[str] | None = None,
        workdir: str | None = None,
        user: str | None = None,
        hostname: str | None = None,
        tty: bool = False,
        stdin: bool = False,
        network: str = "host",
        read_only: bool = False,
        binds: list[Bind] | None = None,
        tmpfs: dict[str, str] | None = None,
        memory: int | None = None,
        cpus: float | None = None,
        pids_limit: int | None = None,
        no_new_privs: bool = False,
        seccomp: str = "",  # "": docker's default profile; "unconfined"; a profile's JSON
        cap_add: list[str] | None = None,
        cap_drop: list[str] | None = None,
        privileged: bool = False,
        init: bool | None = None,  # None: not given (HostConfig.Init null)
        extra_hosts: list[str] | None = None,  # HOST:IP
        dns: list[str] | None = None,
        dns_search: list[str] | None = None,
        dns_options: list[str] | None = None,
        ulimits: list[tuple[str, int, int]] | None = None,  # (name, soft, hard)
        devices: list[tuple[str, str, str]] | None = None,  # (host, container, rwm)
        labels: dict[str, str] | None = None,
        stop_signal: str | None = None,
        shm_size: int | None = None,
        attach: list[str] | None = None,  # -a: stdin/stdout/stderr; None: docker's default
        volumes: list[VolumeRequest] | None = None,  # -v NAME:/p, -v /p, --mount
        security_opt: list[str] | None = None,  # as given (HostConfig.SecurityOpt)
        systempaths: bool = False,  # --security-opt systempaths=unconfined
    ) -> None:
        self.cap_add = [] if cap_add is None else cap_add
        self.cap_drop = [] if cap_drop is None else cap_drop
        self.privileged = privileged
        self.init = init
        self.extra_hosts = [] if extra_hosts is None else extra_hosts
        self.dns = [] if dns is None else dns
        self.dns_search = [] if dns_search is None else dns_search
        self.dns_options = [] if dns_options is None else dns_options
        self.ulimits = [] if ulimits is None else ulimits
        self.devices = [] if devices is None else devices
        self.labels = {} if labels is None else labels
        self.stop_signal = stop_signal
        self.shm_size = shm_size
        self.attach = attach
        self.volumes = [] if volumes is None else volumes
        self.security_opt = [] if security_opt is None else security_opt
        self.systempaths = systempaths
        self.args = [] if args is None else args
        self.entrypoint = entrypoint
        self.env = [] if env is None else env
        self.workdir = workdir
        self.user = user
        self.hostname = hostname
        self.tty = tty
        self.stdin = stdin
        self.network = network
        self.read_only = read_only
        self.binds = [] if binds is None else binds
        self.tmpfs = {} if tmpfs is None else tmpfs
        self.memory = memory
        self.cpus = cpus
        self.pids_limit = pids_limit
        self.no_new_privs = no_new_privs
        self.seccomp = seccomp


class ContainerSpec(Record):
    __slots__ = (
        "id",
        "hostname",
        "args",
        "env",
        "cwd",
        "user",
        "tty",
        "stdin",
        "network",
        "read_only",
        "binds",
        "tmpfs",
        "memory",
        "cpus",
        "pids_limit",
        "entrypoint",
        "cmd",
        "no_new_privs",
        "config_env",
        "seccomp",
        "caps",
        "privileged",
        "init",
        "ulimits",
        "devices",
        "shm_size",
        "mounts",
        "attach",
        "systempaths",
    )

    def __init__(
        self,
        id: str,  # noqa: A002 - the field's name in HoodSpec
        hostname: str,
        args: list[str],
        env: list[str],
        cwd: str,
        user: str,
        tty: bool = False,
        stdin: bool = False,
        network: str = "host",
        read_only: bool = False,
        binds: list[Bind] | None = None,
        tmpfs: dict[str, str] | None = None,
        memory: int | None = None,
        cpus: float | None = None,
        pids_limit: int | None = None,
        entrypoint: list[str] | None = None,
        cmd: list[str] | None = None,
        no_new_privs: bool = False,
        config_env: list[str] | None = None,  # docker's Config.Env: no PATH/HOSTNAME added
        seccomp: str = "",  # "": docker's default profile; "unconfined"; a profile's JSON
        caps: list[str] | None = None,  # None: docker's default set
        privileged: bool = False,
        init: bool = False,
        ulimits: list[list] | None = None,  # [name, soft, hard]
        devices: list[list[str]] | None = None,  # [host, container, rwm]
        shm_size: int | None = None,
        mounts: list[MountPoint] | None = None,  # volumes and --mount, beside binds and tmpfs
        attach: list[str] | None = None,  # the streams run shows; None: stdout and stderr
        systempaths: bool = False,  # no masked or read-only /proc and /sys paths
    ) -> None:
        self.caps = caps
        self.privileged = privileged
        self.init = init
        self.ulimits = [] if ulimits is None else ulimits
        self.devices = [] if devices is None else devices
        self.shm_size = shm_size
        self.mounts = [] if mounts is None else mounts
        self.attach = attach
        self.systempaths = systempaths
        self.id = id
        self.hostname = hostname
        self.args = args
        self.env = env
        self.cwd = cwd
        self.user = user
        self.tty = tty
        self.stdin = stdin
        self.network = network
        self.read_only = read_only
        self.binds = [] if binds is None else binds
        self.tmpfs = {} if tmpfs is None else tmpfs
        self.memory = memory
        self.cpus = cpus
        self.pids_limit = pids_limit
        self.entrypoint = entrypoint
        self.cmd = cmd
        self.no_new_privs = no_new_privs
        self.config_env = config_env
        self.seccomp = seccomp

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "hostname": self.hostname,
            "args": self.args,
            "env": self.env,
            "cwd": self.cwd,
            "user": self.user,
            "tty": self.tty,
            "stdin": self.stdin,
            "network": self.network,
            "read_only": self.read_only,
            "binds": [[b.source, b.target, b.readonly] for b in self.binds],
            "tmpfs": self.tmpfs,
            "memory": self.memory,
            "cpus": self.cpus,
            "pids_limit": self.pids_limit,
            "entrypoint": self.entrypoint,
            "cmd": self.cmd,
            "no_new_privs": self.no_new_privs,
            "config_env": self.config_env,
            "seccomp": self.seccomp,
            "caps": self.caps,
            "privileged": self.privileged,
            "init": self.init,
            "ulimits": self.ulimits,
            "devices": self.devices,
            "shm_size": self.shm_size,
            "mounts": [m.to_json() for m in self.mounts],
            "attach": self.attach,
            "systempaths": self.systempaths,
        }

    @classmethod
    def from_json(cls, doc: dict) -> ContainerSpec:
        doc = dict(doc)
        doc["binds"] = [Bind(s, t, bool(r)) for s, t, r in doc.get("binds", [])]
        doc["mounts"] = [MountPoint(*m) for m in doc.get("mounts", [])]
        return cls(**doc)

    @property
    def unmasked(self) -> bool:
        """No masked or read-only /proc and /sys paths: --privileged, or
        --security-opt systempaths=unconfined."""
        return self.privileged or self.systempaths

    def all_mounts(self) -> list[MountPoint]:
        """-v binds, --tmpfs and the volumes and --mounts, parents before what is inside
        them (docker's order)."""
        out = [MountPoint("bind", b.source, b.target, b.readonly) for b in self.binds]
        out += [MountPoint("tmpfs", "tmpfs", t, data=o) for t, o in self.tmpfs.items()]
        out += self.mounts
        return sorted(out, key=lambda m: depth(m.target))


def _str_list(value: object) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value]
    return None


def env_key(item: str) -> str:
    return item.split("=", 1)[0]


def merge_env(base: list[str], overrides: list[str]) -> list[str]:
    """Replace each KEY in `base` in place, append new ones; `KEY` alone removes it."""
    out = list(base)
    for item in overrides:
        key = env_key(item)
        idx = next((i for i, e in enumerate(out) if env_key(e) == key), None)
        if "=" not in item:
            if idx is not None:
                del out[idx]
            continue
        if idx is None:
            out.append(item)
        else:
            out[idx] = item
    return out


def build_spec(image_config: dict, opts: RunOptions, container_id: str) -> ContainerSpec:
    """Docker's rules for combining the image config with `docker run` options."""
    entrypoint, cmd, args = _command(image_config, opts)
    hostname = opts.hostname or container_id[:12]
    config_env, env = _environment(image_config, opts, hostname)
    cwd = _working_dir(image_config, opts)
    user = opts.user if opts.user is not None else str(image_config.get("User") or "")
    return ContainerSpec(
        id=container_id,
        hostname=hostname,
        args=args,
        env=env,
        cwd=cwd,
        user=user,
        tty=opts.tty,
        stdin=opts.stdin,
        network=opts.network,
        read_only=opts.read_only,
        binds=list(opts.binds),
        tmpfs=dict(opts.tmpfs),
        memory=opts.memory,
        cpus=opts.cpus,
        pids_limit=opts.pids_limit,
        entrypoint=entrypoint,
        cmd=cmd,
        no_new_privs=opts.no_new_privs,
        config_env=config_env,
        seccomp=opts.seccomp,
        caps=None if opts.privileged else effective_caps(opts.cap_add, opts.cap_drop),
        privileged=opts.privileged,
        init=bool(opts.init),
        ulimits=[list(u) for u in opts.ulimits],
        devices=[list(d) for d in opts.devices],
        shm_size=opts.shm_size,
        attach=opts.attach,
        systempaths=opts.systempaths,
    )


def _command(
    image_config: dict, opts: RunOptions
) -> tuple[list[str] | None, list[str] | None, list[str]]:
    """Entrypoint, Cmd and the command they make: an --entrypoint drops the image's Cmd;
    args replace Cmd."""
    img_entry = _str_list(image_config.get("Entrypoint"))
    img_cmd = _str_list(image_config.get("Cmd"))
    if opts.entrypoint is not None:
        entrypoint: list[str] | None = [opts.entrypoint] if opts.entrypoint else []
        cmd = list(opts.args) if opts.args else (img_cmd if not entrypoint else [])
    else:
        entrypoint = img_entry
        cmd = list(opts.args) if opts.args else img_cmd
    args = list(entrypoint or []) + list(cmd or [])
    if not args:
        raise SpecError("No command specified")
    return entrypoint, cmd, args


def _environment(
    image_config: dict, opts: RunOptions, hostname: str
) -> tuple[list[str], list[str]]:
    """Config.Env (the user's values, then the image's values the user did not set) and
    the process's environment (the daemon's PATH, HOSTNAME and TERM, overridden by it)."""
    user_env = [e for e in opts.env if "=" in e]
    user_keys = {env_key(e) for e in user_env}
    image_env = [str(e) for e in image_config.get("Env") or [] if isinstance(e, str)]
    config_env = user_env + [e for e in image_env if env_key(e) not in user_keys]
    daemon_env = [f"PATH={DEFAULT_PATH}", f"HOSTNAME={hostname}"]
    if opts.tty:
        daemon_env.append("TERM=xterm")
    return config_env, merge_env(daemon_env, config_env)


def _working_dir(image_config: dict, opts: RunOptions) -> str:
    """-w (absolute) or the image's WorkingDir, normalised; "/" when neither is set."""
    workdir = opts.workdir if opts.workdir is not None else image_config.get("WorkingDir") or ""
    if opts.workdir is not None and opts.workdir and not opts.workdir.startswith("/"):
        raise SpecError(
            f"the working directory '{opts.workdir}' is invalid, it needs to be an absolute path"
        )
    cwd = posixpath.normpath("/" + str(workdir)) if workdir else "/"
    if cwd.startswith("//"):
        cwd = "/" + cwd.lstrip("/")
    return cwd
