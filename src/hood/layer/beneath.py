"""Reaching a path beneath a root directory without following any symlink."""

from __future__ import annotations

import os

# A directory, opened without following a symlink in its place.
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# Path components at most, for anything that unpacks a layer and for flattening it.
MAX_DEPTH = 512


def open_beneath(root_fd: int, rel: bytes | str, flags: int = DIR_FLAGS) -> int:
    """A new fd for `rel`, a cleaned relative path ("" or "." is the root itself), under
    the directory `root_fd`, reached without following a symlink anywhere: each parent
    is opened as a directory with O_NOFOLLOW, the last component with `flags` plus
    O_NOFOLLOW and O_CLOEXEC (by default: a directory). The caller closes the fd.

    Raises OSError; ELOOP or ENOTDIR when a symlink or a non-directory is in the way."""
    if rel in ("", ".", b"", b"."):
        return os.dup(root_fd)
    comps = rel.split(b"/" if isinstance(rel, bytes) else "/")  # type: ignore[arg-type]
    fd = root_fd
    try:
        for comp in comps[:-1]:
            nfd = os.open(comp, DIR_FLAGS, dir_fd=fd)
            if fd != root_fd:
                os.close(fd)
            fd = nfd
        return os.open(comps[-1], flags | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
    finally:
        if fd != root_fd:
            os.close(fd)
