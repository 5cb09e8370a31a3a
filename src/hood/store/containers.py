"""Container records as dockerd keeps them, and hood's own beside them.

    containers/ID/config.v2.json, hostconfig.json     docker's keys only (State inside)
    containers/ID/{hostname,hosts,resolv.conf}        bind-mounted into the container
    containers/ID/ID-json.log                         json-file log
    hood/containers/ID/hood.json                      the run spec, the process's start time
    hood/containers/ID/run.lock                       held by the hood process running it

config.v2.json is written last at create: a directory without it is a create that was
killed (fsck's to remove). A `run` holds run.lock from before the record is complete until
it is done with the container, so a `--rm` container whose lock nobody holds and whose
process is gone was left by a killed hood, and the next command that looks removes it.

A record written by dockerd (no hood.json, keys hood does not know) is read as far as it
goes: listing, inspecting and removing it never fail on a missing or unknown key."""

from __future__ import annotations

import os
import time

from hood.core.errors import Conflict, HoodError, NotFound
from hood.core.fileio import read_bytes, remove_tree, write_atomic
from hood.core.jsonio import dumps, go_json, loads
from hood.core.lean import suppress
from hood.store.layout import Layout
from hood.store.lock import FileLock, is_held, lock_fd

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

ZERO_TIME = "0001-01-01T00:00:00Z"
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_NAME_CHARS = _ALNUM | frozenset("_.-")
_HEX = frozenset("0123456789abcdef")

DEFAULT_HOSTS = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)


def valid_name(name: str) -> bool:
    """docker's [a-zA-Z0-9][a-zA-Z0-9_.-]+"""
    return len(name) >= 2 and name[0] in _ALNUM and _NAME_CHARS.issuperset(name)


def is_container_id(name: str) -> bool:
    return len(name) == 64 and _HEX.issuperset(name)


def now_rfc3339() -> str:
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns % 10**9:09d}Z"


def pid_start_time(pid: int) -> str:
    """The process's start time in clock ticks (/proc/PID/stat field 22): with the PID,
    it tells our container's process from a later one that reused its PID."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:  # the name in it may be any bytes
            return f.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return ""


def _docker_json(doc: dict[str, Any]) -> str:
    """As dockerd's json.Encoder writes its files: compact, HTML-escaped, one newline."""
    return go_json(doc, html=True) + "\n"


def _load_json(path: str) -> Any:
    return loads(read_bytes(path))


def _load_object(path: str) -> dict[str, Any]:
    """The JSON object in `path`; {} when it is missing, unreadable or not an object."""
    try:
        doc = _load_json(path)
    except (OSError, ValueError, RecursionError, UnicodeDecodeError):
        return {}
    return doc if isinstance(doc, dict) else {}


