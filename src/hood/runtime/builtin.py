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
import errno
import os
import stat

from hood.core.fileio import read_text_or_none
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
from hood.runtime.hood_init import init_title, run_init
from hood.runtime.json_log import relay_to_log
from hood.runtime.launch import FORWARDED, GO, READY, ContainerError
from hood.runtime.rootfs import mount_overlay, open_in_root
from hood.runtime.spec import (
    DEFAULT_CAP_MASK,
    DEFAULT_CAPS,
    MASKED_PATHS,
    READONLY_PATHS,
    ContainerSpec,
    SpecError,
    resolve_user,
)
from hood.runtime.spec import (
    cap_mask as caps_mask,
)
from hood.runtime.user_namespace import enter_user_namespace
from hood.store.layout import join

TYPE_CHECKING = False
if TYPE_CHECKING:

    from hood.runtime.launch import Launch

MS_STRICTATIME = 1 << 24
MS_RELATIME = 1 << 21


# --- child side --------------------------------------------------------------------------


def _mount_in(
    root: str,
    path: str,
    source: str | None,
    fstype: str | None,
    flags: int,
    data: str | None = None,
    kind: str = "dir",
) -> None:
    fd = open_in_root(root, path, kind=kind)
    try:
        linux.mount(source, f"/proc/self/fd/{fd}", fstype, flags, data)
    finally:
        os.close(fd)


def _remount_ro(target: str, recursive: bool = False) -> None:
    flags = linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY
    st = os.statvfs(target)
    flags |= st.f_flag & (linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC)
    if recursive:
        flags |= linux.MS_REC
    linux.mount(None, target, None, flags)


_DEVICES = (
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
)

_TMPFS_FLAGS = {
    "ro": linux.MS_RDONLY,
    "nosuid": linux.MS_NOSUID,
    "nodev": linux.MS_NODEV,
    "noexec": linux.MS_NOEXEC,
    "strictatime": MS_STRICTATIME,
}


def _tmpfs_options(text: str) -> tuple[int, str]:
    flags = linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC
    data = []
    for opt in filter(None, text.split(",")):
        if opt in _TMPFS_FLAGS:
            flags |= _TMPFS_FLAGS[opt]
        elif opt in ("rw",):
            flags &= ~linux.MS_RDONLY
        elif opt in ("exec", "suid", "dev"):
            flags &= ~_TMPFS_FLAGS["no" + opt]
        else:
            data.append(opt)
    return flags, ",".join(data)


def _setup_dev(root: str, rootless: bool, shm_size: int | None = None) -> None:
    _mount_in(
        root, "/dev", "tmpfs", "tmpfs", linux.MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k"
    )
    dev = os.path.join(root, "dev")  # a fresh tmpfs: nothing in it can be a symlink yet
    for name, major, minor in _DEVICES:
        path = os.path.join(dev, name)
        if rootless:
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o666))
            linux.mount(f"/dev/{name}", path, None, linux.MS_BIND)
        else:
            os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
            os.chmod(path, 0o666)
    for sub in ("pts", "shm", "mqueue"):
        os.mkdir(os.path.join(dev, sub), 0o755)
    linux.mount(
        "devpts",
        os.path.join(dev, "pts"),
        "devpts",
        linux.MS_NOSUID | linux.MS_NOEXEC,
        "newinstance,ptmxmode=0666,mode=0620" + ("" if rootless else ",gid=5"),
    )
    nosuid_all = linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC
    size = f"size={shm_size}" if shm_size else "size=65536k"
    linux.mount("shm", os.path.join(dev, "shm"), "tmpfs", nosuid_all, "mode=1777," + size)
    with suppress(OSError):
        linux.mount("mqueue", os.path.join(dev, "mqueue"), "mqueue", nosuid_all)
    for name, target in (
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ):
        os.symlink(target, os.path.join(dev, name))


# Under /dev, what runc's HostDevices leaves out of a privileged container's devices.
_HOST_DEV_SKIP = ("pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev")


def host_devices(path: str = "/dev") -> list[str]:
    """The device nodes under `path` (itself, when it is one), as runc's GetDevices walks
    /dev for --privileged and for a --device that names a directory."""
    try:
        st = os.lstat(path)
    except OSError:
        return []
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        return [path]
    if not stat.S_ISDIR(st.st_mode):
        return []
    out = []
    for name in sorted(os.listdir(path)):
        full = os.path.join(path, name)
        if os.path.isdir(full) and not os.path.islink(full):
            if name not in _HOST_DEV_SKIP:
                out += host_devices(full)
        elif name != "console" and not os.path.islink(full):
            out += host_devices(full)
    return out


