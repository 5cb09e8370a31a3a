"""The built-in runtime: the container's process in fresh namespaces, no runc, no daemon.

parent (hood)                          child (PID 1 of a new PID namespace)
  unshare(NEWPID); fork  ───────────►  PR_SET_PDEATHSIG first; "R" on the error pipe
  cgroup; on "R": "G" on the go pipe    unshare mount/UTS/IPC[/NET]; overlay; /proc /sys /dev;
  then the seccomp filter (made, or    binds; pivot_root; [-t: pty from its own devpts]
  read from its cache, meanwhile)      masks; hostname
                                  ──►  needs that "G" (EOF: hood died before it; exit)
                                       (cgroup v2: before its unshare, for the cgroupns)
                                       and the filter (EOF first: none was made; exit)
                                       user; caps; seccomp; exec
  reads the error pipe (CLOEXEC) ◄───  "CODE message" if anything failed, EOF on exec
  [-t: receives the pty master ◄──────  over a socketpair, SCM_RIGHTS]
  forwards signals, waits, returns the exit status as docker does.

This module is the parent's side. The child's is `child` (with `mounts`, `devices`,
`console`, `process` and `hood_init`); `user_namespace` is the rootless start, `json_log`
the output's log, and `launch` what both sides share."""

from __future__ import annotations

import _signal as signal  # signal's ints without its enum (and enum's imports)
import os

from hood.core.jsonio import dumps, loads
from hood.core.lean import suppress
from hood.core.privilege import host_root, mapped_ids
from hood.runtime import cgroups, linux
from hood.runtime.child import child_main
from hood.runtime.devices import device_cgroup_rules
from hood.runtime.json_log import relay_to_log
from hood.runtime.launch import FORWARDED, GO, READY, ContainerError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from socket import socket

    from hood.runtime.console import Console
    from hood.runtime.launch import Launch

    ContainerCgroup = cgroups.Cgroup | cgroups.Joined


def _status(wait_status: int) -> int:
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    return os.waitstatus_to_exitcode(wait_status)


def _cgroup(launch: Launch, rootless: bool) -> ContainerCgroup | None:
    """A cgroup of its own, limits or not, as docker's (rootless: where it can; None where
    it cannot); an exec's process joins its container's."""
    spec = launch.spec
    try:
        if launch.join:
            return cgroups.Joined(launch.join)
        return cgroups.create(
            spec.id, spec.memory, spec.cpus, spec.pids_limit, always=not rootless,
            devices=device_cgroup_rules(spec),
        )  # fmt: skip
    except cgroups.CgroupError as exc:
        if not rootless:
            raise
        # create_container has said so already; what changed since is said here
        if launch.warn is not None:
            launch.warn(f"rootless: {exc}; resource limits discarded")
        return None


class _Stdio:
    """How the child's stdio is wired. -t: a socketpair the child sends its pty master
    back on (`sock` is our end, `console` the child's). Else its stdin (ours, or
    /dev/null) and, with a log, pipes whose read ends (`out_pipes`) we copy into it.
    `to_close`: the child's ends, ours to close once it has forked."""

    __slots__ = ("console", "sock", "stdio", "out_pipes", "to_close")

    def __init__(self, launch: Launch) -> None:
        spec = launch.spec
        self.console: Console | None = None
        self.sock: socket | None = None
        self.stdio: tuple[int, int, int] | None = None
        self.out_pipes: list[tuple[int, str]] = []
        self.to_close: list[int] = []
        if spec.tty:  # console is loaded here, before the fork, for the child too
            import socket

            from hood.runtime.console import Console, terminal_fd, winsize

            self.sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            size = winsize(terminal_fd()) if launch.foreground else None
            self.console = Console(child_sock.detach(), size)
            self.to_close.append(self.console.sock)
            return
        stdin_fd = 0
        if not spec.stdin or not launch.foreground:
            stdin_fd = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
            self.to_close.append(stdin_fd)
        if launch.log_path is not None:  # through us: into the log (and to our stdio)
            o_r, o_w = os.pipe2(os.O_CLOEXEC)
            e_r, e_w = os.pipe2(os.O_CLOEXEC)
            self.out_pipes = [(o_r, "stdout"), (e_r, "stderr")]
            self.stdio = (stdin_fd, o_w, e_w)
            self.to_close += [o_w, e_w]
        else:
            self.stdio = (stdin_fd, 1, 2)


