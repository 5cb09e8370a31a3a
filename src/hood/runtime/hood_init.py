"""--init in the built-in runtime: hood-init, hood's own PID 1 (docker's is tini). The
container's first process stays PID 1, forwards signals to the command, reaps orphans and
exits with the command's status."""

from __future__ import annotations

import _signal as signal  # signal's ints without its enum (and enum's imports)
import os

from hood.core.lean import suppress
from hood.runtime import linux

INIT_NAME = b"hood-init"


def init_title(args: list[str]) -> None:
    """--init: what `ps` shows for PID 1 (docker's shows `/sbin/docker-init -- CMD`):
    `hood-init -- CMD` in place of hood's own command line (written over it, cut to its
    length, as setproctitle does: no capability needed) and `hood-init` as its name."""
    name = INIT_NAME + b"\0"  # alive until prctl has read it
    with suppress(OSError):
        linux.prctl(linux.PR_SET_NAME, linux.address(name))
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        start, end = int(fields[45]), int(fields[46])  # arg_start, arg_end (48 and 49)
    except (OSError, IndexError, ValueError):
        return
    title = INIT_NAME + b"\0--\0" + b"\0".join(a.encode() for a in args) + b"\0"
    size = end - start
    if 0 < size < 1 << 20:
        linux.write_memory(start, title[: size - 1].ljust(size, b"\0"))


# What the init leaves alone, as tini: the synchronous faults (its own), and the terminal
# stops (ignored, so that handing the terminal to the command cannot stop it).
_INIT_OWN = (signal.SIGFPE, signal.SIGILL, signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT,
             signal.SIGTRAP, signal.SIGSYS, signal.SIGTTIN, signal.SIGTTOU)  # fmt: skip


def run_init(err_w: int, tty: bool) -> None:
    """--init, hood's own (docker's is tini): this process stays PID 1 and runs the
    command as its child, which returns from here to exec it. PID 1 then forwards every
    signal it gets to the command, reaps every zombie the container's orphans leave, and
    exits with the command's status (128+N when a signal N ended it), as tini does."""
    wanted = set(signal.valid_signals()) - {signal.SIGKILL, signal.SIGSTOP, *_INIT_OWN}
    for sig in (signal.SIGTTIN, signal.SIGTTOU):
        signal.signal(sig, signal.SIG_IGN)
    old = signal.pthread_sigmask(signal.SIG_BLOCK, wanted)
    child = os.fork()
    if child == 0:  # the command: its own process group, in the foreground of a terminal
        with suppress(OSError):
            os.setpgid(0, 0)
        if tty:
            with suppress(OSError):
                os.tcsetpgrp(0, os.getpgrp())
        for sig in (signal.SIGTTIN, signal.SIGTTOU):
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
        return
    os.close(err_w)  # the command's copy reports its exec, as without --init
    linux.prctl(linux.PR_SET_DUMPABLE, 0)  # no ptrace, no /proc/1/exe from the container
    code = None
    while True:
        sig = signal.sigwait(wanted)
        if sig != signal.SIGCHLD:
            with suppress(OSError):
                os.kill(child, sig)
        while True:  # every zombie there is
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid == child:
                code = (
                    128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
                )
        if code is not None:
            os._exit(code)
