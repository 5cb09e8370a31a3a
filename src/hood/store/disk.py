"""Disk failures (full, over quota, failing, read-only) as errors a user can act on.

`os.write` and `os.fsync` raise an OSError that names no file and says only
"[Errno 28] No space left on device"; these wrap it with what was being written and
what to do about it."""

from __future__ import annotations

import errno
import os

from hood.errors import StoreError

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