class Container:
    """One container: docker's config.v2.json and hostconfig.json, and hood's own record."""

    __slots__ = ("dir", "config", "hostconfig", "hood", "layout", "hold_fd")

    def __init__(
        self,
        layout: Layout,
        config: dict[str, Any],
        hostconfig: dict[str, Any],
        hood: dict[str, Any] | None = None,
    ) -> None:
        self.layout = layout
        self.config = config  # config.v2.json
        self.hostconfig = hostconfig
        self.hood = hood if hood is not None else {}
        self.dir = layout.container_dir(self.id)
        self.hold_fd = -1  # run.lock, while this process runs the container

    def __repr__(self) -> str:
        return f"Container(id={self.id!r}, name={self.name!r})"

    @property
    def id(self) -> str:
        return str(self.config.get("ID", ""))

    @property
    def name(self) -> str:
        name = self.config.get("Name")
        return name.lstrip("/") if isinstance(name, str) else ""  # as ContainerStore.named

    @property
    def state(self) -> dict[str, Any]:
        state = self.config.get("State")
        if not isinstance(state, dict):
            state = self.config["State"] = {}
        return state

    @property
    def created_by_hood(self) -> bool:
        return isinstance(self.hood.get("Spec"), dict)

    @property
    def spec_doc(self) -> dict[str, Any]:
        """How hood runs it (runtime.spec.ContainerSpec as JSON). A container dockerd
        created has none."""
        doc = self.hood.get("Spec")
        if not isinstance(doc, dict):
            raise HoodError(
                f"container {self.name or self.id[:12]} was not created by hood; "
                "start it with the runtime that created it"
            )
        return doc

    @property
    def pid(self) -> int:
        pid = self.state.get("Pid")
        return pid if isinstance(pid, int) and not isinstance(pid, bool) else 0

    def process_alive(self) -> bool:
        """The recorded PID is still our container's process (same start time)."""
        pid = self.pid
        if not pid:
            return False
        start = pid_start_time(pid)
        recorded = self.hood.get("PidStart")
        if recorded is None and not self.created_by_hood:  # dockerd's: its own PID record
            return bool(start) and pid_alive(pid)
        return bool(start) and start == recorded and pid_alive(pid)

    @property
    def running(self) -> bool:
        return bool(self.state.get("Running")) and self.process_alive()

    @property
    def exit_code(self) -> int:
        """State.ExitCode as docker reports it: 137 when the process vanished with the hood
        that ran it (killed together, nobody recorded the exit)."""
        code = self.state.get("ExitCode", 0)
        if self.state.get("Running") and not self.running:
            return code or 137
        return code if isinstance(code, int) else 0

    @property
    def labels(self) -> dict[str, str]:
        """Config.Labels (empty when the record has none)."""
        config = self.config.get("Config")
        labels = config.get("Labels") if isinstance(config, dict) else None
        return labels if isinstance(labels, dict) else {}

    def status_word(self) -> str:
        """docker inspect's State.Status."""
        st = self.state
        if self.running:
            return "running"
        if st.get("Running"):  # its hood was killed: the process is gone
            return "exited"
        if st.get("StartedAt", ZERO_TIME) == ZERO_TIME:
            return "created"
        return "exited"

    @property
    def log_path(self) -> str:
        return os.path.join(self.dir, f"{self.id}-json.log")

    @property
    def hood_dir(self) -> str:
        return self.layout.hood_container_dir(self.id)

    @property
    def run_lock(self) -> str:
        return os.path.join(self.hood_dir, "run.lock")

    @property
    def auto_remove(self) -> bool:
        """`--rm`: removed when it exits, so its files need not survive a crash."""
        return bool(self.hostconfig.get("AutoRemove"))

    def abandoned(self) -> bool:
        """A `--rm` container a killed hood left: started (or created by a `run` to be
        started), its process gone, and no hood process holding it."""
        if not self.auto_remove or self.hold_fd >= 0:
            return False
        st = self.state
        started = (
            st.get("Running")
            or self.config.get("HasBeenStartedBefore")
            or st.get("StartedAt", ZERO_TIME) != ZERO_TIME
            or self.hood.get("Starting")
        )
        if not started or self.running:
            return False
        return not is_held(self.run_lock)