def _add_devices(root: str, devices: list[tuple[str, str]], rootless: bool) -> None:
    """Each host device node at its path in the container (made with the host's mode and
    owner; bound from the host when rootless), as runc creates linux.devices."""
    from hood.runtime.rootfs import secure_join

    old_mask = os.umask(0)
    try:
        for host, inside in devices:
            st = os.stat(host)
            target = secure_join(root, inside)
            if os.path.lexists(target):
                if inside.startswith("/dev/") and inside.count("/") == 2:
                    continue  # one of the container's own: /dev/null, /dev/ptmx, ...
                os.unlink(target)  # what the image has there
            os.makedirs(os.path.dirname(target), 0o755, exist_ok=True)
            if rootless:
                os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o666))
                linux.mount(host, target, None, linux.MS_BIND)
                continue
            kind = stat.S_IFCHR if stat.S_ISCHR(st.st_mode) else stat.S_IFBLK
            os.mknod(target, kind | stat.S_IMODE(st.st_mode), st.st_rdev)
            os.chown(target, st.st_uid, st.st_gid)
    finally:
        os.umask(old_mask)


def device_list(spec: ContainerSpec) -> list[tuple[str, str]]:
    """(host node, path in the container) of every device the container gets beyond its
    own: the host's with --privileged, then each --device (a directory: the nodes under it)."""
    out = [(d, d) for d in host_devices()] if spec.privileged else []
    for host, inside, _ in spec.devices:
        for node in host_devices(host):
            out.append((node, inside + node[len(host) :] if node != host else inside))
    return out


def device_cgroup_rules(spec: ContainerSpec) -> list[str] | None:
    """docker's device allow list for the container (None: every device, privileged)."""
    if spec.privileged:
        return None
    perms = {node: p for host, _, p in spec.devices for node in host_devices(host)}
    return cgroups.device_rules([d for d in device_list(spec) if d[0] in perms], perms)


def copy_up(source: str, dest: str) -> None:
    """A volume's first use: what the image has at its mount point, copied into the empty
    volume with modes, owners and times, as docker copies it."""
    import shutil

    st = os.lstat(source)
    for entry in os.scandir(source):
        src, dst = entry.path, os.path.join(dest, entry.name)
        if entry.is_dir(follow_symlinks=False):
            shutil.copytree(src, dst, symlinks=True, copy_function=shutil.copy2)
        else:
            shutil.copy2(src, dst, follow_symlinks=False)
    for dirpath, dirnames, filenames in os.walk(dest):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            orig = os.path.join(source, os.path.relpath(full, dest))
            with suppress(OSError):
                o = os.lstat(orig)
                os.lchown(full, o.st_uid, o.st_gid)
                if not stat.S_ISLNK(o.st_mode):
                    os.chmod(full, stat.S_IMODE(o.st_mode))
    os.chown(dest, st.st_uid, st.st_gid)
    os.chmod(dest, stat.S_IMODE(st.st_mode))


def _mount_all(rootfs: str, spec: ContainerSpec) -> None:
    """-v binds, volumes, --tmpfs and --mount in the root, parents first."""
    for m in spec.all_mounts():
        if m.kind == "tmpfs":
            tflags, data = _tmpfs_options(m.data)
            _mount_in(rootfs, m.target, "tmpfs", "tmpfs", tflags, data or None)
            continue
        if not os.path.exists(m.source):
            os.makedirs(m.source, 0o755, exist_ok=True)
        if m.kind == "volume" and m.copy and not os.listdir(m.source):
            from hood.runtime.rootfs import secure_join

            inside = secure_join(rootfs, m.target)
            if os.path.isdir(inside) and not os.path.islink(inside):
                copy_up(inside, m.source)
        kind = "dir" if os.path.isdir(m.source) else "file"
        fd = open_in_root(rootfs, m.target, kind=kind)
        try:
            target = f"/proc/self/fd/{fd}"
            linux.mount(m.source, target, None, linux.MS_BIND | linux.MS_REC)
            if m.readonly:
                _remount_ro(os.readlink(target), recursive=True)
        finally:
            os.close(fd)


