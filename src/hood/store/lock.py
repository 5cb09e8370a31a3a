"""Process locks over the data root (flock: released by the kernel when a holder dies)."""

from __future__ import annotations

import fcntl
import os


class FileLock:
    """`with FileLock(path):` holds an exclusive lock on `path` (created if need be)."""

    __slots__ = ("path", "fd")

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = -1

    def __enter__(self) -> FileLock:
        fd = lock_fd(self.path)
        assert fd is not None  # waiting never gives up
        self.fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)


def try_lock(path: str) -> int | None:
    """Take an exclusive lock on an existing file without waiting; returns the fd to
    close, or None if it is held or gone."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def is_held(path: str) -> bool:
    """Someone alive holds the lock on `path` (a marker of work in progress)."""
    fd = try_lock(path)
    if fd is None:
        return os.path.exists(path)
    os.close(fd)
    return False


def lock_fd(path: str, *, wait: bool = True) -> int | None:
    """Take an exclusive lock on `path` (created if need be) and return its fd, which the
    caller closes to release it, from whichever thread. With wait=False, None if held."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd
