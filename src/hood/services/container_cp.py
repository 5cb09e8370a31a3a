"""docker cp: files between the host and a container, running or stopped, as tar streams
made and read inside the container's root (its mount namespace, or its overlay chrooted
into), so no symlink the container holds can lead a copy to the host's files."""

from __future__ import annotations

import os
import posixpath
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from typing import Any, BinaryIO, NoReturn

from hood.core.errors import HoodError
from hood.store.containers import Container
from hood.store.layout import Layout
from hood.store.rwlayers import RwLayers


def _in_root(path: str) -> str:
    """`path` as an absolute, normal path inside the container (`//x` is `/x` there)."""
    return posixpath.normpath("/" + path.lstrip("/"))


def _in_container(
    layout: Layout,
    c: Container,
    work: Callable[[int], None],
    what: str,
    *,
    feed: Callable[[BinaryIO], None] | None = None,
    drain: Callable[[BinaryIO], None] | None = None,
) -> None:
    """Run `work(fd)` in a child process whose root is the container's: its mount namespace
    when it runs, else its overlay mounted for the call and chrooted into. Paths then
    resolve as in the container (`..` stops at its root, an absolute symlink points inside
    it), so nothing the container holds can lead a copy to the host's files. Meanwhile this
    process runs `feed(pipe)`, whose writes `fd` reads, or `drain(pipe)`, which reads what
    `work` writes to `fd`. The error said is the cause: the feeder's, or a drainer's own
    refusal, over the child's (which then only saw its pipe break)."""
    from hood.runtime.rootfs import unmount

    ns, target = _container_root(layout, c)
    err_r, err_w = os.pipe()
    data_r, data_w = os.pipe()
    mine, theirs = (data_w, data_r) if feed is not None else (data_r, data_w)
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            os.close(err_r)
            os.close(mine)
            _work_in_root(ns, target, work, theirs, err_w)
        os.close(err_w)
        os.close(theirs)
        err_w = theirs = -1
        try:
            ours = _feed_or_drain(mine, feed, drain)
        finally:
            os.close(mine)
            mine = -1
        _, wait_status = os.waitpid(pid, 0)
        with open(err_r, "rb") as f:
            message = f.read().decode(errors="replace")
        err_r = -1
        _raise_failure(what, ours, wait_status, message, feeding=feed is not None)
    finally:
        for fd in (ns, err_r, err_w, mine, theirs):
            if fd >= 0:
                os.close(fd)
        if target is not None:
            unmount(target)
            os.rmdir(target)