def _bind_rw(source: str, target: str) -> None:
    """A writable bind (a cgroup hierarchy in a privileged container's /sys/fs/cgroup)."""
    linux.mount(source, target, None, linux.MS_BIND)


def _bind_ro(source: str, target: str) -> None:
    """A read-only bind with nosuid, nodev and noexec (a cgroup hierarchy in /sys/fs/cgroup)."""
    linux.mount(source, target, None, linux.MS_BIND)
    flags = linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY
    flags |= linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC
    linux.mount(None, target, None, flags | (os.statvfs(target).f_flag & MS_RELATIME))


def _lo_up() -> None:
    import fcntl  # imported before pivot_root by _child
    import socket
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH", b"lo", 0)
        flags = struct.unpack("16sH", fcntl.ioctl(s.fileno(), 0x8913, req))[1]  # SIOCGIFFLAGS
        fcntl.ioctl(s.fileno(), 0x8914, struct.pack("16sH", b"lo", flags | 1))  # SIOCSIFFLAGS


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
        _become(launch, err_w, console, rootless, mapped, bpf)
    flags = linux.CLONE_NEWNS | linux.CLONE_NEWUTS | linux.CLONE_NEWIPC
    if spec.network == "none":
        flags |= linux.CLONE_NEWNET
    if cgroups.is_v2():  # rooted at the cgroup the parent put us in (docker: cgroupns=private)
        flags |= linux.CLONE_NEWCGROUP
    linux.unshare(flags)
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
    rootfs = str(mount_overlay(launch.layout, launch.mount_id, userxattr=rootless))

    nosuid_all = linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC
    _mount_in(rootfs, "/proc", "proc", "proc", nosuid_all)
    _setup_dev(rootfs, rootless, spec.shm_size)
    if spec.privileged or spec.devices:
        _add_devices(rootfs, device_list(spec), rootless)
    sys_ro = 0 if spec.privileged else linux.MS_RDONLY  # docker: /sys writable when privileged
    try:
        _mount_in(rootfs, "/sys", "sysfs", "sysfs", nosuid_all | sys_ro)
    except OSError:  # a network namespace we do not own: the host's /sys, read-only
        _mount_in(rootfs, "/sys", "/sys", None, linux.MS_BIND | linux.MS_REC)
        _remount_ro(os.path.join(rootfs, "sys"), recursive=True)
    try:
        cgroups.mount_in_container(
            rootfs, linux.mount, _bind_ro if sys_ro else _bind_rw, writable=not sys_ro
        )
    except OSError:
        if not rootless:
            raise
    for name in ("hostname", "hosts", "resolv.conf"):
        src = join(launch.container_dir, name)
        if os.path.exists(src):
            _mount_in(rootfs, f"/etc/{name}", str(src), None, linux.MS_BIND, kind="file")
    _mount_all(rootfs, spec)

    os.chdir(rootfs)
    linux.pivot_root(".", ".")
    linux.umount(".", linux.MNT_DETACH)
    os.chdir("/")
    if console is not None:
        setup_console(console)
    if spec.read_only:
        _remount_ro("/")
    for path in () if spec.unmasked else MASKED_PATHS:
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                linux.mount("tmpfs", path, "tmpfs", linux.MS_RDONLY)
            else:
                linux.mount("/dev/null", path, None, linux.MS_BIND)
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
                raise
    for path in () if spec.unmasked else READONLY_PATHS:
        try:
            linux.mount(path, path, None, linux.MS_BIND | linux.MS_REC)
            _remount_ro(path, recursive=True)
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
                raise
    linux.sethostname(spec.hostname)
    if spec.network == "none":
        _lo_up()
    _become(launch, err_w, console, rootless, mapped, bpf)


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


def _bounding_set() -> int:
    """The capabilities this process may still have: what --privileged gives (every one
    the host lets hood have)."""
    text = read_text_or_none("/proc/self/status") or ""
    for line in text.splitlines():
        if line.startswith("CapBnd:"):
            return int(line.split()[1], 16)
    return DEFAULT_CAP_MASK


