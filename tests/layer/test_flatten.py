"""flatten() gives the tree overlayfs shows for the same layers."""

from __future__ import annotations

import io
import os
import stat
import subprocess
from pathlib import Path

import pytest
from conftest import needs_root
from layer_helpers import TarBuilder, diff_trees, tree

from hood.layer.apply import apply_layer
from hood.layer.flatten import flatten


def extract(base: Path, name: str, layer: bytes) -> Path:
    d = base / name
    d.mkdir()
    apply_layer(io.BytesIO(layer), d, tar_split=None)
    return d


def layers() -> list[bytes]:
    lower = (
        TarBuilder()
        .dir("etc")
        .file("etc/a", b"a")
        .file("etc/b", b"b")
        .dir("var")
        .symlink("var/run", "/run")
        .dir("run")
        .file("h1", b"linked", mode=0o4755, uid=3, gid=4)
        .hardlink("h2", "h1", mode=0o4755, uid=3, gid=4)
        .dir("opq")
        .file("opq/old", b"old")
        .dir("opq/olddir")
        .dir("gone")
        .file("gone/x", b"x")
        .dir("becomes_file")
        .file("becomes_file/inner", b"i")
        .file("becomes_dir", b"f")
        .fifo("fifo")
        .bytes()
    )
    upper = (
        TarBuilder()
        .file("etc/.wh.a")
        .file("etc/c", b"c")
        .file("var/run/app.pid", b"1")  # lower var/run is a symlink: replaced by a dir
        .dir("opq", mode=0o700)
        .file("opq/.wh..wh..opq")
        .file("opq/new", b"new")
        .file(".wh.gone")
        .file("becomes_file", b"now a file")
        .dir("becomes_dir")
        .file("becomes_dir/z", b"z")
        .bytes()
    )
    top = TarBuilder().file("etc/b", b"B2", mode=0o600).file("gone/again", b"g").bytes()
    return [lower, upper, top]


@needs_root
def test_flatten_applies_whiteouts_and_opaque_dirs(tmp_path):
    dirs = [extract(tmp_path, f"l{i}", data) for i, data in enumerate(layers())]
    dest = tmp_path / "flat"
    dest.mkdir()
    assert flatten(dirs, dest) == []
    assert not (dest / "etc/a").exists()
    assert (dest / "etc/b").read_bytes() == b"B2"
    assert stat.S_IMODE(os.lstat(dest / "etc/b").st_mode) == 0o600
    assert (dest / "etc/c").read_bytes() == b"c"
    assert not os.path.islink(dest / "var/run")
    assert (dest / "var/run/app.pid").read_bytes() == b"1"
    assert sorted(os.listdir(dest / "opq")) == ["new"]
    assert stat.S_IMODE(os.lstat(dest / "opq").st_mode) == 0o700
    assert os.listdir(dest / "gone") == ["again"]
    assert (dest / "becomes_file").read_bytes() == b"now a file"
    assert os.listdir(dest / "becomes_dir") == ["z"]
    h1, h2 = os.lstat(dest / "h1"), os.lstat(dest / "h2")
    assert h1.st_ino == h2.st_ino and stat.S_IMODE(h1.st_mode) == 0o4755 and h1.st_uid == 3
    assert stat.S_ISFIFO(os.lstat(dest / "fifo").st_mode)
    for dirpath, dirnames, filenames in os.walk(dest):
        for n in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, n))
            assert not (stat.S_ISCHR(st.st_mode) and st.st_rdev == 0), "whiteout leaked"
            assert not any(
                k.startswith("trusted.overlay")
                for k in os.listxattr(os.path.join(dirpath, n), follow_symlinks=False)
            )


@needs_root
def test_flatten_equals_overlayfs_mount(tmp_path):
    dirs = [extract(tmp_path, f"l{i}", data) for i, data in enumerate(layers())]
    dest = tmp_path / "flat"
    dest.mkdir()
    flatten(dirs, dest)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    lower = ":".join(str(d) for d in reversed(dirs))
    res = subprocess.run(
        ["mount", "-t", "overlay", "overlay", "-o", f"lowerdir={lower}", str(mnt)],
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        pytest.skip(f"overlayfs not available: {res.stderr}")
    try:
        merged = tree(mnt, xattrs=False)
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
    flat = tree(dest, xattrs=False)
    # the root dir itself is not part of either listing; implied dirs have run-time mtimes
    assert diff_trees(merged, flat) == []


def test_flatten_never_follows_symlinks_out(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    lower = TarBuilder().symlink("d", str(outside)).symlink("f", str(outside / "f")).bytes()
    upper = TarBuilder().file("d/x", b"pwned").file("f", b"replaced").bytes()
    dirs = [extract(tmp_path, "l0", lower), extract(tmp_path, "l1", upper)]
    dest = tmp_path / "flat"
    dest.mkdir()
    flatten(dirs, dest)
    assert os.listdir(outside) == []
    assert (dest / "d/x").read_bytes() == b"pwned" and not os.path.islink(dest / "d")
    assert (dest / "f").read_bytes() == b"replaced" and not os.path.islink(dest / "f")


def _rootless(work: Path) -> dict:
    """Apply a lower and an upper layer and flatten them without any privilege; returns
    what a caller needs to check. As root, this runs in a forked child that drops to
    nobody (65534, no groups, so no capabilities), as `setpriv --reuid` would."""
    from hood.layer.verify import tree_problems

    lower = TarBuilder().file("secret", b"s").dir("opq").file("opq/old", b"o").bytes()
    upper = (
        TarBuilder()
        .file(".wh.secret")
        .dir("opq")
        .file("opq/.wh..wh..opq")
        .file("opq/new", b"n")
        .bytes()
    )

    def run() -> dict:
        l0, l1, dest = work / "l0", work / "l1", work / "flat"
        for d in (l0, l1, dest):
            d.mkdir()
        apply_layer(io.BytesIO(lower), l0, tar_split=None)
        with open(work / "ts1", "wb") as ts:
            applied = apply_layer(io.BytesIO(upper), l1, tar_split=ts)
        st = os.lstat(l1 / "secret")
        skipped = flatten([l0, l1], dest)
        return {
            "uid": os.geteuid(),
            "apply_skipped": applied.skipped,
            "whiteout": stat.S_ISCHR(st.st_mode) and st.st_rdev == 0,
            "opaque": os.getxattr(l1 / "opq", "user.overlay.opaque").decode(),
            "problems": tree_problems(work / "ts1", l1),
            "flat": sorted(os.listdir(dest)),
            "flat_opq": sorted(os.listdir(dest / "opq")),
            "flat_skipped": skipped,
        }

    if os.geteuid() != 0:
        return run()
    import json

    from isal import igzip  # imported lazily by apply/verify; nobody cannot read it

    assert igzip
    os.chown(work, 65534, 65534)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            os.close(r)
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
            os.write(w, json.dumps(run()).encode())
            code = 0
        except BaseException as exc:
            os.write(w, json.dumps({"error": repr(exc)}).encode())
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        out = json.loads(f.read())
    os.waitpid(pid, 0)
    assert "error" not in out, out["error"]
    return out


def test_rootless_whiteouts_and_opaque_dirs():
    import shutil
    import tempfile

    work = Path(tempfile.mkdtemp(prefix="hood-rootless-"))  # pytest's tmp is 0700 root's
    try:
        out = _rootless(work)
    finally:
        shutil.rmtree(work)
    assert out["uid"] != 0
    if out["apply_skipped"]:
        pytest.skip(f"kernel refuses unprivileged whiteouts: {out['apply_skipped']}")
    assert out["whiteout"] and out["opaque"] == "y"
    assert out["problems"] == []
    assert out["flat"] == ["opq"], "a whited-out file came back"
    assert out["flat_opq"] == ["new"], "an opaque dir showed lower content"
    assert out["flat_skipped"] == []


def test_flatten_takes_the_depth_apply_takes_with_few_fds(tmp_path):
    import resource

    from hood.core.errors import LayerError
    from hood.layer.beneath import MAX_DEPTH

    deep = "/".join(["d"] * (MAX_DEPTH - 1))
    lower = TarBuilder().file(f"{deep}/f", b"deep").file("x", b"x").bytes()
    upper = TarBuilder().file(f"{deep}/.wh.f").bytes()
    dirs = [extract(tmp_path, "l0", lower), extract(tmp_path, "l1", upper)]
    dest = tmp_path / "flat"
    dest.mkdir()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))  # not one fd per level
    try:
        flatten(dirs, dest)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert os.listdir(dest / deep) == []
    assert (dest / "x").read_bytes() == b"x"
    # One level more than apply_layer takes is refused.
    too = tmp_path / "too"
    (too / deep / "d" / "e").mkdir(parents=True)
    with pytest.raises(LayerError, match=f"more than {MAX_DEPTH} path components"):
        flatten([too], tmp_path / "flat")
