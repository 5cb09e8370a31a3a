"""The container's process, the child's last steps inside the container's root: its
user and groups, working directory, ulimits, capabilities, no_new_privs and seccomp
filter, then the exec of its command (under hood-init with --init)."""

from __future__ import annotations

import _signal as signal  # signal's ints without its enum (and enum's imports)
import errno
import os
import stat

from hood.core.fileio import read_text_or_none
from hood.core.lean import suppress
from hood.runtime import linux
from hood.runtime.capabilities import DEFAULT_CAP_MASK, cap_mask
from hood.runtime.exec_user import resolve_user
from hood.runtime.launch import FORWARDED, ContainerError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hood.runtime.console import Console
    from hood.runtime.exec_user import ExecUser
    from hood.runtime.launch import Launch
    from hood.runtime.spec import ContainerSpec


def _close_fds(keep: int) -> None:
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd != keep:
            with suppress(OSError):
                os.close(fd)


def _look_path(name: str, env: list[str], not_found: int = 127) -> str:
    """exec.LookPath inside the container: a name with a slash as is, else through $PATH."""
    if "/" in name:
        return name
    path = next((e[5:] for e in env if e.startswith("PATH=")), "")
    for d in path.split(":"):
        candidate = os.path.join(d or ".", name)
        with suppress(OSError):
            st = os.stat(candidate)
            if stat.S_ISREG(st.st_mode) and st.st_mode & 0o111:
                return candidate
    raise ContainerError(f'exec: "{name}": executable file not found in $PATH', not_found)


def _bounding_set() -> int:
    """The capabilities this process may still have: what --privileged gives (every one
    the host lets hood have)."""
    text = read_text_or_none("/proc/self/status") or ""
    for line in text.splitlines():
        if line.startswith("CapBnd:"):
            return int(line.split()[1], 16)
    return DEFAULT_CAP_MASK


def _capability_mask(launch: Launch, last: int) -> int:
    """The capabilities the process keeps (bounding set; effective and permitted for
    root): every one the host allows with --privileged, else the spec's."""
    spec = launch.spec
    if launch.privileged or spec.privileged:
        return _bounding_set()
    mask = cap_mask(spec.caps) & ((1 << (last + 1)) - 1)  # those the kernel knows
    if mask & ~_bounding_set():  # runc's words for it
        raise ContainerError("unable to apply caps: operation not permitted")
    return mask


def _set_ulimits(ulimits: list[list]) -> None:
    """--ulimit NAME=SOFT:HARD, set before the capabilities go (raising a hard limit
    takes CAP_SYS_RESOURCE), as runc sets process.rlimits."""
    import resource

    from hood.runtime.spec import ULIMITS

    for name, soft, hard in ulimits:
        limits = (resource.RLIM_INFINITY if soft < 0 else soft,
                  resource.RLIM_INFINITY if hard < 0 else hard)  # fmt: skip
        try:
            resource.setrlimit(ULIMITS[name], limits)
        except (OSError, ValueError) as exc:
            raise ContainerError(
                f"error setting rlimit type {ULIMITS[name]}: {getattr(exc, 'strerror', exc)}"
            ) from None


def _enter_cwd(spec: ContainerSpec, joining: bool) -> None:
    """The working directory (made when missing, but in a read-only root or an exec),
    checked to be inside the container once there (CVE-2024-21626)."""
    cwd = spec.cwd
    if cwd == "/proc" or cwd.startswith("/proc/"):
        raise ContainerError(f"working directory {cwd!r} is inside /proc; refusing it")
    if not joining and (not spec.read_only or os.path.exists(cwd)):
        os.makedirs(cwd, 0o755, exist_ok=True)
    try:
        os.chdir(cwd)
    except OSError as exc:
        raise ContainerError(
            f"chdir to cwd ({cwd!r}) set in config.json failed: {exc.strerror}", 126
        ) from None
    real = os.getcwd()
    if not real.startswith("/") or "(unreachable)" in real:
        raise ContainerError(f"working directory {cwd!r} is outside the container")


