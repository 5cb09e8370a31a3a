"""commit's hollow tar (content left out, copied from the tree) against the whole tar: the
same sha256, and apply_hollow makes the very layer dir and tar-split apply_layer makes of
write_tree_tar's tar, for every kind of entry an overlay upper dir holds."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
from pathlib import Path

import pytest
from conftest import needs_root

from hood.core.errors import LayerError
from hood.layer.apply import apply_layer
from hood.layer.export import write_tree_tar
from hood.layer.hollow import apply_hollow, write_hollow_tar

CAP = bytes.fromhex(
    "01000002" + "00200000" + "00000000" + "00000000" + "00000000"
)  # v2 cap_net_raw


def _upper(root: Path) -> None:
    """An overlay upper dir as a container leaves it, every kind of entry in it."""
    root.mkdir()
    (root / "etc").mkdir(mode=0o755)
    (root / "etc" / "hosts").write_bytes(b"127.0.0.1 localhost\n")
    (root / "etc" / "empty").write_bytes(b"")
    (root / "etc" / "one-block").write_bytes(b"b" * 512)
    (root / "big").write_bytes(os.urandom(3 * (1 << 20) + 123))  # more than one read
    (root / "data").mkdir()
    for i in range(40):
        (root / "data" / f"f{i:02d}").write_bytes(os.urandom(i * 97))
    (root / "data" / ("long-" * 30)).write_bytes(b"a PAX path")
    (root / "data" / os.fsdecode(b"caf\xe9")).write_bytes(b"not UTF-8: name_raw in tar-split")
    (root / "data" / "sub").mkdir(mode=0o2750)
    (root / "data" / "sub" / "deep").write_bytes(b"deep")
    (root / "bin").mkdir()
    (root / "bin" / "tool").write_bytes(b"#!/bin/sh\n")
    os.chmod(root / "bin" / "tool", 0o4755)
    (root / "bin" / "sgid").write_bytes(b"g")
    os.chown(root / "bin" / "sgid", 1000, 50)
    os.chmod(root / "bin" / "sgid", 0o2711)
    os.link(root / "bin" / "tool", root / "bin" / "tool-link")  # a hard link
    os.link(root / "etc" / "empty", root / "data" / "empty-link")
    (root / "bin" / "ping").write_bytes(b"ping")
    os.setxattr(root / "bin" / "ping", "security.capability", CAP)
    (root / "none").write_bytes(b"no permissions")
    os.chmod(root / "none", 0o000)
    (root / "sticky").mkdir()
    os.chmod(root / "sticky", 0o1777)
    os.symlink("/etc/hosts", root / "abs-link")
    os.symlink("../etc/hosts", root / "data" / "rel-link")
    os.symlink("dangling", root / "dangle")
    os.lchown(root / "dangle", 1000, 1000)
    os.mkfifo(root / "fifo", 0o640)
    os.mknod(root / "removed", stat.S_IFCHR, 0)  # a whiteout: the file was deleted
    os.mknod(root / "data" / "gone", stat.S_IFCHR, 0)
    (root / "opaque").mkdir()
    os.setxattr(root / "opaque", "trusted.overlay.opaque", b"y")
    (root / "opaque" / "kept").write_bytes(b"k")
    (root / "ro").mkdir()
    (root / "ro" / "inside").write_bytes(b"i")
    os.chmod(root / "ro", 0o500)  # a read-only dir with a file in it
    for i, p in enumerate(sorted(root.rglob("*"), reverse=True)):
        os.utime(
            p,
            ns=(1_600_000_000_123_456_789 + i, 1_500_000_000_987_654_321 - i),
            follow_symlinks=False,
        )


_NOATIME = os.O_RDONLY | os.O_NOFOLLOW | os.O_NOATIME | os.O_CLOEXEC


def _names(root: Path, rel: str = "") -> list[str]:
    """Every name under root, depth first, read without touching a directory's atime."""
    fd = os.open(root / rel, _NOATIME | os.O_DIRECTORY)
    try:
        names = sorted(os.listdir(fd))
    finally:
        os.close(fd)
    out = []
    for name in names:
        sub = f"{rel}/{name}" if rel else name
        out.append(sub)
        if stat.S_ISDIR(os.lstat(root / sub).st_mode):
            out += _names(root, sub)
    return out


