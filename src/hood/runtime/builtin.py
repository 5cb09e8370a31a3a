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

from hood.core.jsonio import loads
from hood.core.lean import suppress
from hood.runtime import cgroups, linux
from hood.runtime.child import child_main
from hood.runtime.console import (
    Console,
    copy_winsize,
    receive_master,
    relay_tty,
    terminal_fd,
    winsize,
)
from hood.runtime.devices import device_cgroup_rules
from hood.runtime.json_log import relay_to_log
from hood.runtime.launch import FORWARDED, GO, READY, ContainerError
from hood.runtime.user_namespace import enter_user_namespace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hood.runtime.launch import Launch


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
        child_main(launch, go_r, err_w, stdio, console, rootless, mapped)
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


