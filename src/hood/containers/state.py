"""Container records: config.v2.json (with State), hostconfig.json and the etc files docker
bind-mounts into the container, under ROOT/containers/ID/."""

from __future__ import annotations

import os
import time

from hood.errors import HoodError, NotFound
from hood.runtime import lean
from hood.runtime.spec import ContainerSpec
from hood.store.layout import Layout, join

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

ZERO_TIME = "0001-01-01T00:00:00Z"
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_NAME_CHARS = _ALNUM | frozenset("_.-")
_HEX = frozenset("0123456789abcdef")


def _valid_name(name: str) -> bool:
    """docker's [a-zA-Z0-9][a-zA-Z0-9_.-]+"""
    return len(name) >= 2 and name[0] in _ALNUM and _NAME_CHARS.issuperset(name)


def _is_id(name: str) -> bool:
    return len(name) == 64 and _HEX.issuperset(name)


DEFAULT_HOSTS = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)


class Conflict(HoodError):
    """A name in use, or a running container asked to do what only a stopped one can."""


def now_rfc3339() -> str:
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns % 10**9:09d}Z"


def _write_json(path: Path | str, doc: Any) -> None:
    head, name = os.path.split(path)
    tmp = os.path.join(head, f".{name}.{os.urandom(4).hex()}")
    with open(tmp, "w") as f:
        f.write(lean.dumps(doc, separators=(",", ":")))
    os.replace(tmp, path)


