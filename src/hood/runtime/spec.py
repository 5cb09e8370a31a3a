"""What a container runs, derived from the image config and the command line as docker does.

Pure functions and small value types: nothing here touches the system, so the rules can be
tested alone and reused by the built-in runtime and the OCI bundle writer."""

from __future__ import annotations

import posixpath

from hood.core.errors import HoodError
from hood.core.lean import Frozen, Record

# The runtimes a container can run with: hood's own, or an OCI runtime from PATH.
RUNTIMES = ("builtin", "runc", "crun")

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Docker's default capability set (CapEff of a root container: 0x00000000a80425fb).
DEFAULT_CAPS: dict[str, int] = {
    "CAP_CHOWN": 0,
    "CAP_DAC_OVERRIDE": 1,
    "CAP_FOWNER": 3,
    "CAP_FSETID": 4,
    "CAP_KILL": 5,
    "CAP_SETGID": 6,
    "CAP_SETUID": 7,
    "CAP_SETPCAP": 8,
    "CAP_NET_BIND_SERVICE": 10,
    "CAP_NET_RAW": 13,
    "CAP_SYS_CHROOT": 18,
    "CAP_MKNOD": 27,
    "CAP_AUDIT_WRITE": 29,
    "CAP_SETFCAP": 31,
}
DEFAULT_CAP_MASK = sum(1 << bit for bit in DEFAULT_CAPS.values())

# Every capability by its number (linux/capability.h), for --cap-add/--cap-drop names.
ALL_CAPS = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE"
)  # fmt: skip


def cap_number(name: str) -> int:
    return ALL_CAPS.index(name.removeprefix("CAP_"))


def normalize_caps(names: list[str], what: str = "CapAdd") -> list[str]:
    """docker's NormalizeLegacyCapabilities: upper case, CAP_ prefixed, ALL kept; an
    unknown name is an error."""
    out = []
    for name in names:
        cap = name.upper()
        if cap != "ALL":
            cap = cap if cap.startswith("CAP_") else "CAP_" + cap
            if cap[4:] not in ALL_CAPS:
                raise SpecError(f'invalid {what}: unknown capability: "{cap}"')
        if cap not in out:
            out.append(cap)
    return out


def effective_caps(cap_add: list[str], cap_drop: list[str]) -> list[str] | None:
    """docker's TweakCapabilities for a container that is not privileged: the default set
    less --cap-drop plus --cap-add (ALL in either: everything, or nothing but the adds).
    None: docker's default set, untouched."""
    if not cap_add and not cap_drop:
        return None
    adds, drops = normalize_caps(cap_add), normalize_caps(cap_drop, "CapDrop")
    if "ALL" in adds:
        return ["CAP_" + c for c in ALL_CAPS if "CAP_" + c not in drops]
    if "ALL" in drops:
        return adds
    caps = [c for c in sorted(DEFAULT_CAPS, key=DEFAULT_CAPS.__getitem__) if c not in drops]
    return caps + [c for c in adds if c not in caps]


def cap_mask(names: list[str] | None) -> int:
    if names is None:
        return DEFAULT_CAP_MASK
    return sum(1 << cap_number(n) for n in names)


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


class SpecError(HoodError):
    """The image config and options do not make a runnable container."""


class UserError(SpecError):
    """A --user / image User that the container's /etc/passwd or /etc/group cannot resolve."""


class Bind(Frozen):
    __slots__ = ("source", "target", "readonly")

    def __init__(self, source: str, target: str, readonly: bool = False) -> None:
        self._init(source=source, target=target, readonly=readonly)

    @classmethod
    def parse(cls, text: str) -> Bind:
        parts = text.split(":")
        if len(parts) == 2:
            src, dst, mode = parts[0], parts[1], ""
        elif len(parts) == 3:
            src, dst, mode = parts
        else:
            raise SpecError(f"invalid volume specification: '{text}'")
        if not src.startswith("/"):
            raise SpecError(
                f"invalid volume specification: '{text}': named volumes are not supported,"
                " give an absolute host path"
            )
        if not dst.startswith("/"):
            raise SpecError(f"invalid volume specification: '{text}'")
        modes = set(filter(None, mode.split(",")))
        if modes - {"ro", "rw", "z", "Z", "rprivate", "private"}:
            raise SpecError(f"invalid mode: {mode}")
        return cls(posixpath.normpath(src), posixpath.normpath(dst), "ro" in modes)


class MountPoint(Frozen):
    """A volume or a --mount in the container: `kind` bind|volume|tmpfs; `source` the host
    path (a volume's _data); `copy`: a volume the image's content at `target` fills when it
    is empty, as docker's; `data`: a tmpfs's mount options."""

    __slots__ = ("kind", "source", "target", "readonly", "copy", "data")

    def __init__(
        self,
        kind: str,
        source: str,
        target: str,
        readonly: bool = False,
        copy: bool = False,
        data: str = "",
    ) -> None:
        self._init(kind=kind, source=source, target=target, readonly=readonly, copy=copy, data=data)

    def to_json(self) -> list:
        return [self.kind, self.source, self.target, self.readonly, self.copy, self.data]