def _user_namespace(launch: Launch) -> int:
    """Rootless: the user namespace the container lives in (exec: the running container's;
    else the one this hood entered for its data root, or a new one); how many ids it maps
    from 0."""
    from hood.runtime.user_namespace import enter_user_namespace, join_user_namespace

    if launch.join:
        return join_user_namespace(launch.join)
    return mapped_ids() or enter_user_namespace(launch.warn)


def _fork_in_pid_namespace(launch: Launch, rootless: bool) -> int:
    """fork() into a new PID namespace (an exec: its container's); the child's PID, 0 in
    the child.

    The PID namespace is unshared for our children only, and given back right after the
    fork: a process that runs several containers (the Python API) forks on as before.
    Rootless, this process has entered a user namespace for good and cannot go back."""
    theirs = -1
    if launch.join:  # exec: the child is born in the container's PID namespace
        try:
            theirs = os.open(f"/proc/{launch.join}/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise ContainerError(f"container process {launch.join} is gone") from None
    own_pid_ns = -1 if rootless else os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if theirs >= 0:
            linux.setns(theirs, linux.CLONE_NEWPID)
        else:
            linux.unshare(linux.CLONE_NEWPID)
    except BaseException:
        if own_pid_ns >= 0:
            os.close(own_pid_ns)
        raise
    finally:
        if theirs >= 0:
            os.close(theirs)
    pid = os.fork()
    if own_pid_ns >= 0:
        if pid != 0:
            linux.setns(own_pid_ns, linux.CLONE_NEWPID)
        os.close(own_pid_ns)
    return pid


def _add_to_cgroup(cg: ContainerCgroup | None, pid: int) -> None:
    if cg is None:
        return
    try:
        cg.add(pid)
    except OSError as exc:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        cg.remove()
        raise ContainerError(f"cannot put the container in its cgroup: {exc}") from None


class _Forwarder:
    """Our signal handler once the child is forked: a signal to hood is a signal to the
    container; SIGWINCH under -t resizes its terminal instead (once `master` has come)."""

    __slots__ = ("pid", "launch", "master")

    def __init__(self, pid: int, launch: Launch) -> None:
        self.pid = pid
        self.launch = launch
        self.master: int | None = None

    def __call__(self, signum: int, _frame: object) -> None:
        if signum == signal.SIGWINCH and self.launch.spec.tty:
            if self.master is not None and self.launch.foreground:
                from hood.runtime.console import copy_winsize, terminal_fd

                copy_winsize(terminal_fd(), self.master)
            return
        with suppress(ProcessLookupError):
            os.kill(self.pid, signum)


def _restore_signals() -> None:
    for s in FORWARDED:
        signal.signal(s, signal.SIG_DFL)


def _seccomp_filter(launch: Launch) -> bytes:
    """The container's seccomp filter, made (or read from its cache) here while the child
    sets up: that work is then off the start's critical path, the child's."""
    from hood.runtime import seccomp
    from hood.runtime.capabilities import DEFAULT_CAPS
    from hood.runtime.seccomp_profile import ProfileError

    spec = launch.spec
    caps = set(DEFAULT_CAPS) if spec.caps is None else set(spec.caps)
    cache = os.path.join(launch.layout.hood_dir, "seccomp")
    try:
        program = seccomp.container_filter(spec.seccomp, caps, cache)
    except ProfileError as exc:
        raise ContainerError(str(exc)) from None
    assert program is not None  # confined: a profile, not "unconfined"
    return program


def _handshake(launch: Launch, go_w: int, err_r: int) -> bytes:
    """The parent's half: "G" once the child is ready, then its seccomp filter (confined),
    then what the error pipe holds until it closes (b"": the command was exec'd). Both
    pipes are closed on every path."""
    failed = report = b""
    try:
        try:
            report = os.read(err_r, 1)
            if report == READY:  # the child dies with us from now on: let it go
                report = b""
                os.write(go_w, GO)
                if launch.confined:
                    failed = _send_filter(launch, go_w)
        except OSError:  # the child is gone: its report says why
            pass
        finally:
            os.close(go_w)  # no filter sent: the child ends on the EOF
        while chunk := os.read(err_r, 65536):
            report += chunk
    finally:
        os.close(err_r)
    return failed or report


def _send_filter(launch: Launch, go_w: int) -> bytes:
    """The seccomp filter, its length first, on the go pipe; b"", or the report of why
    there is none (the child then reads EOF and ends)."""
    try:
        program = _seccomp_filter(launch)
    except ContainerError as exc:
        return dumps([exc.status, str(exc)]).encode()
    except Exception as exc:  # noqa: BLE001 - hood's own failure: reported, as the child's
        return dumps([125, f"{type(exc).__name__}: {exc}"]).encode()
    message = len(program).to_bytes(4, "little") + program
    with suppress(OSError):  # the child is gone: its report says why
        while message:
            message = message[os.write(go_w, message) :]
    return b""


def _close_ours(io: _Stdio, *fds: int) -> None:
    """Our ends of the child's stdio, and `fds`: a container that did not start keeps no
    descriptor open in a process that goes on (the Python API runs many)."""
    for fd in (*fds, *(fd for fd, _ in io.out_pipes)):
        with suppress(OSError):
            os.close(fd)
    io.out_pipes = []
    if io.sock is not None:
        io.sock.close()


def _start_failed(report: bytes, pid: int, cg: ContainerCgroup | None, io: _Stdio) -> None:
    """The child's report of why it did not start: raised once it is reaped and the
    cgroup, signal handlers and our ends of its stdio are cleaned up."""
    os.waitpid(pid, 0)
    _restore_signals()
    if cg is not None:
        cg.remove()
    _close_ours(io)
    try:
        status, message = loads(report)
    except ValueError:
        status, message = 125, report.decode(errors="replace")
    raise ContainerError(str(message), int(status))


def _receive_terminal(launch: Launch, pid: int, cg: ContainerCgroup | None, sock: socket) -> int:
    """-t: the pty master the child sends, sized as our terminal is now."""
    from hood.runtime.console import copy_winsize, receive_master, terminal_fd

    master = receive_master(sock)
    if master is None:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        _restore_signals()
        if cg is not None:
            cg.remove()
        sock.close()
        raise ContainerError("the container did not send its terminal")
    if launch.foreground:  # a resize between fork and now
        copy_winsize(terminal_fd(), master)
    return master


def _relay_and_wait(launch: Launch, pid: int, master: int | None, io: _Stdio) -> int:
    """The container's output relayed (-t: its terminal; else its pipes into the log)
    until it exits; its wait status."""
    spec = launch.spec
    if master is not None:
        from hood.runtime.console import relay_tty

        return relay_tty(
            pid, master, spec.stdin and launch.foreground, launch.log_path, launch.foreground
        )
    if io.out_pipes:
        assert launch.log_path is not None
        return relay_to_log(
            pid, io.out_pipes, launch.log_path, echo=launch.foreground, shown=spec.attach
        )
    _, wait_status = os.waitpid(pid, 0)
    return wait_status


def run(launch: Launch) -> int:
    """Start the container and wait for it. Raises ContainerError if it cannot start."""
    rootless = not host_root()
    cg = _cgroup(launch, rootless)
    go_r, go_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    io = _Stdio(launch)
    try:
        mapped = _user_namespace(launch) if rootless else 0  # ids it maps
        pid = _fork_in_pid_namespace(launch, rootless)
    except BaseException:
        _close_ours(io, go_r, go_w, err_r, err_w, *io.to_close)
        if cg is not None:
            cg.remove()
        raise
    if pid == 0:
        os.close(go_w)
        os.close(err_r)
        if io.sock is not None:
            io.sock.close()
        child_main(launch, go_r, err_w, io.stdio, io.console, rootless, mapped)
    os.close(go_r)
    os.close(err_w)
    for fd in io.to_close:
        os.close(fd)
    try:
        _add_to_cgroup(cg, pid)
    except ContainerError:
        _close_ours(io, go_w, err_r)
        raise
    forward = _Forwarder(pid, launch)
    for s in FORWARDED:  # from here on: a signal to hood is a signal to the container
        signal.signal(s, forward)
    try:
        report = _handshake(launch, go_w, err_r)
    except BaseException:  # interrupted (the Python API): no container left behind
        with suppress(ProcessLookupError):  # it may have exec'd the command already
            os.kill(pid, signal.SIGKILL)
        try:
            os.waitpid(pid, 0)
        finally:
            _restore_signals()
            if cg is not None:
                cg.remove()
            _close_ours(io)
        raise
    if report:
        _start_failed(report, pid, cg, io)
    if io.sock is not None:
        forward.master = _receive_terminal(launch, pid, cg, io.sock)
    if launch.on_started is not None:
        launch.on_started(pid)
    try:
        wait_status = _relay_and_wait(launch, pid, forward.master, io)
    finally:
        _restore_signals()
        if cg is not None:
            cg.remove()
    return _status(wait_status)