def _write_text(path: Path | str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _read_text(path: Path | str) -> str:
    with open(path) as f:
        return f.read()


def _read_bytes(path: Path | str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def pid_start_time(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


class Container:
    __slots__ = ("dir", "config", "hostconfig")

    def __init__(self, dir: Path, config: dict[str, Any], hostconfig: dict[str, Any]) -> None:  # noqa: A002
        self.dir = dir
        self.config = config  # config.v2.json
        self.hostconfig = hostconfig

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return (self.dir, self.config, self.hostconfig) == (
            other.dir,  # type: ignore[attr-defined]
            other.config,  # type: ignore[attr-defined]
            other.hostconfig,  # type: ignore[attr-defined]
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"Container(dir={self.dir!r}, config={self.config!r}, hostconfig={self.hostconfig!r})"
        )

    @property
    def id(self) -> str:
        return self.config["ID"]

    @property
    def name(self) -> str:
        return self.config.get("Name", "").lstrip("/")

    @property
    def state(self) -> dict[str, Any]:
        return self.config.setdefault("State", {})

    @property
    def spec(self) -> ContainerSpec:
        return ContainerSpec.from_json(self.config["HoodSpec"])

    @property
    def mount_id(self) -> str:
        return self.config.get("HoodMountID", "")

    def process_alive(self) -> bool:
        """The recorded PID is still our container's process (same start time)."""
        pid = self.state.get("Pid") or 0
        if not pid:
            return False
        from hood.runtime.builtin import pid_alive

        return pid_alive(pid) and pid_start_time(pid) == self.config.get("HoodPidStart", "")

    @property
    def running(self) -> bool:
        return bool(self.state.get("Running")) and self.process_alive()

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

    def save(self) -> None:
        st = self.state
        st["Status"] = self.status_word() if not st.get("Running") else "running"
        _write_json(join(self.dir, "config.v2.json"), self.config)
        _write_json(join(self.dir, "hostconfig.json"), self.hostconfig)

    @property
    def log_path(self) -> Path:
        return join(self.dir, f"{self.id}-json.log")


class ContainerStore:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    def ids(self) -> list[str]:
        try:
            names = os.listdir(self.layout.containers)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return [n for n in names if _is_id(n)]

    def load(self, container_id: str) -> Container:
        d = self.layout.container_dir(container_id)
        try:
            config = lean.loads(_read_bytes(join(d, "config.v2.json")))
        except FileNotFoundError:
            raise NotFound(f"No such container: {container_id}") from None
        except ValueError as exc:
            raise HoodError(
                f"container {container_id[:12]}: corrupt config.v2.json: {exc}"
            ) from None
        try:
            hostconfig = lean.loads(_read_bytes(join(d, "hostconfig.json")))
        except (OSError, ValueError):
            hostconfig = {}
        return Container(d, config, hostconfig)

    def list(self) -> list[Container]:
        out = []
        for cid in self.ids():
            with lean.suppress(HoodError, KeyError):
                out.append(self.load(cid))
        out.sort(key=lambda c: c.config.get("Created", ""), reverse=True)
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
        return {c.name for c in self.list()}

    def create(
        self,
        spec: ContainerSpec,
        *,
        name: str | None,
        image_name: str,
        image_id: str,
        mount_id: str,
        hostconfig: dict[str, Any],
    ) -> Container:
        from hood.containers import names as gen

        existing = {c.name: c.id for c in self.list()}
        taken = set(existing)
        if name:
            if not _valid_name(name):
                raise HoodError(
                    f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                )
            if name in taken:
                raise Conflict(
                    f'Conflict. The container name "/{name}" is already in use by container'
                    f' "{existing[name]}". You have to remove (or rename) that container to be'
                    " able to reuse that name."
                )
        else:
            name = gen.generate(taken)
        d = self.layout.container_dir(spec.id)
        os.makedirs(self.layout.containers, exist_ok=True)
        os.mkdir(d, 0o710)
        _write_text(join(d, "hostname"), spec.hostname + "\n")
        _write_text(join(d, "hosts"), _hosts(spec))
        _write_text(join(d, "resolv.conf"), _resolv_conf(spec.network))
        config = {
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
            "ID": spec.id,
            "Created": now_rfc3339(),
            "Managed": False,
            "Path": spec.args[0],
            "Args": spec.args[1:],
            "Config": {
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
            },
            "Image": image_id,
            "NetworkSettings": {"Networks": {spec.network: {}}},
            "LogPath": str(join(d, f"{spec.id}-json.log")),
            "Name": "/" + name,
            "Driver": "overlay2",
            "OS": "linux",
            "RestartCount": 0,
            "HasBeenStartedBefore": False,
            "HasBeenManuallyStopped": False,
            "MountPoints": {
                b.target: {
                    "Source": b.source,
                    "Destination": b.target,
                    "RW": not b.readonly,
                    "Type": "bind",
                    "Propagation": "rprivate",
                }
                for b in spec.binds
            },
            "HostnamePath": str(join(d, "hostname")),
            "HostsPath": str(join(d, "hosts")),
            "ResolvConfPath": str(join(d, "resolv.conf")),
            "HoodSpec": spec.to_json(),
            "HoodMountID": mount_id,
        }
        c = Container(d, config, hostconfig)
        c.save()
        return c

    def mark_started(self, c: Container, pid: int) -> None:
        st = c.state
        st.update(
            Running=True,
            Pid=pid,
            ExitCode=0,
            Error="",
            StartedAt=now_rfc3339(),
            FinishedAt=ZERO_TIME,
        )
        c.config["HoodPidStart"] = pid_start_time(pid)
        c.config["HasBeenStartedBefore"] = True
        c.save()

    def mark_exited(self, c: Container, status: int, error: str = "") -> None:
        st = c.state
        st.update(Running=False, Pid=0, ExitCode=status, Error=error, FinishedAt=now_rfc3339())
        c.save()

    def remove(self, c: Container) -> None:
        from hood.runtime.rootfs import remove_layer, remove_tree

        remove_layer(self.layout, c.id)
        remove_tree(c.dir)


def _hosts(spec: ContainerSpec) -> str:
    if spec.network == "host":
        try:
            return _read_text("/etc/hosts")
        except OSError:
            return DEFAULT_HOSTS
    return DEFAULT_HOSTS


def _resolv_conf(network: str) -> str:
    try:
        text = _read_text("/etc/resolv.conf")
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