def _container_root(layout: Layout, c: Container) -> tuple[int, str | None]:
    """Where the container's root is to be had: its mount namespace (an open fd) when it
    runs, else its overlay mounted on a new directory under the data root's tmp."""
    from hood.runtime.rootfs import mount_overlay

    if c.running:
        return os.open(f"/proc/{c.pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC), None
    mount_id = RwLayers(layout).mount_id(c.id)
    os.makedirs(layout.tmp, exist_ok=True)
    target = tempfile.mkdtemp(prefix="cp-", dir=layout.tmp)
    mount_overlay(layout, mount_id, target)
    return -1, target


def _work_in_root(
    ns: int, target: str | None, work: Callable[[int], None], fd: int, err_w: int
) -> NoReturn:  # pragma: no cover - the child
    """The child: into the container's root (its namespace `ns`, or a chroot to
    `target`), `work(fd)`, then exit 0; or 1, its error written to `err_w`."""
    status = 0
    try:
        if ns >= 0:
            from hood.runtime import linux

            linux.setns(ns, linux.CLONE_NEWNS)
        else:
            os.chroot(target)  # type: ignore[arg-type]
        os.chdir("/")
        work(fd)
    except BaseException as exc:  # noqa: BLE001 - said by the parent
        text = (
            f"{exc.strerror}: {exc.filename}"
            if isinstance(exc, OSError) and exc.filename
            else str(exc)
        )
        os.write(err_w, text.encode()[:4000])
        status = 1
    os._exit(status)


def _feed_or_drain(
    fd: int,
    feed: Callable[[BinaryIO], None] | None,
    drain: Callable[[BinaryIO], None] | None,
) -> Exception | None:
    """This process's end of the data pipe: `feed` writes into it, or `drain` reads it
    (then what follows the tar's end too). Returns the error either raised, weighed
    against the child's by _raise_failure; a broken pipe is the child's to explain."""
    try:
        if feed is not None:
            with open(fd, "wb", buffering=1 << 20, closefd=False) as pipe:
                feed(pipe)
        elif drain is not None:
            with open(fd, "rb", buffering=1 << 20, closefd=False) as pipe:
                drain(pipe)
                while pipe.read(1 << 20):  # what follows the tar's end
                    pass
    except BrokenPipeError:
        pass  # the child stopped reading: its status says why
    except Exception as exc:  # noqa: BLE001 - weighed against the child's below
        return exc
    return None


def _raise_failure(
    what: str, ours: Exception | None, wait_status: int, message: str, *, feeding: bool
) -> None:
    """Raise the copy's failure, if any: ours when we fed the child, when it is hood's
    own refusal or when the child succeeded; else the child's `message`."""
    if ours is not None and (feeding or isinstance(ours, HoodError) or not wait_status):
        if isinstance(ours, OSError) and ours.filename:
            raise HoodError(f"{what}: {ours.strerror}: {ours.filename}") from None
        raise ours
    if wait_status != 0:
        raise HoodError(f"{what}: {message or 'the copy failed'}")


def copy_from_container(
    layout: Layout, c: Container, path: str, out: BinaryIO, *, follow: bool = False
) -> None:
    """`path` of the container as a tar written to `out` (see archive_from_container)."""
    archive_from_container(
        layout, c, path, lambda pipe: shutil.copyfileobj(pipe, out, 1 << 20), follow=follow
    )


def archive_from_container(
    layout: Layout,
    c: Container,
    path: str,
    consume: Callable[[BinaryIO], None],
    *,
    follow: bool = False,
) -> None:
    """`path` of the container as docker cp writes it to `-`: a tar whose names start with
    the path's base name (`./` for a path ending in `/.`), made as dockerd's archiver makes
    it. Symlinks on the way resolve inside the container, never out of it."""
    from hood.layer.export import END, TarEntries, write_tree_tar

    clean = _in_root(path)
    base = "." if path.endswith("/.") else posixpath.basename(clean)
    name = (base or ".").encode()

    def work(fd: int) -> None:
        real = os.path.realpath(clean) if follow else clean
        if not os.path.lexists(real):
            raise HoodError(f"Could not find the file {path} in container {c.name}")
        with open(fd, "wb", buffering=1 << 20) as sink:
            st = os.lstat(real)
            entries = TarEntries(whiteouts=False)
            entries.write(sink, os.fsencode(real), name, st)
            if os.path.isdir(real) and not os.path.islink(real):
                write_tree_tar(real, sink, prefix=name + b"/", end=False, entries=entries)
            sink.write(END)

    _in_container(layout, c, work, f"copy from {c.name}:{path}", drain=consume)


def container_is_dir(layout: Layout, c: Container, path: str) -> bool:
    """Whether `path` is a directory inside the container (symlinks resolved inside it)."""
    clean = _in_root(path)

    def work(_: int) -> None:
        if not os.path.isdir(clean):
            raise HoodError("not a directory")

    try:
        _in_container(layout, c, work, "stat")
    except HoodError:
        return False
    return True


def copy_to_container(
    layout: Layout, c: Container, path: str, tar_stream: BinaryIO, *, archive: bool = False
) -> None:
    """The tar `tar_stream` holds, into the container (see extract_into_container)."""
    extract_into_container(
        layout, c, path, lambda pipe: shutil.copyfileobj(tar_stream, pipe, 1 << 20), archive=archive
    )


def extract_into_container(
    layout: Layout,
    c: Container,
    path: str,
    produce: Callable[[BinaryIO], None],
    *,
    archive: bool = False,
) -> None:
    """Extract the tar `produce(pipe)` writes into the directory `path` of the container, as docker cp does: owners
    and modes as the tar says; with `archive` (-a) and a Config.User, every entry owned by
    that user and its group, looked up in the container's /etc/passwd and /etc/group (as
    dockerd's CopyUIDGID). Inside the container's root, tarfile's `data` checks refuse
    absolute names, `..`, links and symlinked directories that would leave `path`."""
    clean = _in_root(path)
    user = _config_user(c) if archive else ""
    if user:
        from hood.runtime.exec_user import resolve_user  # now: the child's root has no hood
    import bz2  # noqa: F401 - tarfile's `r|*` imports its decompressor when it meets one,
    import lzma  # noqa: F401 - and the child's root has no Python
    import zlib  # noqa: F401

    def work(fd: int) -> None:
        if not os.path.isdir(clean):
            raise HoodError(f"extraction point is not a directory: {path}")
        owner = _lookup_owner(resolve_user, user) if user else None
        with open(fd, "rb") as source, tarfile.open(fileobj=source, mode="r|*") as tf:
            for member in tf:
                _check_member(member)
                if member.isdev():
                    continue
                if owner is not None:
                    member.uid, member.gid = owner
                    member.uname = member.gname = ""
                tf.extract(member, clean, filter="fully_trusted", numeric_owner=True)

    _in_container(layout, c, work, f"copy into {c.name}:{clean}", feed=produce)


def _check_member(member: tarfile.TarInfo) -> None:
    """docker's untar rules: a name (and a hardlink's target) is taken relative to the
    extraction point, leading `/` and all, and may not leave it with `..`. Symlinks may
    point anywhere: they resolve in the container's root, this process's root while it
    extracts."""
    member.name = _relative(member.name)
    if member.islnk():
        member.linkname = _relative(member.linkname)


def _relative(name: str) -> str:
    clean = posixpath.normpath(name.lstrip("/") or ".")
    if clean == ".." or clean.startswith("../"):
        raise HoodError(f"invalid path in the archive: {name!r} is outside the destination")
    return clean


def _config_user(c: Container) -> str:
    config = c.config.get("Config")
    user = config.get("User") if isinstance(config, dict) else None
    return user if isinstance(user, str) else ""


def _lookup_owner(resolve_user: Callable[..., Any], user: str) -> tuple[int, int]:
    """`user` (name|uid[:group|gid]) in the /etc/passwd and /etc/group of the root this
    process is in (the container's)."""
    files = []
    for name in ("/etc/passwd", "/etc/group"):
        try:
            with open(name, encoding="utf-8", errors="replace") as f:
                files.append(f.read(1 << 20))
        except OSError:
            files.append(None)
    found = resolve_user(user, files[0], files[1])
    return found.uid, found.gid


def copy_in(
    layout: Layout,
    c: Container,
    src: str,
    dest: str,
    *,
    archive: bool = False,
    follow: bool = False,
) -> None:
    """docker cp SRC CONTAINER:DEST: the host's `src` (a file or a directory; `DIR/.` for
    what the directory holds; with `follow`, a symlink as what it points to) into the
    directory `dest`, or as `dest` when that is no directory. The tar is made as it is
    sent: nothing is held in memory or on disk."""
    if not os.path.lexists(src):
        raise HoodError(f"no such file or directory: {src}")
    name = os.path.basename(os.path.normpath(src))
    real = os.path.realpath(src) if follow else src
    if not container_is_dir(layout, c, dest):  # DEST names the copy itself
        clean = _in_root(dest)
        dest, name = posixpath.dirname(clean), posixpath.basename(dest.rstrip("/"))

    def produce(sink: BinaryIO) -> None:
        with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tf:
            if src.endswith("/."):
                for child in sorted(os.listdir(real)):
                    tf.add(os.path.join(real, child), arcname=child)
            else:
                tf.add(real, arcname=name)

    extract_into_container(layout, c, dest, produce, archive=archive)


def copy_out(layout: Layout, c: Container, path: str, dest: str, *, follow: bool = False) -> None:
    """docker cp CONTAINER:SRC DEST: the container's `path` into the host directory
    `dest`, or as `dest` when that does not exist; what is written is owned by this
    process's user, as the docker CLI's files are. Streamed: the container's tar is
    extracted as it is made."""
    archive_from_container(
        layout, c, path, lambda source: _extract_copy(source, dest), follow=follow
    )


def _extract_copy(source: BinaryIO, dest: str) -> None:
    with tarfile.open(fileobj=source, mode="r|") as tf:
        top = tf.next()
        if top is None:
            return
        base = top.name.rstrip("/")
        if os.path.isdir(dest):
            into, rename = dest, None
        elif dest.endswith("/"):
            raise HoodError(f"destination directory {dest} does not exist")
        elif top.isdir() and os.path.exists(dest):
            raise HoodError(f"cannot copy directory: {dest} is a file")
        else:
            into, rename = os.path.dirname(os.path.abspath(dest)), os.path.basename(dest)
            if not os.path.isdir(into):
                raise HoodError(f"destination directory {into} does not exist")
        member: tarfile.TarInfo | None = top
        while member is not None:
            if rename is not None:
                rest = member.name[len(base) :] if member.name.startswith(base) else member.name
                member.name = posixpath.normpath(rename + rest) if rest else rename
            if base == "." and rename is None:
                member.name = posixpath.normpath(member.name)
            if member.name != ".":
                member.uid, member.gid = os.geteuid(), os.getegid()
                member.uname = member.gname = ""
                tf.extract(member, into, filter="tar", numeric_owner=True)
            member = tf.next()
