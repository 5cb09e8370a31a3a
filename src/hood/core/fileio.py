"""Files written so a crash never leaves half of one, files removed without following links,
and disk failures said in words.

write_atomic: temp file in the same directory, fsync, rename (and fsync the directory when
`durable`; no fsync at all unless `synced`): a reader sees the old content or the new,
never a torn file. This is the one way hood writes a file that must survive a crash, in
the data root and outside it (docker's config.json). Paths are str or os.PathLike;
nothing here imports pathlib."""

from __future__ import annotations

import errno
import os
import stat

from hood.core.errors import StoreError
from hood.core.lean import suppress

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    StrPath = str | os.PathLike[str]

# errno -> (what happened, in words; what to do about it)
_CAUSES = {
    errno.ENOSPC: ("no space left on device", "free some space on that file system and try again"),
    errno.EDQUOT: ("disk quota exceeded", "free some space or raise the quota, then try again"),
    errno.EIO: (
        "input/output error (the disk or file system failed)",
        "check the disk and the kernel log (dmesg), then try again",
    ),
    errno.EROFS: ("read-only file system", "remount it read-write and try again"),
}


class DiskError(StoreError):
    """Writing failed for a reason outside hood: the disk is full, over quota, failing
    or read-only. The store stays consistent; once the cause is fixed, trying again
    resumes."""

    def __init__(self, errno_: int, doing: str, path: object, where: str = "") -> None:
        self.errno = errno_
        self.doing = doing
        self.path = path
        self.where = where
        cause, advice = _CAUSES.get(errno_, (os.strerror(errno_).lower(), "try again"))
        text = f"{cause} {doing}"
        if path is not None:
            text += f" {os.fsdecode(path) if isinstance(path, bytes) else path}"
        if where:
            text += f" ({where})"
        super().__init__(f"{text}: {advice}")

    def within(self, where: str) -> DiskError:
        """The same error, saying what it happened in (a layer, an unpack)."""
        inner = f"{self.where}, {where}" if self.where else where
        return DiskError(self.errno, self.doing, self.path, inner)


