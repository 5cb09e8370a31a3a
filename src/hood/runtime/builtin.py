"""The built-in runtime: the container's process in fresh namespaces, no runc, no daemon.

parent (hood)                          child (PID 1 of a new PID namespace)
  unshare(NEWPID); fork  ───────────►  PR_SET_PDEATHSIG first; "R" on the error pipe
  cgroup; on "R": "G" on the go pipe ►  needs that "G" (EOF: hood died before it; exit)
                                       unshare mount/UTS/IPC[/NET]; overlay; /proc /sys /dev;
                                       binds; pivot_root; [-t: pty from its own devpts]
                                       masks; hostname; user; caps; exec
  reads the error pipe (CLOEXEC) ◄───  "CODE message" if anything failed, EOF on exec
  [-t: receives the pty master ◄──────  over a socketpair, SCM_RIGHTS]
  forwards signals, waits, returns the exit status as docker does."""

from __future__ import annotations

import _signal as signal  # signal's ints without its enum (and enum's imports)
import os

from hood.core.jsonio import dumps, loads
from hood.core.lean import suppress
from hood.runtime import cgroups, linux
from hood.runtime.console import (
    Console,
    copy_winsize,
    receive_master,
    relay_tty,
    setup_console,
    terminal_fd,
    winsize,
)
from hood.runtime.devices import device_cgroup_rules
from hood.runtime.json_log import relay_to_log
from hood.runtime.launch import FORWARDED, GO, READY, ContainerError
from hood.runtime.mounts import mount_root, pivot_into, restrict_paths
from hood.runtime.process import exec_process
from hood.runtime.spec import DEFAULT_CAPS, SpecError
from hood.runtime.user_namespace import enter_user_namespace
from hood.store.layout import join

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hood.runtime.launch import Launch


# --- child side --------------------------------------------------------------------------


def _lo_up() -> None:
    import fcntl  # imported before pivot_root by _child
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
    # Everything the child needs after pivot_root is imported now, while the host's
    # Python library is still reachable (and only what this container needs: each import
    # is time before the container starts).
    if console is not None:
        import fcntl  # noqa: F401
        import socket  # noqa: F401
        import termios  # noqa: F401
    if spec.network == "none":
        import fcntl  # noqa: F401, F811
        import socket  # noqa: F401
        import struct  # noqa: F401
    if spec.ulimits:
        import resource  # noqa: F401

    # Never outlive hood: the parent-death signal first, then "R" (ready) to the parent,
    # which sends "G" only after it. A hood killed before "G" closes the pipe: EOF, and we
    # exit; killed after, its death kills us. (getppid() cannot tell: in a new PID
    # namespace it is 0 whoever the parent is.)
    linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
    os.write(err_w, READY)
    if os.read(go_r, 1) != GO:
        os._exit(1)
    os.close(go_r)
    os.setsid()  # no controlling terminal until -t gives it the container's own
    for target, fd in enumerate(stdio or ()):
        if fd != target:
            os.dup2(fd, target)

    # The seccomp filter is built (or read from its cache) while the host is in reach.
    bpf = None
    if spec.seccomp != "unconfined" and not launch.privileged and not spec.privileged:
        from hood.runtime import seccomp

        caps = set(DEFAULT_CAPS) if spec.caps is None else set(spec.caps)
        try:
            bpf = seccomp.container_filter(
                spec.seccomp, caps, join(launch.layout.hood_dir, "seccomp")
            )
        except seccomp.ProfileError as exc:
            raise ContainerError(str(exc)) from None

    if launch.join:
        _join_namespaces(launch.join)
        if console is not None:
            setup_console(console, own_console=False)
        exec_process(launch, err_w, console, rootless, mapped, bpf)
    flags = linux.CLONE_NEWNS | linux.CLONE_NEWUTS | linux.CLONE_NEWIPC
    if spec.network == "none":
        flags |= linux.CLONE_NEWNET
    if cgroups.is_v2():  # rooted at the cgroup the parent put us in (docker: cgroupns=private)
        flags |= linux.CLONE_NEWCGROUP
    linux.unshare(flags)
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
    pivot_into(mount_root(launch, rootless))
    if console is not None:
        setup_console(console)
    restrict_paths(spec)
    linux.sethostname(spec.hostname)
    if spec.network == "none":
        _lo_up()
    exec_process(launch, err_w, console, rootless, mapped, bpf)


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


def _child_main(
    launch: Launch,
    go_r: int,
    err_w: int,
    stdio: tuple[int, int, int] | None,
    console: Console | None,
    rootless: bool,
    mapped: int = 0,
) -> None:
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


# --- parent side -------------------------------------------------------------------------


def _status(wait_status: int) -> int:
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    return os.waitstatus_to_exitcode(wait_status)


