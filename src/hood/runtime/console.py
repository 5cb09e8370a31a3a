"""-t: the container's terminal. The child opens a pty in the container's own devpts and
sends the master back over a socketpair (SCM_RIGHTS); the parent relays it to the user's
terminal (in raw mode) and into the json-file log, and passes on its size."""

from __future__ import annotations

import os
import select
import sys

from hood.core.lean import suppress
from hood.runtime import linux
from hood.runtime.json_log import JsonLog, write_all

# <asm-generic/ioctls.h>, the same on x86_64 and aarch64 (termios lacks them before 3.13).
TIOCGPTN = 0x80045430
TIOCSPTLCK = 0x40045431


class Console:
    """-t: the child's end of the socketpair the pty master goes back on, and the size."""

    __slots__ = ("sock", "winsize")

    def __init__(self, sock: int, winsize: bytes | None) -> None:
        self.sock = sock
        self.winsize = winsize


# --- child side --------------------------------------------------------------------------


def setup_console(console: Console, *, own_console: bool = True) -> None:
    """After pivot_root: a pty from the container's own devpts (so the process sees
    /dev/pts/0, as under runc), the slave as stdio and controlling terminal, bound on
    /dev/console; the master goes to the parent, which relays it to the user's terminal."""
    import fcntl
    import socket
    import termios

    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(master, TIOCSPTLCK, b"\0\0\0\0")  # unlockpt
        number = int.from_bytes(fcntl.ioctl(master, TIOCGPTN, b"\0\0\0\0"), sys.byteorder)
        peer = f"/dev/pts/{number}"
        slave = os.open(peer, os.O_RDWR | os.O_NOCTTY)
        if console.winsize:
            fcntl.ioctl(master, termios.TIOCSWINSZ, console.winsize)
        if own_console:  # a new container's; an exec leaves the container's alone
            os.close(os.open("/dev/console", os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600))
            linux.mount(peer, "/dev/console", None, linux.MS_BIND)
        with socket.socket(fileno=console.sock) as sock:
            socket.send_fds(sock, [b"pty"], [master])
    finally:
        os.close(master)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


# --- parent side -------------------------------------------------------------------------


class _TerminalMode:
    """Our terminal in raw mode for the relay (keys reach the container as typed), its
    settings given back after."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.saved = None

    def __enter__(self):
        if self.fd < 0 or not os.isatty(self.fd):  # -1: no terminal to set up
            return self
        import termios
        import tty

        self.saved = termios.tcgetattr(self.fd)
        tty.setraw(self.fd)
        return self

    def __exit__(self, *exc) -> None:
        import termios

        if self.saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)


def terminal_fd() -> int:
    """The user's terminal, as the docker CLI finds it: stdin, else stdout."""
    return 0 if os.isatty(0) else 1


def winsize(fd: int) -> bytes | None:
    import fcntl
    import termios

    try:
        size = fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8)
    except OSError:
        return None
    return size if size != b"\0" * 8 else None


def copy_winsize(src: int, dst: int) -> None:
    import fcntl
    import termios

    size = winsize(src)
    if size is not None:
        with suppress(OSError):
            fcntl.ioctl(dst, termios.TIOCSWINSZ, size)


def receive_master(sock) -> int | None:
    """The pty master the child sends once it has its terminal (None: it died first)."""
    import socket

    with sock:
        try:
            _, fds, _, _ = socket.recv_fds(sock, 16, 4)
        except OSError:
            return None
    for extra in fds[1:]:
        os.close(extra)
    return fds[0] if fds else None


def relay_tty(
    pid: int, master: int, with_stdin: bool, log_path: str | None, echo: bool = True
) -> int:
    """The pty master to our stdout (`echo`) and the log; our stdin to it."""
    log = JsonLog(log_path) if log_path is not None else None
    out = sys.stdout.fileno()
    watch = [master] + ([0] if with_stdin else [])
    status = None

    def emit(data: bytes) -> None:
        if echo:
            write_all(out, data)
        if log is not None:
            log.write("stdout", data)

    with _TerminalMode(0 if with_stdin else -1):
        while True:
            try:
                ready, _, _ = select.select(watch, [], [], 0.2)
            except InterruptedError:
                continue
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    data = b""
                if not data:
                    break
                emit(data)
            if 0 in ready:
                data = os.read(0, 65536)
                if data:
                    os.write(master, data)
                else:
                    watch.remove(0)
            if status is None:
                done, st = os.waitpid(pid, os.WNOHANG)
                if done:
                    status = st
                    with suppress(OSError):
                        while select.select([master], [], [], 0.05)[0]:
                            data = os.read(master, 65536)
                            if not data:
                                break
                            emit(data)
                    break
    os.close(master)
    if log is not None:
        log.close()
    if status is None:
        _, status = os.waitpid(pid, 0)
    return status