def _become(
    launch: Launch,
    err_w: int,
    console: Console | None,
    rootless: bool,
    mapped: int,
    bpf: bytes | None,
) -> None:
    """Inside the container's root: the user, working directory, capabilities, seccomp and
    environment the spec asks for, then exec its command (never returns)."""
    if bpf is not None:  # imported before the host's library went out of reach
        from hood.runtime import seccomp

    spec = launch.spec
    joining = bool(launch.join)
    user = resolve_user(spec.user, read_text_or_none("/etc/passwd"), read_text_or_none("/etc/group"))
    env = list(spec.env)
    if not any(e.startswith("HOME=") for e in env):
        env.append(f"HOME={user.home}")

    # CVE-2024-21626: no host fd survives, and the working directory is checked inside.
    _close_fds(err_w)
    cwd = spec.cwd
    if cwd == "/proc" or cwd.startswith("/proc/"):
        raise ContainerError(f"working directory {cwd!r} is inside /proc; refusing it")
    if not joining and (not spec.read_only or os.path.exists(cwd)):
        os.makedirs(cwd, 0o755, exist_ok=True)
    try:
        os.chdir(cwd)
    except OSError as exc:
        raise ContainerError(f"chdir to cwd ({cwd!r}) set in config.json failed: {exc.strerror}", 126) from None
    real = os.getcwd()
    if not real.startswith("/") or "(unreachable)" in real:
        raise ContainerError(f"working directory {cwd!r} is outside the container")

    if bpf is not None and not spec.no_new_privs:
        # As runc: without no_new_privs, the filter goes on while we still have
        # CAP_SYS_ADMIN (it allows what is left to do: setgroups, setresuid, capset, exec)
        seccomp.load(bpf)
    last = linux.last_cap()
    if launch.privileged or spec.privileged:
        cap_mask = _bounding_set()
    else:
        cap_mask = caps_mask(spec.caps) & ((1 << (last + 1)) - 1)  # those the kernel knows
        if cap_mask & ~_bounding_set():  # runc's words for it
            raise ContainerError("unable to apply caps: operation not permitted")
    if spec.ulimits and not joining:
        _set_ulimits(spec.ulimits)
    if spec.init and not joining:
        init_title(spec.args)
    for cap in range(last + 1):
        if not cap_mask & (1 << cap):
            linux.prctl(linux.PR_CAPBSET_DROP, cap)
    if spec.no_new_privs:  # docker leaves it off unless --security-opt no-new-privileges
        linux.prctl(linux.PR_SET_NO_NEW_PRIVS, 1)
    if rootless and mapped <= 1:
        if user.uid != 0 or user.gid != 0:
            raise ContainerError(
                f"rootless: cannot run as {user.uid}:{user.gid}: only your own uid and gid are"
                " mapped (to 0:0) in the container's user namespace; give your user"
                " subordinate ids in /etc/subuid and /etc/subgid (and install uidmap)"
            )
    else:
        groups = sorted({user.gid, *user.groups})
        if rootless and max(user.uid, *groups) >= mapped:
            raise ContainerError(
                f"rootless: cannot run as {user.uid}:{user.gid}: your subordinate ids map"
                f" only 0-{mapped - 1} in the container's user namespace"
            )
        # docker passes the primary group among the supplementary ones
        os.setgroups(groups)
    if console is not None:  # the terminal belongs to the process's user, as runc does it
        with suppress(OSError):
            st = os.fstat(0)
            os.fchown(0, user.uid, st.st_gid)
    linux.prctl(linux.PR_SET_KEEPCAPS, 1)
    os.setresgid(user.gid, user.gid, user.gid)
    os.setresuid(user.uid, user.uid, user.uid)
    linux.prctl(linux.PR_SET_KEEPCAPS, 0)
    caps = cap_mask if user.uid == 0 else 0
    linux.capset(caps, caps, 0)
    with suppress(OSError):
        linux.prctl(linux.PR_CAP_AMBIENT, linux.PR_CAP_AMBIENT_CLEAR_ALL)
    linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)

    not_found = 126 if joining else 127  # docker exec says 126 where run says 127
    program = _look_path(spec.args[0], env, not_found)
    for s in FORWARDED:
        signal.signal(s, signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if bpf is not None and spec.no_new_privs:
        seccomp.load(bpf)  # no_new_privs lets an unprivileged process: last thing
    if spec.init and not joining:
        run_init(err_w, console is not None)  # returns in the command's process, PID 2
    try:
        os.execve(program, spec.args, dict(e.split("=", 1) for e in env))
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise ContainerError(
                f'exec: "{spec.args[0]}": no such file or directory', not_found
            ) from None
        raise ContainerError(
            f'exec: "{spec.args[0]}": {os.strerror(exc.errno or 0).lower()}', 126
        ) from None


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


