"""Compare an extracted layer directory with what its tar says, entry by entry.

The tar headers come out of the layer's tar-split metadata (`tarsplit_headers`: one
pass, no content), what they say the directory holds is `expected_tree`'s, and one walk
of the directory here gives what is there. Content is not read here:
rebuilding the diff ID through tar-split (`iter_tar`: crc64 per file, sha256 of the
whole) already proves it.

What is compared is what the extraction (hood's `apply_layer`, or dockerd's overlay2
ApplyDiff, which do the same) leaves behind: each entry's type, permission bits
(setuid, setgid and sticky included), owner, size, symlink target, device numbers and
hardlink identity; a `.wh.NAME` entry as a 0/0 character device NAME; `.wh..wh..opq`
as `trusted.overlay.opaque=y` on its directory (`user.overlay.opaque=y` from an
extraction without root, not required then, as the filesystem may not take it); xattrs the tar carries. And nothing
may be in the directory that the tar does not name. Times are not compared.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from hood.core.errors import LayerError
from hood.layer.expected_tree import KIND_NAMES, ExpectedTree, Want, kind_of
from hood.layer.overlay import OPAQUE_XATTRS
from hood.layer.tarheader import GPAX
from hood.layer.tarsplit_headers import read_headers

DEFAULT_LIMIT = 100


def _show(rel: bytes) -> str:
    return os.fsdecode(rel)


@dataclass(frozen=True)
class Difference:
    """One way the directory is not what the tar says. `path` is relative to the layer
    root ("" for the layer as a whole); `what` says what differs."""

    path: str
    what: str

    def __str__(self) -> str:
        return f"{self.path}: {self.what}" if self.path else self.what


class _Report:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.lines: list[Difference] = []
        self.more = 0

    def add(self, path: str, what: str) -> None:
        if len(self.lines) < self.limit:
            self.lines.append(Difference(path, what))
        else:
            self.more += 1

    def result(self) -> list[Difference]:
        if self.more:
            return [*self.lines, Difference("", f"... and {self.more} more difference(s)")]
        return self.lines


def _mode(m: int) -> str:
    return f"{m:04o}"


def _get_xattr(path: bytes | int, key: str) -> bytes | None:
    try:
        return os.getxattr(path, key, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in (errno.ENODATA, errno.ENOTSUP, errno.EPERM, errno.EACCES):
            return None
        raise


def _compare(
    report: _Report, shown: str, want: Want, st: os.stat_result, path: bytes, as_root: bool
) -> None:
    kind = kind_of(st)
    if kind == "whiteout" and want.kind == "char":
        kind = "char"  # a 0/0 device the tar itself has; its numbers are compared below
    if kind != want.kind:
        report.add(shown, f"{KIND_NAMES[kind]}, the layer says {KIND_NAMES[want.kind]}")
        return
    if want.implicit:
        return
    if want.mode is not None and kind not in ("symlink", "whiteout"):
        mode = stat.S_IMODE(st.st_mode)
        if mode != want.mode:
            report.add(shown, f"mode {_mode(mode)}, the layer says {_mode(want.mode)}")
    if want.uid is not None and (st.st_uid, st.st_gid) != (want.uid, want.gid):
        report.add(shown, f"owner {st.st_uid}:{st.st_gid}, the layer says {want.uid}:{want.gid}")
    if want.size is not None and st.st_size != want.size:
        report.add(shown, f"size {st.st_size} bytes, the layer says {want.size}")
    if want.target is not None:
        target = os.readlink(path)
        if target != want.target:
            report.add(
                shown, f"symlink to {_show(target)!r}, the layer says {_show(want.target)!r}"
            )
    if want.dev is not None:
        dev = (os.major(st.st_rdev), os.minor(st.st_rdev))
        if dev != want.dev:
            report.add(
                shown, f"device {dev[0]}:{dev[1]}, the layer says {want.dev[0]}:{want.dev[1]}"
            )
    for key, value in want.xattrs.items():
        have = _get_xattr(path, key)
        if have != value:
            now = "missing" if have is None else repr(have)
            report.add(shown, f"xattr {key} is {now}, the layer says {value!r}")


def tree_problems(
    tar_split_path: Path,
    diff_dir: Path,
    *,
    as_root: bool | None = None,
    limit: int = DEFAULT_LIMIT,
) -> list[str]:
    """What differs between the layer directory `diff_dir` and the tar its tar-split
    metadata describes, one line per difference ("etc/passwd: mode 0644, the layer says
    0600"); empty when they agree. See `tree_differences`."""
    return [
        str(d) for d in tree_differences(tar_split_path, diff_dir, as_root=as_root, limit=limit)
    ]


def tree_differences(
    tar_split_path: Path,
    diff_dir: Path,
    *,
    as_root: bool | None = None,
    limit: int = DEFAULT_LIMIT,
) -> list[Difference]:
    """What differs between the layer directory `diff_dir` and the tar its tar-split
    metadata describes; empty when they agree. `as_root` (default: running as root on the
    host) says whether the extraction could set owners and make whiteouts, opaque markers
    and device nodes: without it those are not required (by default owners are, in a
    user namespace that maps subordinate ids). At most `limit` lines, then a count."""
    chown = as_root
    if as_root is None:
        from hood.core.privilege import can_chown, host_root

        as_root, chown = host_root(), can_chown()
    report = _Report(limit)
    expected = ExpectedTree(as_root, chown)
    try:
        _read_expected(expected, tar_split_path, report)
    except (LayerError, OSError, EOFError) as exc:
        return [Difference("", f"cannot read the layer's tar headers from {tar_split_path}: {exc}")]
    for shown, what in expected.problems:
        report.add(shown, what)
    expected.finish()
    want = expected.want

    root = os.fsencode(diff_dir)
    try:
        root_st = os.stat(root, follow_symlinks=False)
    except OSError as exc:
        what = f"cannot read the layer directory {diff_dir}: {exc.strerror}"
        return [*report.result(), Difference("", what)]
    if not stat.S_ISDIR(root_st.st_mode):
        return [*report.result(), Difference("", f"{diff_dir} is not a directory")]
    root_want = want.pop(b".", None)
    if root_want is not None:
        _compare(report, ".", root_want, root_st, root, as_root)
    _check_opaque(report, ".", root, root_want, as_root)
    seen = _compare_tree(report, root, want, as_root)
    _report_missing(report, want, seen)
    return report.result()


def _read_expected(expected: ExpectedTree, tar_split_path: Path, report: _Report) -> None:
    """Every header into `expected`; a size tar-split and the header disagree on, into
    `report`."""
    for header, recorded in read_headers(tar_split_path):
        rel_name = _show(header.name)
        if header.typeflag != GPAX and header.size != recorded:
            report.add(
                rel_name,
                f"tar-split records {recorded} content bytes, its header says {header.size}",
            )
        expected.add(header)


def _compare_tree(
    report: _Report, root: bytes, want: dict[bytes, Want], as_root: bool
) -> set[bytes]:
    """Everything under `root` compared with what `want` says of its path, not going into
    a directory the layer does not have; returns the paths `want` has that were found."""
    seen: set[bytes] = set()
    inode_of: dict[int, tuple[tuple[int, int], bytes]] = {}  # id(want) -> first inode
    want_at: dict[tuple[int, int], tuple[int, bytes]] = {}  # inode -> (id(want), path)
    skip = len(root) + 1
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = dirpath[skip:]
        keep_dirs = []
        for name in dirnames + filenames:
            rel = rel_dir + b"/" + name if rel_dir else name
            path = dirpath + b"/" + name
            shown = _show(rel)
            st = os.stat(path, follow_symlinks=False)
            w = want.get(rel)
            if w is None:
                what = KIND_NAMES[kind_of(st)]
                report.add(shown, f"{what} the layer does not have (added or renamed)")
                continue
            seen.add(rel)
            if w.kind == "dir" and stat.S_ISDIR(st.st_mode):
                keep_dirs.append(name)
                _check_opaque(report, shown, path, w, as_root)
            _compare(report, shown, w, st, path, as_root)
            if not stat.S_ISDIR(st.st_mode):
                _check_links(report, shown, rel, w, st, inode_of, want_at)
        dirnames[:] = [d for d in dirnames if d in keep_dirs]
    return seen


def _report_missing(report: _Report, want: dict[bytes, Want], seen: set[bytes]) -> None:
    """What the layer has and the directory does not (not what is inside a missing
    directory, nor what an extraction without root need not make)."""
    missing = sorted(rel for rel, w in want.items() if rel not in seen and not w.optional)
    reported: set[bytes] = set()
    for rel in missing:
        if any(rel[:i] in reported for i in range(len(rel)) if rel[i : i + 1] == b"/"):
            continue  # inside a missing directory already named
        reported.add(rel)
        report.add(_show(rel), f"missing, the layer has {KIND_NAMES[want[rel].kind]} there")


def _check_opaque(
    report: _Report, shown: str, path: bytes, want: Want | None, as_root: bool
) -> None:
    """Either marker (trusted: root; user: rootless) makes a directory opaque. Without
    root a missing marker is not required (the filesystem may not take user xattrs)."""
    marked = [key for key in OPAQUE_XATTRS if _get_xattr(path, key) == b"y"]
    wanted = want is not None and want.opaque
    if wanted and not marked and as_root:
        report.add(
            shown, f"the layer makes this directory opaque, but {OPAQUE_XATTRS[0]}=y is not set"
        )
    elif marked and not wanted:
        report.add(
            shown,
            f"has {marked[0]}=y (hides the layers below), the layer does not make it opaque",
        )


def _check_links(
    report: _Report,
    shown: str,
    rel: bytes,
    want: Want,
    st: os.stat_result,
    inode_of: dict[int, tuple[tuple[int, int], bytes]],
    want_at: dict[tuple[int, int], tuple[int, bytes]],
) -> None:
    inode = (st.st_dev, st.st_ino)
    if want.names > 1:
        first = inode_of.setdefault(id(want), (inode, rel))
        if first[0] != inode:
            report.add(shown, f"not the same file as {_show(first[1])}, the layer hardlinks them")
    if st.st_nlink > 1:
        other = want_at.setdefault(inode, (id(want), rel))
        if other[0] != id(want):
            report.add(
                shown,
                f"the same file as {_show(other[1])} (hardlinked), the layer has "
                "them as separate files",
            )