class VolumeRequest(Record):
    """A volume or mount the command line asks for, before the store gives it a place:
    `kind` volume|bind|tmpfs; `source` a volume's name ("" for an anonymous one) or a host
    path; `spec` the HostConfig.Mounts entry of a --mount (None for -v)."""

    __slots__ = ("kind", "source", "target", "readonly", "nocopy", "data", "spec")

    def __init__(
        self,
        kind: str,
        source: str,
        target: str,
        readonly: bool = False,
        nocopy: bool = False,
        data: str = "",
        spec: dict | None = None,
    ) -> None:
        self.kind = kind
        self.source = source
        self.target = target
        self.readonly = readonly
        self.nocopy = nocopy
        self.data = data
        self.spec = spec


def tmpfs_data(readonly: bool, size: int | None, mode: int | None) -> str:
    """docker's ConvertTmpfsOptions: ro, mode=OCTAL, size with the largest exact suffix."""
    opts = ["ro"] if readonly else []
    if mode:
        opts.append(f"mode={mode:o}")
    if size:
        suffix = ""
        for letter, divisor in (("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)):
            if size % divisor == 0:
                size, suffix = size // divisor, letter
                break
        opts.append(f"size={size}{suffix}")
    return ",".join(opts)


def depth(path: str) -> int:
    """How deep a mount's target is: docker mounts parents before what goes inside them."""
    return len([p for p in path.split("/") if p])


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
    img_entry = _str_list(image_config.get("Entrypoint"))
    img_cmd = _str_list(image_config.get("Cmd"))
    # Entrypoint and Cmd: an --entrypoint drops the image's Cmd; args replace Cmd.
    if opts.entrypoint is not None:
        entrypoint: list[str] | None = [opts.entrypoint] if opts.entrypoint else []
        cmd = list(opts.args) if opts.args else (img_cmd if not entrypoint else [])
    else:
        entrypoint = img_entry
        cmd = list(opts.args) if opts.args else img_cmd
    args = list(entrypoint or []) + list(cmd or [])
    if not args:
        raise SpecError("No command specified")

    hostname = opts.hostname or container_id[:12]
    # Config.Env: the user's values, then the image's values the user did not set.
    user_env = [e for e in opts.env if "=" in e]
    user_keys = {env_key(e) for e in user_env}
    image_env = [str(e) for e in image_config.get("Env") or [] if isinstance(e, str)]
    config_env = user_env + [e for e in image_env if env_key(e) not in user_keys]
    daemon_env = [f"PATH={DEFAULT_PATH}", f"HOSTNAME={hostname}"]
    if opts.tty:
        daemon_env.append("TERM=xterm")
    env = merge_env(daemon_env, config_env)

    workdir = opts.workdir if opts.workdir is not None else image_config.get("WorkingDir") or ""
    if opts.workdir is not None and opts.workdir and not opts.workdir.startswith("/"):
        raise SpecError(
            f"the working directory '{opts.workdir}' is invalid, it needs to be an absolute path"
        )
    cwd = posixpath.normpath("/" + str(workdir)) if workdir else "/"
    if cwd.startswith("//"):
        cwd = "/" + cwd.lstrip("/")
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


# --- users -------------------------------------------------------------------------------


class ExecUser(Frozen):
    __slots__ = ("uid", "gid", "groups", "home")

    def __init__(self, uid: int, gid: int, groups: tuple[int, ...], home: str) -> None:
        self._init(uid=uid, gid=gid, groups=groups, home=home)


def _parse_colon_file(text: str, fields: int) -> list[list[str]]:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        parts += [""] * (fields - len(parts))
        out.append(parts)
    return out


def _to_id(text: str) -> int | None:
    if text.isdigit():
        value = int(text)
        if value <= 0x7FFFFFFF:
            return value
    return None


def resolve_user(spec: str, passwd: str | None, group: str | None) -> ExecUser:
    """`name|uid[:group|gid]` against the container's /etc/passwd and /etc/group, as runc does.

    Unknown numeric IDs are allowed (gid 0, HOME /); unknown names are errors. Supplementary
    groups come from /etc/group membership, only when no group was given explicitly."""
    user_arg, _, group_arg = (spec or "").partition(":")
    if not user_arg:
        user_arg = "0"
    uid_arg = _to_id(user_arg)
    uid, gid, home, name = (uid_arg if uid_arg is not None else 0), 0, "/", ""
    matched = None
    for parts in _parse_colon_file(passwd or "", 7):
        p_uid = _to_id(parts[2])
        if parts[0] == user_arg or (uid_arg is not None and p_uid == uid_arg):
            matched = parts
            break
    if matched is not None:
        name = matched[0]
        uid = _to_id(matched[2]) or 0
        gid = _to_id(matched[3]) or 0
        home = matched[5] or "/"
    elif uid_arg is None:
        raise UserError(f"unable to find user {user_arg}: no matching entries in passwd file")
    groups: list[int] = []
    entries = _parse_colon_file(group or "", 4)
    if group_arg:
        gid_arg = _to_id(group_arg)
        found = None
        for parts in entries:
            if parts[0] == group_arg or (gid_arg is not None and _to_id(parts[2]) == gid_arg):
                found = _to_id(parts[2])
                break
        if found is None:
            if gid_arg is None:
                raise UserError(
                    f"unable to find group {group_arg}: no matching entries in group file"
                )
            found = gid_arg
        gid = found
    elif name:
        for parts in entries:
            members = [m.strip() for m in parts[3].split(",") if m.strip()]
            g = _to_id(parts[2])
            if name in members and g is not None:
                groups.append(g)
    return ExecUser(uid, gid, tuple(groups), home)
