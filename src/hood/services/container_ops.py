"""wait, rename, restart, top and exec: what docker does to a container besides running it."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field

from hood.core.errors import Conflict, HoodError, NotFound
from hood.store.containers import Container, ContainerStore, valid_name
from hood.store.layout import Layout
from hood.store.lock import is_held


def wait_container(layout: Layout, c: Container, poll: float = 0.05) -> int:
    """Block until the container is not running; its exit code (0 if never started)."""
    store = ContainerStore(layout)
    while True:
        try:
            fresh = store.load(c.id)
        except NotFound:
            return int(c.state.get("ExitCode", 0) or 0)
        if not fresh.running:
            if fresh.state.get("Running"):
                if is_held(fresh.run_lock):  # its hood is recording the exit: a moment
                    time.sleep(poll)
                    continue
                return 137  # its hood died with it: docker's SIGKILL status
            return int(fresh.state.get("ExitCode", 0) or 0)
        time.sleep(poll)


def rename_container(layout: Layout, c: Container, new_name: str) -> None:
    """docker rename: a valid name no other container has, taken under the store lock."""
    name = new_name.lstrip("/")
    if not valid_name(name):
        raise HoodError(
            f"Error when allocating new name: Invalid container name (/{name}), only "
            "[a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )
    if name == c.name:
        raise Conflict("Renaming a container with the same name as its current name")
    store = ContainerStore(layout)
    with store.locked():
        for other in store.list():
            if other.name == name and other.id != c.id:
                raise Conflict(
                    f'Error when allocating new name: Conflict. The container name "/{name}" is'
                    f' already in use by container "{other.id}". You have to remove (or rename)'
                    " that container to be able to reuse that name."
                )
        fresh = store.load(c.id)
        fresh.config["Name"] = "/" + name
        settings = fresh.config.get("NetworkSettings")
        if isinstance(settings, dict):
            settings["IsAnonymousEndpoint"] = False
        store.save(fresh)


def restart_container(layout: Layout, c: Container, timeout: float = 10) -> None:
    """docker restart: stop (SIGTERM, then SIGKILL after `timeout` s), then start detached."""
    from hood.services.container_lifecycle import start_detached, stop_container

    stop_container(layout, c, timeout)
    start_detached(layout, ContainerStore(layout).load(c.id))


@dataclass(frozen=True)
class Processes:
    titles: list[str]
    rows: list[list[str]]


def container_pids(c: Container) -> list[int]:
    """Every process in the container's PID namespace (host PIDs)."""
    try:
        ns = os.readlink(f"/proc/{c.pid}/ns/pid")
    except OSError:
        return []
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/ns/pid") == ns:
                    out.append(int(entry))
            except OSError:
                continue
    return sorted(out)


def top(c: Container, ps_args: list[str] | None = None) -> Processes:
    """docker top: the host's `ps` (default `-ef`), the rows of the container's processes."""
    if not c.running:
        raise Conflict(f"Container {c.id} is not running")
    args = ps_args or ["-ef"]
    try:
        out = subprocess.run(["ps", *args], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise HoodError(f"ps {' '.join(args)}: {exc}") from None
    lines = out.splitlines()
    if not lines:
        raise HoodError("ps printed nothing")
    titles = lines[0].split()
    if "PID" not in titles:
        raise HoodError(f"Couldn't find PID field in ps output: {lines[0]}")
    column = titles.index("PID")
    wanted = {str(p) for p in container_pids(c)}
    rows = []
    for line in lines[1:]:
        fields = line.split(None, len(titles) - 1)
        if len(fields) > column and fields[column] in wanted:
            rows.append(fields)
    return Processes(titles, rows)


# --- exec --------------------------------------------------------------------------------------


@dataclass
class ExecOptions:
    args: list[str]
    env: list[str] = field(default_factory=list)  # -e, --env-file (KEY=VALUE or KEY)
    user: str | None = None
    workdir: str | None = None
    tty: bool = False
    interactive: bool = False
    detach: bool = False
    privileged: bool = False


def exec_in_container(layout: Layout, c: Container, opts: ExecOptions) -> int:
    """docker exec: a new process in the running container's namespaces and cgroup, with
    its environment (PATH, HOSTNAME, TERM with -t, the container's Env, then -e), user and
    working directory unless given, its capabilities and seccomp profile (all of them and
    none with --privileged). Returns its exit status (0 at once with `detach`); 126 when
    the command cannot be started, as docker exec says."""
    from hood.runtime.builtin import run
    from hood.runtime.launch import Launch
    from hood.runtime.spec import DEFAULT_PATH, ContainerSpec, merge_env
    from hood.services.container_spec import container_spec

    if not c.running:
        raise Conflict(f"Container {c.id} is not running")
    if not opts.args:
        raise HoodError("exec needs a command to run")
    base = container_spec(c)
    env = [f"PATH={DEFAULT_PATH}", f"HOSTNAME={base.hostname}"] + (["TERM=xterm"] if opts.tty else [])
    env = merge_env(merge_env(env, list(base.config_env or [])), opts.env)
    spec = ContainerSpec(
        id=base.id,
        hostname=base.hostname,
        args=list(opts.args),
        env=env,
        cwd=opts.workdir or base.cwd,
        user=base.user if opts.user is None else opts.user,
        tty=opts.tty,
        stdin=opts.interactive,
        network=base.network,
        no_new_privs=base.no_new_privs,
        seccomp=base.seccomp,
    )
    launch = Launch(
        spec, layout, "", c.dir, foreground=not opts.detach, join=c.pid, privileged=opts.privileged
    )
    if not opts.detach:
        return run(launch)
    return _exec_detached(launch)


def _exec_detached(launch) -> int:  # type: ignore[no-untyped-def]
    """exec -d: the process under a monitor that outlives us; 0 once it has started."""
    from hood.runtime.builtin import run
    from hood.services.monitor import run_in_monitor

    def work(started) -> None:  # type: ignore[no-untyped-def]  # pragma: no cover - the monitor
        launch.on_started = lambda _pid: started()
        run(launch)

    run_in_monitor(work, died=(126, "the exec monitor died"))
    return 0
