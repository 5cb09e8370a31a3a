"""What changed between two root filesystems (docker's ChangesDirs), for `hood diff`.

`new` is the container's merged view, `old` what it started from (its init layer over the
image): a path only in `new` is added (A, and everything below it), only in `old` deleted
(D, not what was below it), in both and different in mode, owner, device, or (not for
directories) size or mtime, or in its security.capability, changed (C). A directory with a
change below it is changed too. Docker lists them in no fixed order; hood sorts by path."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

CAPABILITY_XATTR = "security.capability"


@dataclass(frozen=True)
class Change:
    kind: str  # "A" | "C" | "D"
    path: str  # absolute inside the container: "/etc/passwd"

    def __str__(self) -> str:
        return f"{self.kind} {self.path}"


def _capability(path: bytes) -> bytes:
    try:
        return os.getxattr(path, CAPABILITY_XATTR, follow_symlinks=False)
    except OSError:
        return b""


def _same_time(a: os.stat_result, b: os.stat_result) -> bool:
    sec_a, nsec_a = divmod(a.st_mtime_ns, 10**9)
    sec_b, nsec_b = divmod(b.st_mtime_ns, 10**9)
    return sec_a == sec_b and (nsec_a == nsec_b or nsec_a == 0 or nsec_b == 0)


def stat_different(old: os.stat_result, new: os.stat_result) -> bool:
    if (old.st_mode, old.st_uid, old.st_gid, old.st_rdev) != (
        new.st_mode,
        new.st_uid,
        new.st_gid,
        new.st_rdev,
    ):
        return True
    if stat.S_ISDIR(old.st_mode):
        return False
    return not _same_time(old, new) or old.st_size != new.st_size


def _children(path: bytes) -> dict[bytes, os.stat_result]:
    try:
        names = os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return {}
    out = {}
    for name in names:
        try:
            out[name] = os.lstat(os.path.join(path, name))
        except FileNotFoundError:
            continue
    return out


def changes(new: str | bytes, old: str | bytes) -> list[Change]:
    """The changes from `old` to `new`, sorted by path."""
    new_root, old_root = os.fsencode(new), os.fsencode(old)
    out: list[Change] = []

    def shown(rel: bytes) -> str:
        return "/" + os.fsdecode(rel)

    def added(rel: bytes) -> None:
        for name, st in sorted(_children(os.path.join(new_root, rel)).items()):
            path = rel + b"/" + name
            out.append(Change("A", shown(path)))
            if stat.S_ISDIR(st.st_mode):
                added(path)

    def walk(rel: bytes, old_is_dir: bool) -> None:
        new_children = _children(os.path.join(new_root, rel))
        old_children = _children(os.path.join(old_root, rel)) if old_is_dir else {}
        for name in sorted(set(new_children) | set(old_children)):
            path = rel + b"/" + name if rel else name
            n, o = new_children.get(name), old_children.get(name)
            if o is None:
                assert n is not None
                out.append(Change("A", shown(path)))
                if stat.S_ISDIR(n.st_mode):
                    added(path)
                continue
            if n is None:
                out.append(Change("D", shown(path)))
                continue
            mark = len(out)
            changed = stat_different(o, n) or _capability(
                os.path.join(old_root, path)
            ) != _capability(os.path.join(new_root, path))
            if stat.S_ISDIR(n.st_mode):
                walk(path, stat.S_ISDIR(o.st_mode))
            if changed or len(out) > mark:
                out.insert(mark, Change("C", shown(path)))

    walk(b"", True)
    return out