def run(launch: Launch) -> int:
    """Start the container and wait for it. Raises ContainerError if it cannot start."""
    spec = launch.spec
    rootless = os.geteuid() != 0
    cg = None
    if launch.join and rootless:
        raise ContainerError("exec without root is not supported yet: run hood exec as root")
    try:  # a cgroup of its own, limits or not, as docker's (rootless: where it can)
        if launch.join:
            cg = cgroups.Joined(launch.join)
        else:
            cg = cgroups.create(
                spec.id, spec.memory, spec.cpus, spec.pids_limit, always=not rootless,
                devices=device_cgroup_rules(spec),
            )  # fmt: skip
    except cgroups.CgroupError as exc:
        if not rootless:
            raise
        # create_container has said so already; what changed since is said here
        if launch.warn is not None:
            launch.warn(f"rootless: {exc}; resource limits discarded")
    go_r, go_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    master: int | None = None
    console = None
    sock = None
    out_pipes: list[tuple[int, str]] = []
    to_close: list[int] = []
    stdin_fd = 0
    stdio: tuple[int, int, int] | None = None
    if spec.tty:
        import socket

        sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        size = winsize(terminal_fd()) if launch.foreground else None
        console = Console(child_sock.detach(), size)
        to_close.append(console.sock)
    else:
        if not spec.stdin or not launch.foreground:
            stdin_fd = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
            to_close.append(stdin_fd)
        if launch.log_path is not None:  # through us: into the log (and to our stdio)
            o_r, o_w = os.pipe2(os.O_CLOEXEC)
            e_r, e_w = os.pipe2(os.O_CLOEXEC)
            out_pipes = [(o_r, "stdout"), (e_r, "stderr")]
            stdio = (stdin_fd, o_w, e_w)
            to_close += [o_w, e_w]
        else:
            stdio = (stdin_fd, 1, 2)
    mapped = 0  # ids the user namespace maps (rootless)
    if rootless:
        mapped = enter_user_namespace(launch.warn)
    # The PID namespace is unshared for our children only, and given back right after the
    # fork: a process that runs several containers (the Python API) forks on as before.
    # Rootless, this process has entered a user namespace for good and cannot go back.
    own_pid_ns = -1 if rootless else os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    if launch.join:  # exec: the child is born in the container's PID namespace
        try:
            theirs = os.open(f"/proc/{launch.join}/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise ContainerError(f"container process {launch.join} is gone") from None
        try:
            linux.setns(theirs, linux.CLONE_NEWPID)
        finally:
            os.close(theirs)
    else:
        linux.unshare(linux.CLONE_NEWPID)
    pid = os.fork()
    if own_pid_ns >= 0:
        if pid != 0:
            linux.setns(own_pid_ns, linux.CLONE_NEWPID)
        os.close(own_pid_ns)
    if pid == 0:
        os.close(go_w)
        os.close(err_r)
        if sock is not None:
            sock.close()
        _child_main(launch, go_r, err_w, stdio, console, rootless, mapped)
    os.close(go_r)
    os.close(err_w)
    for fd in to_close:
        os.close(fd)
    try:
        if cg is not None:
            cg.add(pid)
    except OSError as exc:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        cg.remove()
        raise ContainerError(f"cannot put the container in its cgroup: {exc}") from None

    def forward(signum, _frame):
        if signum == signal.SIGWINCH and spec.tty:
            if master is not None and launch.foreground:
                copy_winsize(terminal_fd(), master)
            return
        with suppress(ProcessLookupError):
            os.kill(pid, signum)

    for s in FORWARDED:  # from here on: a signal to hood is a signal to the container
        signal.signal(s, forward)
    report = os.read(err_r, 1)
    if report == READY:  # the child dies with us from now on: let it go
        report = b""
        with suppress(OSError):
            os.write(go_w, GO)
    os.close(go_w)
    while chunk := os.read(err_r, 65536):
        report += chunk
    os.close(err_r)
    if report:
        _, wait_status = os.waitpid(pid, 0)
        for s in FORWARDED:
            signal.signal(s, signal.SIG_DFL)
        if cg is not None:
            cg.remove()
        for fd, _ in out_pipes:
            os.close(fd)
        if sock is not None:
            sock.close()
        try:
            status, message = loads(report)
        except ValueError:
            status, message = 125, report.decode(errors="replace")
        raise ContainerError(str(message), int(status))

    if sock is not None:
        master = receive_master(sock)
        if master is None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            if cg is not None:
                cg.remove()
            raise ContainerError("the container did not send its terminal")
        if launch.foreground:  # a resize between fork and now
            copy_winsize(terminal_fd(), master)
    if launch.on_started is not None:
        launch.on_started(pid)
    try:
        if master is not None:
            wait_status = relay_tty(
                pid, master, spec.stdin and launch.foreground, launch.log_path, launch.foreground
            )
        elif out_pipes:
            assert launch.log_path is not None
            wait_status = relay_to_log(
                pid, out_pipes, launch.log_path, echo=launch.foreground, shown=spec.attach
            )
        else:
            _, wait_status = os.waitpid(pid, 0)
    finally:
        for s in FORWARDED:
            signal.signal(s, signal.SIG_DFL)
        if cg is not None:
            cg.remove()
    return _status(wait_status)


