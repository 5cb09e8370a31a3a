"""The built-in runtime's child, PID 1 of the container's new PID namespace, from the fork
to the exec (builtin's diagram shows both sides): the start handshake, its namespaces,
its root (mounts), its terminal (console) and its process (process). Whatever fails goes
up the error pipe as [status, message], which the parent raises as a ContainerError."""

from __future__ import annotations

import _signal as signal  # signal's ints without its enum (and enum's imports)
import os

from hood.core.jsonio import dumps
from hood.core.lean import suppress
from hood.runtime import cgroups, linux
from hood.runtime.launch import GO, READY, ContainerError
from hood.runtime.mounts import mount_root, pivot_into, restrict_paths
from hood.runtime.process import exec_process
from hood.runtime.spec_errors import SpecError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hood.runtime.console import Console
    from hood.runtime.launch import Launch
    from hood.runtime.spec import ContainerSpec


def _import_ahead(spec: ContainerSpec, console: Console | None) -> None:
    """Everything the child needs after pivot_root is imported now, while the host's
    Python library is still reachable (and only what this container needs: each import
    is time before the container starts)."""
    if console is not None:  # hood.runtime.console came with the Console, before the fork
        import fcntl  # noqa: F401
        import socket  # noqa: F401
        import termios  # noqa: F401
    if spec.init:
        import hood.runtime.hood_init  # noqa: F401
    if spec.network == "none":
        import fcntl  # noqa: F401, F811
        import socket  # noqa: F401
        import struct  # noqa: F401
    if spec.ulimits:
        import resource  # noqa: F401


def _ready(err_w: int) -> None:
    """Never outlive hood: the parent-death signal first, then "R" (ready) to the parent,
    which sends "G" only after it (and after it has put us in the container's cgroup)."""
    linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
    os.write(err_w, READY)


def _wait_for_go(go_r: int) -> None:
    """"G", or EOF when hood was killed before it (killed after, its death kills us; and
    getppid() cannot tell: in a new PID namespace it is 0 whoever the parent is). The
    wait comes as late as it can: what the child does before it (its mounts, in its own
    mount namespace) overlaps the parent's cgroup attach, the slowest step of a start."""
    if os.read(go_r, 1) != GO:
        os._exit(1)


def _read_filter(go_r: int) -> bytes:
    """The seccomp filter the parent sends after "G", its length first, then closes the
    pipe (short of that length at EOF: the parent made none, and says why itself; or it
    died)."""
    data = b""
    while chunk := os.read(go_r, 65536):
        data += chunk
    os.close(go_r)
    program = data[4:]
    if not program or len(program) % 8 or len(program) != int.from_bytes(data[:4], "little"):
        os._exit(1)
    return program


def _join_namespaces(pid: int) -> None:
    """exec: into the running container's namespaces (its PID namespace is ours already:
    the parent forked us into it), the mount namespace last: root and working directory
    become the container's."""
    fds = []
    try:
        for name, kind in (
            ("ipc", linux.CLONE_NEWIPC),
            ("uts", linux.CLONE_NEWUTS),
            ("net", linux.CLONE_NEWNET),
            ("cgroup", linux.CLONE_NEWCGROUP),
            ("mnt", linux.CLONE_NEWNS),
        ):
            try:
                theirs = os.stat(f"/proc/{pid}/ns/{name}").st_ino
                if theirs == os.stat(f"/proc/self/ns/{name}").st_ino:
                    continue  # shared with us (the host's network): nothing to join
                fds.append((os.open(f"/proc/{pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC), kind))
            except FileNotFoundError:
                if name != "cgroup":  # kernels without cgroup namespaces
                    raise ContainerError(f"container process {pid} is gone") from None
        for fd, kind in fds:
            linux.setns(fd, kind)
    finally:
        for fd, _ in fds:
            os.close(fd)
    os.chdir("/")


def _unshare(spec: ContainerSpec, v2: bool) -> None:
    """A new container's own mount, UTS and IPC namespaces (network: with --network none;
    cgroup: on v2), its mounts private from the host's."""
    flags = linux.CLONE_NEWNS | linux.CLONE_NEWUTS | linux.CLONE_NEWIPC
    if spec.network == "none":
        flags |= linux.CLONE_NEWNET
    if v2:  # rooted at the cgroup the parent put us in (docker: cgroupns=private)
        flags |= linux.CLONE_NEWCGROUP
    linux.unshare(flags)
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)


def _lo_up() -> None:
    import fcntl  # imported before pivot_root by _import_ahead
    import socket
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH", b"lo", 0)
        flags = struct.unpack("16sH", fcntl.ioctl(s.fileno(), 0x8913, req))[1]  # SIOCGIFFLAGS
        fcntl.ioctl(s.fileno(), 0x8914, struct.pack("16sH", b"lo", flags | 1))  # SIOCSIFFLAGS


def _child(
    launch: Launch,
    go_r: int,
    err_w: int,
    stdio: tuple[int, int, int] | None,
    console: Console | None,
    rootless: bool,
    mapped: int = 0,
) -> None:
    spec = launch.spec
    _import_ahead(spec, console)
    _ready(err_w)
    os.setsid()  # no controlling terminal until -t gives it the container's own
    for target, fd in enumerate(stdio or ()):
        if fd != target:
            os.dup2(fd, target)

    if launch.join:
        _wait_for_go(go_r)
        _join_namespaces(launch.join)
        if console is not None:
            from hood.runtime.console import setup_console

            setup_console(console, own_console=False)
        exec_process(launch, err_w, console, rootless, mapped, _filter_or_none(launch, go_r))
    v2 = cgroups.is_v2()
    if v2:  # the cgroup namespace is rooted where we are at unshare: in ours by then
        _wait_for_go(go_r)
    _unshare(spec, v2)
    pivot_into(mount_root(launch, rootless))
    if console is not None:
        from hood.runtime.console import setup_console

        setup_console(console)
    restrict_paths(spec)
    linux.sethostname(spec.hostname)
    if spec.network == "none":
        _lo_up()
    if not v2:
        _wait_for_go(go_r)
    exec_process(launch, err_w, console, rootless, mapped, _filter_or_none(launch, go_r))


def _filter_or_none(launch: Launch, go_r: int) -> bytes | None:
    if launch.confined:
        return _read_filter(go_r)
    os.close(go_r)
    return None


def child_main(
    launch: Launch,
    go_r: int,
    err_w: int,
    stdio: tuple[int, int, int] | None,
    console: Console | None,
    rootless: bool,
    mapped: int = 0,
) -> None:
    """The forked child's whole life: the container's command, or its failure reported on
    `err_w` and its exit (never returns)."""
    status, message = 125, "unknown error"
    try:
        _child(launch, go_r, err_w, stdio, console, rootless, mapped)
    except ContainerError as exc:
        status, message = exc.status, str(exc)
    except SpecError as exc:
        status, message = 125, str(exc)
    except OSError as exc:
        status, message = 125, str(exc.strerror or exc)
        if exc.filename:
            message = f"{exc.strerror}: {exc.filename}" if exc.strerror else str(exc)
    except BaseException as exc:  # noqa: BLE001 - anything else is hood's own failure
        status, message = 125, f"{type(exc).__name__}: {exc}"
    with suppress(OSError):
        os.write(err_w, dumps([status, message]).encode())
    os._exit(status)
