"""Rootless: the user namespace hood enters before it forks the container, with the
user's subordinate ids (/etc/subuid, /etc/subgid, newuidmap and newgidmap) when it has
them, else with its own uid and gid alone."""

from __future__ import annotations

import os

from hood.core.fileio import read_text_or_none
from hood.runtime import linux
from hood.runtime.launch import GO, ContainerError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    IdRange = tuple[int, int]  # (start, count)

NEWUIDMAP, NEWGIDMAP = "/usr/bin/newuidmap", "/usr/bin/newgidmap"


def subordinate_ids(uid: int, gid: int) -> tuple[IdRange, IdRange] | None:
    """(start, count) of the user's ranges in /etc/subuid and /etc/subgid, when both give
    one and Debian's uidmap (newuidmap, newgidmap) is installed; None otherwise."""
    if not (os.access(NEWUIDMAP, os.X_OK) and os.access(NEWGIDMAP, os.X_OK)):
        return None
    import pwd

    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = str(uid)

    def first(path: str, keys: tuple[str, ...]) -> IdRange | None:
        text = read_text_or_none(path) or ""
        for line in text.splitlines():
            fields = line.strip().split(":")
            if (
                len(fields) == 3
                and fields[0] in keys
                and fields[1].isdigit()
                and fields[2].isdigit()
                and int(fields[2]) > 0
            ):
                return int(fields[1]), int(fields[2])
        return None

    sub_u = first("/etc/subuid", (name, str(uid)))
    sub_g = first("/etc/subgid", (name, str(uid), str(gid)))
    return (sub_u, sub_g) if sub_u and sub_g else None


def _fork_id_mapper(uid: int, gid: int, ranges: tuple[IdRange, IdRange]) -> tuple[int, int]:
    """newuidmap must run outside the namespace, on our PID: a helper forked before we
    unshare, which maps our ids once it reads GO. Its PID and the pipe's end for GO."""
    (u_start, u_count), (g_start, g_count) = ranges
    me = os.getpid()
    go_r, go_w = os.pipe2(os.O_CLOEXEC)
    helper = os.fork()
    if helper == 0:  # pragma: no cover - the helper, exits at once
        status = 1
        try:
            os.close(go_w)
            if os.read(go_r, 1) == GO:
                status = 0
                for tool, own, start, count in (
                    (NEWUIDMAP, uid, u_start, u_count),
                    (NEWGIDMAP, gid, g_start, g_count),
                ):
                    argv = [tool, str(me), "0", str(own), "1", "1", str(start), str(count)]
                    null = os.open("/dev/null", os.O_RDWR)
                    child = os.posix_spawn(
                        tool, argv, {"PATH": "/usr/bin:/bin"},
                        file_actions=[(os.POSIX_SPAWN_DUP2, null, 1),
                                      (os.POSIX_SPAWN_DUP2, null, 2)],
                    )  # fmt: skip
                    _, st = os.waitpid(child, 0)
                    status |= 0 if os.waitstatus_to_exitcode(st) == 0 else 1
        finally:
            os._exit(status)
    os.close(go_r)
    return helper, go_w


def _map_own_ids(uid: int, gid: int) -> None:
    """Our uid and gid as 0, the one mapping a process may write for itself."""
    try:
        for name, text in (
            ("setgroups", "deny"),
            ("uid_map", f"0 {uid} 1"),
            ("gid_map", f"0 {gid} 1"),
        ):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
    except OSError as exc:
        raise ContainerError(
            f"rootless: cannot map your uid in the user namespace ({exc})"
        ) from None


def enter_user_namespace(warn: Callable[[str], None] | None = None) -> int:
    """Rootless: become root of a new user namespace; returns how many uids (and gids) it
    maps, from 0.

    With subordinate ids (/etc/subuid and /etc/subgid, and newuidmap/newgidmap), as podman
    does: our uid and gid are 0, and 1..N are the user's ranges, so `-u 1000`, chown and
    setgroups work in the container. Without, only our uid and gid are mapped (to 0), as
    docker-rootless without subordinate ids: the container runs as 0, files it writes in a
    -v mount are the caller's on the host, the image's files (the caller's, in the
    caller's data root) show as root's; other users (-u) are refused with one line, chown
    to other ids fails inside, device nodes are the host's bound, cgroup limits are
    discarded (cgroups.rootless_problem). Overlayfs in a user namespace needs Linux 5.11."""
    uid, gid = os.geteuid(), os.getegid()
    ranges = subordinate_ids(uid, gid)
    helper = go_w = -1
    if ranges is not None:
        helper, go_w = _fork_id_mapper(uid, gid, ranges)
    try:
        linux.unshare(linux.CLONE_NEWUSER)
    except OSError as exc:
        if helper > 0:
            os.close(go_w)
            os.waitpid(helper, 0)
        raise ContainerError(
            f"rootless: cannot create a user namespace ({exc.strerror}); "
            "check kernel.unprivileged_userns_clone"
        ) from None
    if helper > 0:
        os.write(go_w, GO)
        os.close(go_w)
        _, st = os.waitpid(helper, 0)
        if os.waitstatus_to_exitcode(st) == 0:
            return 1 + min(ranges[0][1], ranges[1][1])  # type: ignore[index]
        if warn is not None:
            warn(
                "rootless: newuidmap/newgidmap refused the subordinate ids of /etc/subuid and"
                " /etc/subgid; only your own uid and gid are mapped"
            )
    _map_own_ids(uid, gid)
    return 1


def enter_for_data_root(warn: Callable[[str], None] | None = None) -> None:
    """Rootless with subordinate ids: this whole process moves into the user namespace
    its data root's files belong to, before it touches them (layers keep their owners,
    mapped onto the subordinate ids, as podman keeps them; see core.privilege). Without
    subordinate ids, or where no user namespace can be made, nothing changes."""
    from hood.core.privilege import entered_user_namespace, mapped_ids

    uid, gid = os.geteuid(), os.getegid()
    if uid == 0 or mapped_ids() or subordinate_ids(uid, gid) is None:
        return
    try:
        mapped = enter_user_namespace(warn)
    except ContainerError:
        return  # run says why when it needs one; the rest works as before
    entered_user_namespace(mapped, uid)


def private_mounts(warn: Callable[[str], None] | None = None) -> None:
    """Rootless: mounts of this process's own, seen by nobody else and gone with it (what
    `diff` needs to read a container through overlayfs): a user namespace (the data
    root's, or one of our own id) and a mount namespace it owns."""
    from hood.core.privilege import entered_user_namespace, mapped_ids

    if not mapped_ids():
        uid = os.geteuid()
        entered_user_namespace(enter_user_namespace(warn), uid)
    try:
        linux.unshare(linux.CLONE_NEWNS)
        linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
    except OSError as exc:
        raise ContainerError(f"rootless: cannot make a mount namespace ({exc.strerror})") from None


def join_user_namespace(pid: int) -> int:
    """exec without root: into the user namespace of the container's process `pid` (ours
    to enter: our uid made it); how many ids it maps from 0."""
    try:
        fd = os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ContainerError(f"container process {pid} is gone") from None
    try:
        linux.setns(fd, linux.CLONE_NEWUSER)
    except OSError as exc:
        raise ContainerError(
            f"rootless: cannot enter the container's user namespace ({exc.strerror})"
        ) from None
    finally:
        os.close(fd)
    with open(f"/proc/{pid}/uid_map") as f:
        return sum(int(line.split()[2]) for line in f if line.strip())