def _set_groups(user: ExecUser, rootless: bool, mapped: int) -> None:
    """The user's groups, or a refusal when the user namespace cannot map the user."""
    if rootless and mapped <= 1:
        if user.uid != 0 or user.gid != 0:
            raise ContainerError(
                f"rootless: cannot run as {user.uid}:{user.gid}: only your own uid and gid are"
                " mapped (to 0:0) in the container's user namespace; give your user"
                " subordinate ids in /etc/subuid and /etc/subgid (and install uidmap)"
            )
        return
    groups = sorted({user.gid, *user.groups})
    if rootless and max(user.uid, *groups) >= mapped:
        raise ContainerError(
            f"rootless: cannot run as {user.uid}:{user.gid}: your subordinate ids map"
            f" only 0-{mapped - 1} in the container's user namespace"
        )
    # docker passes the primary group among the supplementary ones
    os.setgroups(groups)


def _switch_user(user: ExecUser, caps_kept: int, console: Console | None) -> None:
    """Become the user: its uid and gid, and the capabilities root keeps (none for others)."""
    if console is not None:  # the terminal belongs to the process's user, as runc does it
        with suppress(OSError):
            st = os.fstat(0)
            os.fchown(0, user.uid, st.st_gid)
    linux.prctl(linux.PR_SET_KEEPCAPS, 1)
    os.setresgid(user.gid, user.gid, user.gid)
    os.setresuid(user.uid, user.uid, user.uid)
    linux.prctl(linux.PR_SET_KEEPCAPS, 0)
    caps = caps_kept if user.uid == 0 else 0
    linux.capset(caps, caps, 0)
    with suppress(OSError):
        linux.prctl(linux.PR_CAP_AMBIENT, linux.PR_CAP_AMBIENT_CLEAR_ALL)
    # the kernel clears the parent-death signal when the credentials change
    linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)


def _execve(program: str, args: list[str], env: list[str], not_found: int) -> None:
    try:
        os.execve(program, args, dict(e.split("=", 1) for e in env))
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise ContainerError(
                f'exec: "{args[0]}": no such file or directory', not_found
            ) from None
        raise ContainerError(
            f'exec: "{args[0]}": {os.strerror(exc.errno or 0).lower()}', 126
        ) from None


def exec_process(
    launch: Launch,
    err_w: int,
    console: Console | None,
    rootless: bool,
    mapped: int,
    bpf: bytes | None,
) -> None:
    """Inside the container's root: the user, working directory, capabilities, seccomp and
    environment the spec asks for, then exec its command (never returns)."""
    spec = launch.spec
    joining = bool(launch.join)
    user = resolve_user(
        spec.user, read_text_or_none("/etc/passwd"), read_text_or_none("/etc/group")
    )
    env = list(spec.env)
    if not any(e.startswith("HOME=") for e in env):
        env.append(f"HOME={user.home}")

    # CVE-2024-21626: no host fd survives, and the working directory is checked inside.
    _close_fds(err_w)
    _enter_cwd(spec, joining)

    if bpf is not None and not spec.no_new_privs:
        # As runc: without no_new_privs, the filter goes on while we still have
        # CAP_SYS_ADMIN (it allows what is left to do: setgroups, setresuid, capset, exec)
        linux.load_seccomp(bpf)
    last = linux.last_cap()
    caps_kept = _capability_mask(launch, last)
    if spec.ulimits and not joining:
        _set_ulimits(spec.ulimits)
    if spec.init and not joining:  # imported before pivot_root (child._import_ahead)
        from hood.runtime.hood_init import init_title

        init_title(spec.args)
    for cap in range(last + 1):
        if not caps_kept & (1 << cap):
            linux.prctl(linux.PR_CAPBSET_DROP, cap)
    if spec.no_new_privs:  # docker leaves it off unless --security-opt no-new-privileges
        linux.prctl(linux.PR_SET_NO_NEW_PRIVS, 1)
    _set_groups(user, rootless, mapped)
    _switch_user(user, caps_kept, console)

    not_found = 126 if joining else 127  # docker exec says 126 where run says 127
    program = _look_path(spec.args[0], env, not_found)
    for s in FORWARDED:
        signal.signal(s, signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if bpf is not None and spec.no_new_privs:
        linux.load_seccomp(bpf)  # no_new_privs lets an unprivileged process: last thing
    if spec.init and not joining:
        from hood.runtime.hood_init import run_init

        run_init(err_w, console is not None)  # returns in the command's process, PID 2
    _execve(program, spec.args, env, not_found)