def _tree(root: Path) -> dict[str, tuple]:
    """Every entry's lstat fields (times too, but for the root's and the whiteouts', which
    no entry sets), xattrs, link target and content, and which names share an inode.
    Nothing is read before its lstat, nor so that an atime changes."""
    out: dict[str, tuple] = {}
    inodes: dict[int, str] = {}
    for rel in ["", *_names(root)]:
        p = root / rel
        st = os.lstat(p)
        if stat.S_ISREG(st.st_mode):
            fd = os.open(p, _NOATIME)
            with open(fd, "rb") as f:
                what: object = f.read()
        elif stat.S_ISLNK(st.st_mode):
            what = os.readlink(p)
        else:
            what = None
        names = os.listxattr(p, follow_symlinks=False)
        xattrs = sorted((k, os.getxattr(p, k, follow_symlinks=False)) for k in names)
        first = inodes.setdefault(st.st_ino, rel) if not stat.S_ISDIR(st.st_mode) else rel
        size = 0 if stat.S_ISDIR(st.st_mode) else st.st_size
        whiteout = stat.S_ISCHR(st.st_mode) and st.st_rdev == 0  # made now, times unset
        times = (st.st_mtime_ns, st.st_atime_ns) if rel and not whiteout else ()
        out[rel or "."] = (
            st.st_mode, st.st_uid, st.st_gid, size, st.st_nlink, st.st_rdev,
            times, xattrs, what, first,
        )  # fmt: skip
    return out


@needs_root
def test_hollow_gives_the_layer_apply_layer_gives(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    _upper(upper)
    whole = io.BytesIO()
    write_tree_tar(upper, whole)
    hollow = io.BytesIO()
    digest = write_hollow_tar(upper, hollow)
    assert digest == hashlib.sha256(whole.getvalue()).hexdigest()
    assert len(hollow.getvalue()) < len(whole.getvalue()) - 3 * (1 << 20)

    by_tar, by_hollow = tmp_path / "by-tar", tmp_path / "by-hollow"
    by_tar.mkdir()
    by_hollow.mkdir()
    ts_tar, ts_hollow = io.BytesIO(), io.BytesIO()
    want = apply_layer(io.BytesIO(whole.getvalue()), by_tar, tar_split=ts_tar)
    got = apply_hollow(io.BytesIO(hollow.getvalue()), by_hollow, upper, tar_split=ts_hollow)

    assert (got.size, got.entries, got.skipped) == (want.size, want.entries, want.skipped)
    assert ts_hollow.getvalue() == ts_tar.getvalue()
    assert gzip.decompress(ts_hollow.getvalue()) == gzip.decompress(ts_tar.getvalue())
    tree_tar, tree_hollow = _tree(by_tar), _tree(by_hollow)
    assert tree_hollow == tree_tar
    # What the layer must hold, so the comparison above compares something.
    assert stat.S_ISCHR(tree_tar["removed"][0]) and tree_tar["removed"][5] == 0
    assert ("trusted.overlay.opaque", b"y") in tree_tar["opaque"][7]
    assert ("security.capability", CAP) in tree_tar["bin/ping"][7]
    assert tree_tar["bin/tool-link"][9] == "bin/tool" and tree_tar["bin/tool"][0] == 0o104755
    assert tree_tar["ro"][0] == 0o040500 and stat.S_ISFIFO(tree_tar["fifo"][0])
    assert tree_tar["big"][8] == (upper / "big").read_bytes()
    assert tree_tar["data/f07"][6] == (1_500_000_000_000_000_000, 1_500_000_000_000_000_000)


@needs_root
def test_a_source_that_is_no_longer_there_is_one_clear_error(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    upper.mkdir()
    (upper / "a").mkdir()
    (upper / "a" / "file").write_bytes(b"content")
    hollow = io.BytesIO()
    write_hollow_tar(upper, hollow)
    (upper / "a" / "file").unlink()
    (upper / "a" / "file").symlink_to("/etc/passwd")  # never followed
    target = tmp_path / "target"
    target.mkdir()
    with pytest.raises(LayerError, match=r"^entry 'a/file': cannot open its source: "):
        apply_hollow(io.BytesIO(hollow.getvalue()), target, upper, tar_split=None)


def test_an_empty_upper_dir_is_docker_s_empty_layer(tmp_path: Path) -> None:
    upper, target = tmp_path / "upper", tmp_path / "target"
    upper.mkdir()
    target.mkdir()
    hollow = io.BytesIO()
    digest = write_hollow_tar(upper, hollow)
    assert digest == "5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
    applied = apply_hollow(io.BytesIO(hollow.getvalue()), target, upper, tar_split=None)
    assert (applied.size, applied.entries, os.listdir(target)) == (0, 0, [])