def pid_alive(pid: int) -> bool:
    """The process exists and is no zombie (it has not exited)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    except (OSError, IndexError):
        return False


class ContainerStore:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    def locked(self) -> FileLock:
        return FileLock(self.layout.lock_file)

    def ids(self) -> list[str]:
        try:
            names = os.listdir(self.layout.containers)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return [n for n in names if is_container_id(n)]

    def auto_remove_ids(self) -> list[str]:
        """The containers created with --rm (hostconfig.json's AutoRemove), found by
        reading that file alone: what a sweep for abandoned ones needs to load whole."""
        return [cid for cid, hc in self._each("hostconfig.json") if hc.get("AutoRemove")]

    def _each(self, file_name: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """Each container's ID and its docker record `file_name`, that file alone read
        ({} when it does not load)."""
        for cid in self.ids():
            yield cid, _load_object(os.path.join(self.layout.container_dir(cid), file_name))

    def load(self, container_id: str) -> Container:
        d = self.layout.container_dir(container_id)
        try:
            config = _load_json(os.path.join(d, "config.v2.json"))
        except FileNotFoundError:
            raise NotFound(f"No such container: {container_id}") from None
        except (ValueError, RecursionError, UnicodeDecodeError) as exc:
            raise HoodError(
                f"container {container_id[:12]}: corrupt config.v2.json: {exc}"
            ) from None
        if not isinstance(config, dict):
            raise HoodError(f"container {container_id[:12]}: config.v2.json is not an object")
        config["ID"] = container_id  # the directory's name is the ID, whatever the file says
        return Container(
            self.layout,
            config,
            _load_object(os.path.join(d, "hostconfig.json")),
            _load_object(os.path.join(self.layout.hood_container_dir(container_id), "hood.json")),
        )

    def list(self) -> list[Container]:
        """Every container whose record loads, newest first."""
        out = []
        for cid in self.ids():
            with suppress(HoodError):
                out.append(self.load(cid))
        out.sort(key=lambda c: str(c.config.get("Created", "")), reverse=True)
        return out

    def resolve(self, name: str) -> Container:
        """By full ID, name, or unique ID prefix (docker's order)."""
        ids = self.ids()
        if name in ids:
            return self.load(name)
        wanted = name.lstrip("/")
        for c in self.list():
            if c.name == wanted:
                return c
        hits = [i for i in ids if i.startswith(name)] if name and _HEX.issuperset(name) else []
        if len(hits) == 1:
            return self.load(hits[0])
        if len(hits) > 1:
            raise NotFound(f"multiple IDs found with provided prefix: {name}")
        raise NotFound(f"No such container: {name}")

    def names(self) -> set[str]:
        return set(self.named())

    def named(self) -> dict[str, str]:
        """Each container's name and ID, read from config.v2.json alone (every `run` and
        `create` checks its name against them all). A record that does not load has none."""
        out = {}
        for cid, config in self._each("config.v2.json"):
            name = config.get("Name")
            if isinstance(name, str) and name.lstrip("/"):
                out[name.lstrip("/")] = cid
        return out

    def using_image(self, image_id: str) -> list[Container]:
        """Containers created from this image (config.v2.json's Image)."""
        return [c for c in self.list() if c.config.get("Image") == image_id]

    def create(
        self,
        config: dict[str, Any],
        hostconfig: dict[str, Any],
        spec_doc: dict[str, Any],
        *,
        container_id: str,
        name: str | None,
        runtime: str = "builtin",
        etc_files: dict[str, str],
        starting: bool = False,
    ) -> Container:
        """Write a new container's record. The name is checked and taken under the store
        lock, so of two creates with one name, exactly one wins. `config` is
        config.v2.json without ID and Name, which this fills in. `starting` (a `run`):
        this process holds the container (see `hold`) from before its record is complete,
        and starts it."""
        from hood.store import container_names

        with self.locked():
            existing = self.named()
            if name:
                if not valid_name(name):
                    raise HoodError(
                        f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are"
                        " allowed"
                    )
                if name in existing:
                    raise Conflict(
                        f'Conflict. The container name "/{name}" is already in use by container'
                        f' "{existing[name]}". You have to remove (or rename) that container to'
                        " be able to reuse that name."
                    )
            else:
                name = container_names.generate(set(existing))
            config = {**config, "ID": container_id, "Name": "/" + name}
            hood: dict[str, Any] = {"Spec": spec_doc, "Runtime": runtime}
            if starting:
                hood["Starting"] = True
            c = Container(self.layout, config, hostconfig, hood)
            os.makedirs(self.layout.containers, exist_ok=True)
            os.mkdir(c.dir, 0o710)
            if starting:
                self.hold(c)
            synced = not c.auto_remove
            for file_name, text in etc_files.items():
                write_atomic(os.path.join(c.dir, file_name), text, durable=False, synced=synced)
            self._save_hood(c)
            # hostconfig.json (AutoRemove) before config.v2.json, which completes the record
            write_atomic(
                os.path.join(c.dir, "hostconfig.json"),
                _docker_json(c.hostconfig),
                0o644,
                durable=False,
                synced=synced,
            )
            self.save(c)
        return c

    def hold(self, c: Container) -> None:
        """Take run.lock for this process while it runs `c` (released when it exits).
        Raises Conflict when another hood process holds it."""
        if c.hold_fd >= 0:
            return
        fd = lock_fd(c.run_lock, wait=False)
        if fd is None:
            raise Conflict(f"container {c.name or c.id[:12]} is being run by another hood")
        c.hold_fd = fd

    def release(self, c: Container) -> None:
        fd, c.hold_fd = c.hold_fd, -1
        if fd >= 0:
            os.close(fd)

    def save(self, c: Container) -> None:
        """Write config.v2.json (hostconfig.json changes only at create)."""
        st = c.state
        st["Status"] = c.status_word() if not st.get("Running") else "running"
        write_atomic(
            os.path.join(c.dir, "config.v2.json"),
            _docker_json(c.config),
            0o600,
            durable=False,
            synced=not c.auto_remove,
        )

    def _save_hood(self, c: Container) -> None:
        write_atomic(
            os.path.join(c.hood_dir, "hood.json"),
            dumps(c.hood, separators=(",", ":")),
            0o600,
            durable=False,
            synced=not c.auto_remove,
        )

    def mark_started(self, c: Container, pid: int) -> None:
        c.state.update(
            Running=True,
            Pid=pid,
            ExitCode=0,
            Error="",
            StartedAt=now_rfc3339(),
            FinishedAt=ZERO_TIME,
        )
        c.hood["PidStart"] = pid_start_time(pid)
        c.config["HasBeenStartedBefore"] = True
        self._save_hood(c)
        self.save(c)

    def mark_exited(self, c: Container, status: int, error: str = "") -> None:
        c.state.update(Running=False, Pid=0, ExitCode=status, Error=error, FinishedAt=now_rfc3339())
        self.save(c)

    def remove_record(self, container_id: str) -> None:
        """Delete the container's record (docker's and hood's); its layer is RwLayers'."""
        remove_tree(self.layout.container_dir(container_id))
        remove_tree(self.layout.hood_container_dir(container_id))


def hosts_file(network: str, extra_hosts: list[str] | None = None) -> str:
    """The container's /etc/hosts as docker 20.10's libnetwork writes it: the host's own
    on the host network, else docker's defaults; with --add-host, the defaults and each
    HOST:IP as `IP\tHOST`."""
    if extra_hosts:
        lines = []
        for item in extra_hosts:
            host, _, ip = item.partition(":")
            lines.append(f"{ip.strip('[]')}\t{host}\n")
        return DEFAULT_HOSTS + "".join(lines)
    if network == "host":
        try:
            with open("/etc/hosts") as f:
                return f.read()
        except OSError:
            return DEFAULT_HOSTS
    return DEFAULT_HOSTS


def resolv_conf(
    network: str,
    dns: list[str] | None = None,
    search: list[str] | None = None,
    options: list[str] | None = None,
) -> str:
    """The container's /etc/resolv.conf: the host's (without loopback name servers off
    the host network); with --dns, --dns-search or --dns-option, built as libnetwork
    builds it: search, name servers, options, each the given ones or else the host's."""
    base = _resolv_base(network)
    if not (dns or search or options):
        return base
    fields = [ln.split() for ln in base.splitlines()]
    servers = dns or [f[1] for f in fields if f[:1] == ["nameserver"] and len(f) > 1]
    domains = search or next((f[1:] for f in reversed(fields) if f[:1] == ["search"]), [])
    opts = options or [o for f in fields if f[:1] == ["options"] for o in f[1:]]
    out = ""
    if domains and " ".join(domains).strip() != ".":
        out += "search " + " ".join(domains) + "\n"
    out += "".join(f"nameserver {ns}\n" for ns in servers)
    if opts:
        out += "options " + " ".join(opts) + "\n"
    return out


def _resolv_base(network: str) -> str:
    try:
        with open("/etc/resolv.conf") as f:
            text = f.read()
    except OSError:
        text = ""
    if network == "host":
        return text
    lines = []
    for line in text.splitlines():
        fields = line.split()
        if (
            fields[:1] == ["nameserver"]
            and len(fields) > 1
            and (fields[1].startswith("127.") or fields[1] == "::1")
        ):
            continue
        lines.append(line)
    out = "\n".join(lines) + "\n" if lines else ""
    if not any(ln.split()[:1] == ["nameserver"] for ln in lines):
        out += "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
    return out


def empty_endpoint() -> dict[str, Any]:
    """A network endpoint as dockerd records it for a container with no address (host and
    none networks: all hood has)."""
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
