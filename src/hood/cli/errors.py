"""An OSError that reached the top of a command, as the one line a user reads: what failed,
and what to do about it. Never Python's `[Errno 13] Permission denied: '...'`."""

from __future__ import annotations

import errno
import os

from hood.core.privilege import host_root


def _inside(path: str, root: str) -> bool:
    try:
        path, root = os.path.abspath(path), os.path.abspath(root)
    except (TypeError, ValueError):
        return False
    return path == root or path.startswith(root.rstrip("/") + "/")


def describe_os_error(exc: OSError, *, root: str, command: str) -> str:
    """`exc` in words. `root` is the data root in use, `command` the command's path."""
    from hood.core.fileio import disk_error, is_disk_error

    if is_disk_error(exc):
        return str(disk_error(exc))
    code = exc.errno
    reason = (exc.strerror or str(exc) or type(exc).__name__).rstrip(".")
    reason = reason[:1].lower() + reason[1:]
    name = exc.filename
    names = f"{name} -> {exc.filename2}" if exc.filename2 else name
    what = f"cannot use {names}: {reason}" if name else f"hood {command}: {reason}"
    if code in (errno.EACCES, errno.EPERM):
        if name is not None and _inside(str(name), root):
            mine = host_root()
            hint = (
                "even root may not use it here (a read-only mount, or a network filesystem "
                "that squashes root): give --root a data root hood may write"
                if mine
                else f"the data root {root} belongs to another user: run hood as that user "
                "(sudo hood ...), or give --root a data root of your own"
            )
            return f"{what} ({hint})"
        if name is not None:
            return f"{what} (run hood as a user who may, or with sudo)"
        return f"{what} (this needs privileges hood does not have here: run it as root, with sudo)"
    if code == errno.EROFS:
        return f"{what} (the filesystem is read-only: give --root a writable data root)"
    if code == errno.ENOENT:
        return f"{what} (it does not exist; check the path)"
    if code in (errno.ENOTDIR, errno.EISDIR, errno.ELOOP):
        return f"{what} (something else is in the way at that path)"
    if code == errno.EMFILE or code == errno.ENFILE:
        return f"{what} (too many open files: raise `ulimit -n` and try again)"
    return f"{what} (run with --debug for where it happened)"