def is_disk_error(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in _CAUSES


def disk_error(
    exc: OSError, doing: str = "writing", path: object = None, where: str = ""
) -> DiskError:
    """The DiskError for `exc` (an OSError with one of the errnos is_disk_error knows);
    `path` defaults to what the OSError names (a rename's target)."""
    if path is None:
        path = exc.filename2 if exc.filename2 is not None else exc.filename
    return DiskError(exc.errno or 0, doing, path, where)


def check_safe_dir(path: StrPath, what: str = "data root") -> None:
    """Refuse a data root or rootfs that is a symlink or writable by everyone: anyone could
    swap what hood writes through, or plant layers in it."""
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        raise StoreError(f"{what} {os.fspath(path)} is a symlink; refusing it")
    if not stat.S_ISDIR(st.st_mode):
        raise StoreError(f"{what} {os.fspath(path)} is not a directory")
    if st.st_mode & 0o002 and not st.st_mode & stat.S_ISVTX:
        raise StoreError(f"{what} {os.fspath(path)} is writable by everyone; refusing it")


def temp_name(path: StrPath) -> str:
    """A hidden sibling of `path` no other writer picks: `.NAME.tmp-RANDOM`."""
    head, name = os.path.split(os.fspath(path))
    return os.path.join(head, f".{name}.tmp-{os.urandom(6).hex()}")


def fsync_dir(path: StrPath) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(
    path: StrPath,
    data: bytes | str,
    mode: int = 0o644,
    *,
    durable: bool = True,
    synced: bool = True,
) -> None:
    """Replace `path` with `data` all at once. `durable` also fsyncs the directory, so the
    rename itself survives a power cut (container state, rewritten at every start and exit,
    settles for the file's own fsync, as dockerd's does). `synced=False` fsyncs nothing:
    for files no one needs after a crash (a `--rm` container's, removed when it exits and
    swept after a crash), where each fsync is time before the container starts. Parent
    directories are made. Raises DiskError naming `path` when the disk is full or fails."""
    if isinstance(data, str):
        data = data.encode()
    path = os.fspath(path)
    try:
        _write_atomic(path, data, mode, durable and synced, synced)
    except OSError as exc:
        if is_disk_error(exc):
            raise disk_error(exc, "writing", path) from None
        raise


def _write_atomic(path: str, data: bytes, mode: int, durable: bool, synced: bool) -> None:
    head = os.path.dirname(path)
    if head:
        os.makedirs(head, exist_ok=True)
    tmp = temp_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if synced:
            os.fsync(fd)
        os.close(fd)
        fd = -1
        os.rename(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_dir(head or ".")


def read_bytes(path: StrPath) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def read_text(path: StrPath) -> str:
    """The file's text, stripped of surrounding whitespace (layerdb's one-line files).
    Bytes that are not UTF-8 read as U+FFFD, which no caller's check lets through: a
    corrupt file is then reported as corrupt, not as a decoding error."""
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read().strip()


def read_optional(path: StrPath) -> str:
    """read_text, or "" when the file does not exist."""
    try:
        return read_text(path)
    except FileNotFoundError:
        return ""


def read_text_or_none(path: str) -> str | None:
    """A text file that may be absent, unreadable or not UTF-8 (an image's /etc/passwd,
    /etc/subuid), its first 4Mi characters; None when it cannot be read."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(1 << 22)
    except OSError:
        return None


def remove_tree(path: StrPath) -> None:
    """rm -rf through directory fds, never following a symlink. A directory of ours made
    unreadable (overlayfs's work/work is mode 000 to a rootless user) is opened up first."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(path)
        return
    fd = _open_dir(os.fspath(path), None)
    try:
        _clear_dir(fd)
    finally:
        os.close(fd)
    os.rmdir(path)


def _open_dir(name: str, dfd: int | None) -> int:
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(name, flags, dir_fd=dfd)
    except PermissionError:
        handle = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
        try:
            os.chmod(f"/proc/self/fd/{handle}", 0o700)
        finally:
            os.close(handle)
        return os.open(name, flags, dir_fd=dfd)


def _clear_dir(dfd: int) -> None:
    mode = os.fstat(dfd).st_mode
    if mode & 0o700 != 0o700:  # no CAP_DAC_OVERRIDE when rootless
        os.fchmod(dfd, mode | 0o700)
    with os.scandir(dfd) as entries:
        names = [(e.name, e.is_dir(follow_symlinks=False)) for e in entries]
    for name, is_dir in names:
        if is_dir:
            sub = _open_dir(name, dfd)
            try:
                _clear_dir(sub)
            finally:
                os.close(sub)
            os.rmdir(name, dir_fd=dfd)
        else:
            os.unlink(name, dir_fd=dfd)


class StagedDir:
    """Build a directory beside `final` and rename it into place when the block succeeds:
    `with StagedDir(final) as tmp: ...`. Its files are fsynced before the rename. If `final`
    appears meanwhile (another process won the race), the staged copy is dropped."""

    def __init__(self, final: StrPath) -> None:
        self.final = os.fspath(final)
        self.tmp = temp_name(self.final)

    def __enter__(self) -> str:
        os.makedirs(os.path.dirname(self.final), exist_ok=True)
        os.mkdir(self.tmp)
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> bool:  # type: ignore[no-untyped-def]
        if exc_type is not None:
            remove_tree(self.tmp)
            if exc is not None and is_disk_error(exc):
                raise disk_error(exc, "writing", self.final) from None
            return False
        try:
            for name in _names(self.tmp):
                child = os.path.join(self.tmp, name)
                if os.path.isfile(child) and not os.path.islink(child):
                    fd = os.open(child, os.O_RDONLY | os.O_CLOEXEC)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
            fsync_dir(self.tmp)
            try:
                os.rename(self.tmp, self.final)
            except OSError:
                if not os.path.exists(self.final):
                    raise
                remove_tree(self.tmp)
            fsync_dir(os.path.dirname(self.final))
        except OSError as err:
            remove_tree(self.tmp)
            if is_disk_error(err):
                raise disk_error(err, "writing", self.final) from None
            raise
        except BaseException:
            remove_tree(self.tmp)
            raise
        return False


def _names(path: str) -> Iterator[str]:
    yield from sorted(os.listdir(path))
