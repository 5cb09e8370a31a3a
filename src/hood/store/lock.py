"""Process locks over the data root (flock: released by the kernel when a holder dies)."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if need be) for the block."""
    fd = lock_fd(path)
    assert fd is not None  # waiting never gives up
    try:
        yield
    finally:
        os.close(fd)


def try_lock(path: Path) -> int | None:
    """Take an exclusive lock without waiting; returns the fd to close, or None if held."""
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


def lock_fd(path: Path, *, wait: bool = True) -> int | None:
    """Take an exclusive lock on `path` (created if need be) and return its fd, which the
    caller closes to release it, from whichever thread. With wait=False, None if held."""
    path.parent.mkdir(parents=True, exist_ok=True)
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
