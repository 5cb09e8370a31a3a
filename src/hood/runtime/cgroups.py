"""The container's cgroup (v2 at /sys/fs/cgroup/hood/ID, v1 hood/ID in each hierarchy), its
resource limits, and /sys/fs/cgroup inside the container as docker mounts it.

Every container run as root gets a cgroup of its own, limits or not, as under docker: it
is what the container sees at /sys/fs/cgroup. On cgroup v2 the container has a cgroup
namespace rooted there and cgroup2 mounted read-only (docker's default, cgroupns=private);
on v1 it stays in the host's cgroup namespace (docker's default there) and sees a tmpfs
with each hierarchy's container cgroup bound read-only. Plain os calls only: `hood run`
loads this module."""

from __future__ import annotations

import errno
import os
import time

from hood.core.errors import HoodError
from hood.core.fileio import read_text_or_none
from hood.core.lean import suppress
from hood.core.privilege import host_root, host_uid

CGROUP_ROOT = "/sys/fs/cgroup"
CPU_PERIOD = 100_000
join = os.path.join


class CgroupError(HoodError):
    """A resource limit that cannot be set on this host."""


def is_v2() -> bool:
    return os.path.exists(join(CGROUP_ROOT, "cgroup.controllers"))


class Cgroup:
    __slots__ = ("dirs",)

    def __init__(self, dirs: list[str] | None = None) -> None:
        self.dirs: list[str] = [] if dirs is None else dirs

    def add(self, pid: int) -> None:
        for d in self.dirs:
            with open(join(d, "cgroup.procs"), "w") as f:
                f.write(str(pid))
        attached()

    def remove(self) -> None:
        for d in reversed(self.dirs):
            for _ in range(50):
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY:
                        break
                    time.sleep(0.01)


# The start of a container's cgroup attach, made early (expedite_attach). A write to
# cgroup.procs takes the kernel's global cgroup threadgroup lock for writing, and taking it
# first waits out an RCU grace period (5-20 ms here) unless it was taken in the last one.
# A thread's own ID written to `tasks` (v1) or `cgroup.threads` (v2) takes it too ("0",
# meaning the caller, does not), and moves only that thread.
_warm: list = []  # (stop lock, fd) of the warming thread, while it runs
_fork_hook_set = False


def expedite_attach() -> None:
    """Pay now, in a thread, the wait the container's cgroup attach would make later.

    While `run` creates its container, a thread moves itself to the cgroup it is in
    already (a move that changes nothing) every few milliseconds, until `attached()` or
    ~60 ms: the first write waits out the grace period, the next ones keep the lock quick
    to take, and the attach after the fork finds it so. Root only; a write that fails
    ends the thread (the attach then waits, as it would have)."""
    if _warm or not host_root():
        return
    path = _own_threads_file()
    if path is None:
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError:
        return
    import _thread

    global _fork_hook_set
    if not _fork_hook_set:  # a forked child (the container, run -d's monitor) does not warm
        os.register_at_fork(after_in_child=_forget_warm)
        _fork_hook_set = True
    stop, started = _thread.allocate_lock(), _thread.allocate_lock()
    stop.acquire()
    started.acquire()
    entry = (stop, fd)
    _warm.append(entry)
    try:
        _thread.start_new_thread(_keep_warm, (entry, started))
    except RuntimeError:  # no thread to be had: the attach waits, as it would have
        _warm.remove(entry)
        os.close(fd)
        return
    started.acquire()  # the thread has the GIL only if we wait: up to 5 ms otherwise


def attached() -> None:
    """The container is in its cgroup: the thread of expedite_attach may end."""
    try:
        stop, _ = _warm.pop()
    except IndexError:  # none, or it ended by itself
        return
    stop.release()


def _keep_warm(entry: tuple, started) -> None:  # type: ignore[no-untyped-def]
    import _thread

    stop, fd = entry
    tid = str(_thread.get_native_id()).encode()
    started.release()
    with suppress(OSError):
        for _ in range(20):
            os.write(fd, tid)
            if stop.acquire(True, 0.003):
                break
    with suppress(ValueError):  # not attached (a run that failed first): the next may warm
        _warm.remove(entry)
    os.close(fd)  # after: a fork in between closes it in the child (_forget_warm)


def _forget_warm() -> None:
    for _, fd in _warm:
        with suppress(OSError):
            os.close(fd)
    _warm.clear()


def _own_threads_file() -> str | None:
    """`tasks` (v1) or `cgroup.threads` (v2) of the cgroup this thread is in, in the first
    hierarchy that has one it may write."""
    for line in (read_text_or_none("/proc/thread-self/cgroup") or "").splitlines():
        _, controllers, path = line.split(":", 2)
        if not controllers:  # cgroup2: the whole tree, or `unified` beside v1's
            point = CGROUP_ROOT if is_v2() else join(CGROUP_ROOT, "unified")
            name = "cgroup.threads"
        else:
            point, name = join(CGROUP_ROOT, controllers.removeprefix("name=")), "tasks"
        threads = join(point + path, name)
        if os.access(threads, os.W_OK):
            return threads
    return None


def rootless_problem(memory: int | None, cpus: float | None, pids: int | None) -> str | None:
    """When not root: why the limits asked for cannot be set (None: they can, or none was).

    hood rootless has no systemd delegation to ask for a cgroup: the limits work only when
    the hood cgroup (v2) was made writable for this user beforehand."""
    flags = [f for f, v in (("--memory", memory), ("--cpus", cpus), ("--pids-limit", pids)) if v]
    if not flags or host_root():
        return None
    base = join(CGROUP_ROOT, "hood") if is_v2() else join(CGROUP_ROOT, "memory", "hood")
    if os.access(base, os.W_OK):
        return None
    return (
        f"rootless: no cgroup writable by uid {host_uid()} ({base}); {', '.join(flags)} discarded"
    )


def _write(path: str, value: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as exc:
        raise CgroupError(f"cannot set {path}: {exc.strerror}") from None


def _try_write(path: str, value: str) -> None:
    with suppress(OSError), open(path, "w") as f:
        f.write(value)


_hierarchies: list[tuple[str, str]] | None = None


def v1_hierarchies() -> list[tuple[str, str]]:
    """(name under /sys/fs/cgroup, mount point) of each cgroup v1 hierarchy mounted there
    (cgroup2's `unified` is left out, as docker leaves it out). Read once per process:
    the container's child, forked after, has it without reading mountinfo again."""
    global _hierarchies
    if _hierarchies is None:
        _hierarchies = _read_hierarchies()
    return _hierarchies


def _read_hierarchies() -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    try:
        with open("/proc/self/mountinfo") as f:
            lines = f.read().splitlines()
    except OSError:
        return out
    for line in lines:
        left, _, right = line.partition(" - ")
        fields = left.split()
        if len(fields) < 5 or right.split()[:1] != ["cgroup"]:
            continue
        point = fields[4]
        if os.path.dirname(point) == CGROUP_ROOT:
            out.append((os.path.basename(point), point))
    return out


class Joined:
    """exec: the cgroups a running container's process is in, for a new process to join
    (and nothing to remove afterwards)."""

    def __init__(self, pid: int) -> None:
        self.procs: list[str] = []
        try:
            with open(f"/proc/{pid}/cgroup") as f:
                lines = f.read().splitlines()
        except OSError:
            raise CgroupError(f"cannot read the cgroups of process {pid}") from None
        points = dict(v1_hierarchies()) if not is_v2() else {}
        for line in lines:
            _, controllers, path = line.split(":", 2)
            if is_v2():
                self.procs.append(join(CGROUP_ROOT, path.lstrip("/"), "cgroup.procs"))
                continue
            name = controllers.split(",")[0].removeprefix("name=") if controllers else "unified"
            point = points.get(controllers) or points.get(name)
            if point is None and not controllers:
                point = join(CGROUP_ROOT, "unified")
            if point is not None:
                self.procs.append(join(point, path.lstrip("/"), "cgroup.procs"))

    def add(self, pid: int) -> None:
        for procs in self.procs:
            with suppress(CgroupError):  # one we may not write (rootless: the host's)
                _write(procs, str(pid))

    def remove(self) -> None:
        pass


# docker's default device rules: mknod of any, and the container's own devices
DEFAULT_DEVICE_RULES = (
    "b *:* m", "c *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
    "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 10:200 rwm", "c 136:* rwm",
)  # fmt: skip


def device_rules(devices: list[tuple[str, str]], perms: dict[str, str]) -> list[str]:
    """docker's device allow list: the defaults, then each --device node with its
    permissions (`perms`: host path -> rwm)."""
    import stat

    rules = list(DEFAULT_DEVICE_RULES)
    for host, _ in devices:
        st = os.stat(host)
        kind = "c" if stat.S_ISCHR(st.st_mode) else "b"
        rules.append(f"{kind} {os.major(st.st_rdev)}:{os.minor(st.st_rdev)} {perms[host]}")
    return rules


def _devices_v1(d: str, rules: list[str]) -> None:
    """cgroup v1: deny every device, then allow the rules (v2 needs an eBPF program,
    which hood does not load: its containers' devices are then limited by /dev alone)."""
    if not os.path.exists(join(d, "devices.deny")):
        return
    _write(join(d, "devices.deny"), "a")
    for rule in rules:
        _write(join(d, "devices.allow"), rule)


def create(
    container_id: str,
    memory: int | None,
    cpus: float | None,
    pids: int | None,
    *,
    always: bool = False,
    devices: list[str] | None = None,  # device allow rules; None: every device (privileged)
) -> Cgroup | None:
    """The container's cgroup with the limits; None when no limit was asked for and not
    `always` (a container's own cgroup even without limits, as docker's)."""
    if memory is None and cpus is None and pids is None and not always:
        return None
    cg = Cgroup()
    try:
        if is_v2():
            _create_v2(cg, container_id, memory, cpus, pids)
        else:
            _create_v1(cg, container_id, _v1_limits(memory, cpus, pids), always, devices)
        return cg
    except OSError as exc:
        cg.remove()
        raise CgroupError(f"cannot create the container's cgroup: {exc.strerror}") from None
    except CgroupError:
        cg.remove()
        raise


def _create_v2(
    cg: Cgroup, container_id: str, memory: int | None, cpus: float | None, pids: int | None
) -> None:
    """hood/ID under the v2 root, the controllers of the limits enabled down to it."""
    base = join(CGROUP_ROOT, "hood")
    with suppress(FileExistsError):
        os.mkdir(base)
    wanted = [c for c, v in (("memory", memory), ("cpu", cpus), ("pids", pids)) if v is not None]
    if wanted:
        for parent in (CGROUP_ROOT, base):
            _try_write(join(parent, "cgroup.subtree_control"), " ".join("+" + c for c in wanted))
    d = join(base, container_id)
    with suppress(FileExistsError):
        os.mkdir(d)
    cg.dirs.append(d)
    if memory is not None:
        _write(join(d, "memory.max"), str(memory))
        # docker's default --memory-swap is twice --memory: as much swap again
        _try_write(join(d, "memory.swap.max"), str(memory))
    if cpus is not None:
        _write(join(d, "cpu.max"), f"{int(cpus * CPU_PERIOD)} {CPU_PERIOD}")
    if pids is not None:
        _write(join(d, "pids.max"), "max" if pids <= 0 else str(pids))


def _v1_limits(
    memory: int | None, cpus: float | None, pids: int | None
) -> list[tuple[str, str, str]]:
    """The limits as (v1 controller, file, value)."""
    limits: list[tuple[str, str, str]] = []
    if memory is not None:
        limits.append(("memory", "memory.limit_in_bytes", str(memory)))
    if cpus is not None:
        limits += [
            ("cpu", "cpu.cfs_period_us", str(CPU_PERIOD)),
            ("cpu", "cpu.cfs_quota_us", str(int(cpus * CPU_PERIOD))),
        ]
    if pids is not None:
        limits.append(("pids", "pids.max", "max" if pids <= 0 else str(pids)))
    return limits


def _create_v1(
    cg: Cgroup,
    container_id: str,
    limits: list[tuple[str, str, str]],
    always: bool,
    devices: list[str] | None,
) -> None:
    """hood/ID in every v1 hierarchy (`always`: a cgroup of its own even without limits,
    with the device rules), or only in those of the limits."""
    mounted = dict(v1_hierarchies())
    for controller, _, _ in limits:
        if controller not in mounted:
            raise CgroupError(f"the {controller} cgroup controller is not mounted")
    for point in mounted.values() if always else []:
        cg.dirs.append(_make_v1(point, container_id))
    if always and devices is not None and "devices" in mounted:
        _devices_v1(join(mounted["devices"], "hood", container_id), devices)
    unified = join(CGROUP_ROOT, "unified")  # hybrid: v2 beside v1, as docker uses it
    if always and os.path.exists(join(unified, "cgroup.procs")):
        cg.dirs.append(_make_v1(unified, container_id))
    for controller, name, value in limits:
        d = join(mounted[controller], "hood", container_id)
        if d not in cg.dirs:
            cg.dirs.append(_make_v1(mounted[controller], container_id))
        _write(join(d, name), value)
        if name == "memory.limit_in_bytes":  # --memory-swap: twice --memory, as docker
            _try_write(join(d, "memory.memsw.limit_in_bytes"), str(2 * int(value)))


def remove_leftover(container_id: str) -> None:
    """The container's cgroups a killed hood left (empty once its processes are gone)."""
    if is_v2():
        dirs = [join(CGROUP_ROOT, "hood", container_id)]
    else:
        dirs = [join(point, "hood", container_id) for _, point in v1_hierarchies()]
        dirs.append(join(CGROUP_ROOT, "unified", "hood", container_id))
    Cgroup([d for d in dirs if os.path.isdir(d)]).remove()


def _make_v1(point: str, container_id: str) -> str:
    """hood/ID in the v1 hierarchy mounted at `point`. A new cpuset cgroup has no CPUs and
    no memory nodes, and takes no process until given its parent's (as runc does)."""
    base, d = join(point, "hood"), join(point, "hood", container_id)
    try:  # hood/ is there but for the first container: one mkdir, not two
        os.mkdir(d)
    except FileNotFoundError:
        with suppress(FileExistsError):
            os.mkdir(base)
        os.mkdir(d)
    except FileExistsError:
        pass
    if not os.path.exists(join(point, "cpuset.cpus")):
        return d  # not the cpuset hierarchy
    for parent, child in ((point, base), (base, d)):
        for knob in ("cpuset.cpus", "cpuset.mems"):
            with open(join(child, knob)) as f:
                if f.read().strip():
                    continue
            with open(join(parent, knob)) as f:
                _write(join(child, knob), f.read().strip())
    return d


# --- inside the container (the child, before pivot_root) ------------------------------------


def _own_paths() -> dict[str, str]:
    """This process's cgroup in each v1 hierarchy, by the hierarchy's controllers."""
    out = {}
    with suppress(OSError), open("/proc/self/cgroup") as f:
        for line in f.read().splitlines():
            _, controllers, path = line.split(":", 2)
            for c in controllers.split(","):
                out[c] = path
            out[controllers] = path
    return out


def mount_in_container(  # type: ignore[no-untyped-def]
    rootfs: str, container_id: str, mount, bind_ro, writable: bool = False
) -> None:
    """/sys/fs/cgroup of the container under `rootfs` (its /sys already mounted), read-only.
    `mount(source, target, fstype, flags, data)` and `bind_ro(source, target)` are the
    runtime's. v2: cgroup2 of the container's cgroup namespace (unshared by the caller);
    v1: a tmpfs with each hierarchy's container cgroup bound read-only, as runc does it:
    hood/ID where hood made it (the parent may still be moving us there: our own
    /proc/self/cgroup cannot tell yet), else the cgroup this process is in."""
    from hood.runtime import linux

    target = join(rootfs, "sys", "fs", "cgroup")
    flags = linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC
    if is_v2():
        mount("cgroup", target, "cgroup2", flags | (0 if writable else linux.MS_RDONLY), None)
        return
    mount("tmpfs", target, "tmpfs", flags, "mode=755")
    paths = _own_paths()
    made = join("/hood", container_id)
    for name, point in v1_hierarchies():
        if name == "unified":
            continue
        options = name.split(",")
        path = paths.get(name) or paths.get(options[0]) or paths.get(f"name={name}") or "/"
        if os.path.isdir(point + made):
            path = made
        dest = join(target, name)
        os.mkdir(dest, 0o755)
        bind_ro(point + path, dest)  # (a writable bind when `writable`: privileged)
    os.chmod(target, 0o555)


class Frozen:
    """A running container frozen in its cgroup, as `docker pause` (and `commit`'s
    --pause) freezes it: its processes see no signal, and are thawed by `thaw()`."""

    __slots__ = ("state_file", "thawed_value")

    def __init__(self, state_file: str, frozen_value: str, thawed_value: str) -> None:
        self.state_file = state_file
        self.thawed_value = thawed_value
        _write(state_file, frozen_value)
        self._wait_frozen()

    def _wait_frozen(self) -> None:
        """Until the kernel says every process is frozen (v1 says FREEZING before), at
        most a second: then the tasks left are stopped in the kernel anyway."""
        v2 = self.state_file.endswith("cgroup.freeze")
        events = join(os.path.dirname(self.state_file), "cgroup.events")
        deadline = time.monotonic() + 1
        while time.monotonic() < deadline:
            try:
                with open(events if v2 else self.state_file) as f:
                    text = f.read()
            except OSError:
                return
            if ("frozen 1" in text) if v2 else (text.strip() == "FROZEN"):
                return
            time.sleep(0.005)

    @classmethod
    def container_of(cls, pid: int) -> Frozen | None:
        """Freeze the cgroup process `pid` is in (hood's container cgroup, v1's freezer
        or v2's cgroup.freeze); None where there is none to freeze (rootless, or a pid
        outside hood's cgroups)."""
        try:
            with open(f"/proc/{pid}/cgroup") as f:
                lines = f.read().splitlines()
        except OSError:
            return None
        for line in lines:
            _, controllers, path = line.split(":", 2)
            if "/hood/" not in path + "/":
                continue
            if is_v2() and controllers == "":
                state, frozen, thawed = join(CGROUP_ROOT, path.lstrip("/"), "cgroup.freeze"), "1", "0"
            elif "freezer" in controllers.split(","):
                state = join(CGROUP_ROOT, "freezer", path.lstrip("/"), "freezer.state")
                frozen, thawed = "FROZEN", "THAWED"
            else:
                continue
            if os.path.exists(state):
                try:
                    return cls(state, frozen, thawed)
                except CgroupError:
                    return None
        return None

    def thaw(self) -> None:
        with suppress(CgroupError):
            _write(self.state_file, self.thawed_value)
