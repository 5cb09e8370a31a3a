"""tree_problems: an extracted layer dir against the headers its tar-split metadata holds."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tarfile
import time
from pathlib import Path

import pytest
from conftest import needs_root
from layer_helpers import END, TarBuilder, gnu_long, pax_record, raw_entry, raw_pax

from hood.layer.apply import apply_layer
from hood.layer.tarsplit_headers import read_headers
from hood.layer.verify import tree_problems


class Layer:
    """A tar applied to `diff/` with its tar-split in `tar-split.json.gz`."""

    def __init__(self, base: Path, data: bytes) -> None:
        self.diff = base / "diff"
        self.diff.mkdir()
        self.tar_split = base / "tar-split.json.gz"
        with open(self.tar_split, "wb") as ts:
            apply_layer(io.BytesIO(data), self.diff, tar_split=ts)

    def problems(self, **kw) -> list[str]:
        return tree_problems(self.tar_split, self.diff, **kw)

    def p(self, rel: str) -> Path:
        return self.diff / rel


def rich(devices: bool = True) -> bytes:
    t = TarBuilder()
    t.dir("./", mode=0o755)
    t.dir("etc", mode=0o755)
    t.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", mode=0o600)
    t.file("etc/group", b"root:x:0:\n", mode=0o644, uid=0, gid=42)
    t.file("long/" + "n" * 200, b"long name through PAX")
    t.symlink("etc/rel", "passwd")
    t.hardlink("etc/passwd.lnk", "etc/passwd", mode=0o600)
    t.fifo("run.fifo", mode=0o600)
    t.file("usr/bin/sudo", b"\x7fELF", mode=0o4755)
    t.file("usr/bin/wall", b"\x7fELF", mode=0o2755, gid=5)
    t.dir("tmp", mode=0o1777)
    t.file("home/u/owned", b"o", uid=1234, gid=5678)
    t.file("empty", b"")
    if devices:
        t.chardev("dev/null", 1, 3, mode=0o666)
        t.blockdev("dev/loop0", 7, 0, mode=0o660)
    return t.bytes()


@pytest.fixture
def layer(tmp_path: Path) -> Layer:
    return Layer(tmp_path, rich(devices=os.geteuid() == 0))


def one(problems: list[str], *needles: str) -> str:
    assert len(problems) == 1, problems
    for needle in needles:
        assert needle in problems[0], problems
    return problems[0]


def test_clean_layer_has_no_problems(layer: Layer) -> None:
    assert layer.problems() == []


def test_headers_come_back_in_order(layer: Layer) -> None:
    names = [h.name for h, _ in read_headers(layer.tar_split)]
    assert names[:3] == [b"./", b"etc/", b"etc/passwd"]  # tarfile adds the slash
    assert b"long/" + b"n" * 200 in names  # PAX path merged in
    sizes = {h.name: (h.size, recorded) for h, recorded in read_headers(layer.tar_split)}
    assert sizes[b"etc/passwd"] == (30, 30)
    assert sizes[b"etc/passwd.lnk"] == (0, 0)


def test_mode_change(layer: Layer) -> None:
    os.chmod(layer.p("etc/passwd"), 0o644)
    # etc/passwd.lnk is the same inode: both names show it
    problems = layer.problems()
    assert "etc/passwd: mode 0644, the layer says 0600" in problems
    assert "etc/passwd.lnk: mode 0644, the layer says 0600" in problems


def test_setuid_dropped(layer: Layer) -> None:
    os.chmod(layer.p("usr/bin/sudo"), 0o755)
    one(layer.problems(), "usr/bin/sudo: mode 0755, the layer says 4755")


def test_sticky_dir(layer: Layer) -> None:
    os.chmod(layer.p("tmp"), 0o777)
    one(layer.problems(), "tmp: mode 0777, the layer says 1777")


def test_root_mode(layer: Layer) -> None:
    os.chmod(layer.diff, 0o700)
    one(layer.problems(), ".: mode 0700, the layer says 0755")


@needs_root
def test_owner_change(layer: Layer) -> None:
    os.chown(layer.p("home/u/owned"), 0, 0)
    one(layer.problems(), "home/u/owned: owner 0:0, the layer says 1234:5678")


@needs_root
def test_symlink_owner(layer: Layer) -> None:
    os.chown(layer.p("etc/rel"), 7, 7, follow_symlinks=False)
    one(layer.problems(), "etc/rel: owner 7:7")


def test_owners_not_required_without_root(layer: Layer) -> None:
    if os.geteuid() == 0:
        os.chown(layer.p("home/u/owned"), 0, 0)
    assert layer.problems(as_root=False) == []


def test_size_change(layer: Layer) -> None:
    with open(layer.p("etc/group"), "ab") as f:
        f.write(b"x")
    one(layer.problems(), "etc/group: size 11 bytes, the layer says 10")


def test_same_size_content_change_is_left_to_the_diff_id(layer: Layer) -> None:
    layer.p("etc/group").write_bytes(b"ROOT:x:0:\n")
    os.chown(layer.p("etc/group"), 0, 42) if os.geteuid() == 0 else None
    os.chmod(layer.p("etc/group"), 0o644)
    assert layer.problems() == []


def test_deleted_file(layer: Layer) -> None:
    layer.p("empty").unlink()
    one(layer.problems(), "empty: missing, the layer has a regular file there")


def test_deleted_dir_named_once(layer: Layer) -> None:
    shutil.rmtree(layer.p("home"))
    one(layer.problems(), "home: missing, the layer has a directory there")


def test_added_file(layer: Layer) -> None:
    layer.p("etc/extra").write_text("x")
    one(layer.problems(), "etc/extra: a regular file the layer does not have")


def test_added_dir_named_once(layer: Layer) -> None:
    (layer.p("new/deeper")).mkdir(parents=True)
    (layer.p("new/deeper/f")).write_text("x")
    one(layer.problems(), "new: a directory the layer does not have")


def test_renamed_file(layer: Layer) -> None:
    os.rename(layer.p("empty"), layer.p("empty2"))
    problems = layer.problems()
    assert len(problems) == 2, problems
    assert any(p.startswith("empty: missing") for p in problems)
    assert any(p.startswith("empty2: a regular file the layer does not have") for p in problems)


def test_type_change(layer: Layer) -> None:
    layer.p("run.fifo").unlink()
    layer.p("run.fifo").mkdir()
    one(layer.problems(), "run.fifo: a directory, the layer says a fifo")


def test_symlink_target(layer: Layer) -> None:
    layer.p("etc/rel").unlink()
    os.symlink("group", layer.p("etc/rel"))
    one(layer.problems(), "etc/rel: symlink to 'group', the layer says 'passwd'")


def test_hardlink_broken(layer: Layer) -> None:
    data = layer.p("etc/passwd").read_bytes()
    layer.p("etc/passwd.lnk").unlink()
    layer.p("etc/passwd.lnk").write_bytes(data)
    os.chmod(layer.p("etc/passwd.lnk"), 0o600)
    line = one(layer.problems(), "not the same file as", "the layer hardlinks them")
    assert "etc/passwd.lnk" in line and "etc/passwd:" in line + ":"


def test_hardlink_added(layer: Layer) -> None:
    layer.p("empty").unlink()
    os.link(layer.p("etc/group"), layer.p("empty"))
    problems = layer.problems()
    assert any("the same file as" in p and "separate files" in p for p in problems), problems


@needs_root
def test_device_numbers(layer: Layer) -> None:
    layer.p("dev/null").unlink()
    os.mknod(layer.p("dev/null"), 0o666 | 0o020000, os.makedev(1, 5))
    os.chmod(layer.p("dev/null"), 0o666)
    one(layer.problems(), "dev/null: device 1:5, the layer says 1:3")


@needs_root
def test_block_device_type(layer: Layer) -> None:
    layer.p("dev/loop0").unlink()
    os.mknod(layer.p("dev/loop0"), 0o660 | 0o020000, os.makedev(7, 0))
    os.chmod(layer.p("dev/loop0"), 0o660)
    one(layer.problems(), "dev/loop0: a character device, the layer says a block device")


def test_limit(layer: Layer) -> None:
    for i in range(10):
        layer.p(f"extra{i}").write_text("x")
    problems = layer.problems(limit=3)
    assert len(problems) == 4
    assert problems[-1] == "... and 7 more difference(s)"


def test_unreadable_tar_split(layer: Layer) -> None:
    layer.tar_split.write_bytes(b"not gzip")
    one(layer.problems(), "cannot read the layer's tar headers")


def test_missing_dir(tmp_path: Path) -> None:
    lay = Layer(tmp_path, rich(devices=False))
    shutil.rmtree(lay.diff)
    assert any("cannot read the layer directory" in p for p in lay.problems())


# --- whiteouts and opaque directories --------------------------------------------------


def whiteout_layer() -> bytes:
    t = TarBuilder()
    t.dir("a")
    t.file("a/.wh.gone")
    t.file("a/keep", b"k")
    t.file(".wh.dirgone", uid=3, gid=4)
    t.dir("opq", mode=0o750)
    t.file("opq/.wh..wh..opq")
    t.file("opq/z", b"z")
    t.file("implicit/parent/.wh.x")
    t.file("b/.wh..wh.plnk")  # AUFS metadata: ignored, but its parent is made
    return t.bytes()


@needs_root
def test_whiteouts_clean(tmp_path: Path) -> None:
    lay = Layer(tmp_path, whiteout_layer())
    assert lay.problems() == []


@needs_root
def test_whiteout_removed(tmp_path: Path) -> None:
    lay = Layer(tmp_path, whiteout_layer())
    lay.p("a/gone").unlink()
    one(lay.problems(), "a/gone: missing, the layer has a whiteout")


@needs_root
def test_whiteout_replaced_by_file(tmp_path: Path) -> None:
    lay = Layer(tmp_path, whiteout_layer())
    lay.p("dirgone").unlink()
    lay.p("dirgone").write_text("")
    one(lay.problems(), "dirgone: a regular file, the layer says a whiteout")


@needs_root
def test_whiteout_owner(tmp_path: Path) -> None:
    lay = Layer(tmp_path, whiteout_layer())
    os.chown(lay.p("dirgone"), 0, 0)
    one(lay.problems(), "dirgone: owner 0:0, the layer says 3:4")


@needs_root
def test_opaque_removed(tmp_path: Path) -> None:
    lay = Layer(tmp_path, whiteout_layer())
    os.removexattr(lay.p("opq"), "trusted.overlay.opaque")
    one(lay.problems(), "opq: the layer makes this directory opaque")


@needs_root
def test_opaque_added(tmp_path: Path) -> None:
    lay = Layer(tmp_path, whiteout_layer())
    os.setxattr(lay.p("a"), "trusted.overlay.opaque", b"y")
    one(lay.problems(), "a: has trusted.overlay.opaque=y", "does not make it opaque")


def test_whiteouts_not_required_without_root(tmp_path: Path) -> None:
    lay = Layer(tmp_path, whiteout_layer())
    for rel in ("a/gone", "dirgone", "implicit/parent/x"):
        if os.path.lexists(lay.p(rel)):
            os.unlink(lay.p(rel))
    assert lay.problems(as_root=False) == []


# --- what the extraction does with repeated names ---------------------------------------


def test_later_entries_replace_earlier(tmp_path: Path) -> None:
    t = TarBuilder()
    t.file("x", b"first", mode=0o600)
    t.file("x", b"second!", mode=0o644)
    t.dir("d")
    t.file("d/inner", b"i")
    t.file("d", b"now a file")  # replaces the directory and what was in it
    t.file("orig", b"o")
    t.hardlink("lnk", "orig")
    t.file("orig", b"replaced")  # lnk keeps the first inode
    lay = Layer(tmp_path, t.bytes())
    assert lay.problems() == []
    assert lay.p("x").read_bytes() == b"second!"


def test_repeated_directory_takes_the_last_mode(tmp_path: Path) -> None:
    t = TarBuilder()
    t.dir("d", mode=0o700)
    t.file("d/f", b"x")
    t.dir("d", mode=0o755)
    lay = Layer(tmp_path, t.bytes())
    assert lay.problems() == []


def test_hardlink_header_sets_the_shared_inode(tmp_path: Path) -> None:
    t = TarBuilder()
    t.file("orig", b"o", mode=0o600)
    t.hardlink("lnk", "orig", mode=0o640)
    lay = Layer(tmp_path, t.bytes())
    assert lay.problems() == []
    assert oct(os.stat(lay.p("orig")).st_mode & 0o7777) == "0o640"


def test_xattrs(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        ti = tarfile.TarInfo("f")
        ti.size = 1
        ti.pax_headers = {"SCHILY.xattr.user.hood": "yes"}
        tf.addfile(ti, io.BytesIO(b"x"))
    lay = Layer(tmp_path, buf.getvalue())
    try:
        os.getxattr(lay.p("f"), "user.hood")
    except OSError:
        pytest.skip("no user xattrs on this filesystem")
    assert lay.problems() == []
    os.setxattr(lay.p("f"), "user.hood", b"no")
    one(lay.problems(), "f: xattr user.hood is b'no', the layer says b'yes'")


# --- header formats --------------------------------------------------------------------


def test_gnu_and_ustar_prefix_and_gpax(tmp_path: Path) -> None:
    long = b"g" * 150
    gpax = raw_entry(b"pax_global_header", pax_record(b"comment", b"global"), b"g")
    data = (
        gpax
        + gnu_long(b"L", b"dir/" + long)
        + raw_entry(b"dir/short", b"gnu long name")
        + raw_entry(b"name", b"ustar prefix", prefix=b"pre/fix")
        + raw_pax({b"path": b"paxdir/" + long})
        + raw_entry(b"ignored", b"pax path")
        + END
        + b"trailing garbage after the end"
    )
    dirs = b"".join(
        raw_entry(name, typeflag=b"5", mode=0o755) for name in (b"dir/", b"pre/", b"pre/fix/")
    )
    lay = Layer(tmp_path, dirs + raw_entry(b"paxdir/", typeflag=b"5", mode=0o755) + data)
    names = [h.name for h, _ in read_headers(lay.tar_split)]
    assert b"dir/" + long in names and b"pre/fix/name" in names and b"paxdir/" + long in names
    assert lay.problems() == []
    (lay.diff / "dir" / long.decode()).unlink()
    one(lay.problems(), "dir/ggg", "missing")


def test_fast_enough(tmp_path: Path) -> None:
    t = TarBuilder(format=tarfile.GNU_FORMAT)
    for d in range(100):
        t.dir(f"d{d}")
        for f in range(200):
            t.file(f"d{d}/f{f}", b"x")
    lay = Layer(tmp_path, t.bytes())
    start = time.monotonic()
    assert lay.problems() == []
    elapsed = time.monotonic() - start
    assert elapsed < 5, f"20000 entries took {elapsed:.1f}s"


def test_rootless_opaque_marker(tmp_path: Path) -> None:
    # Without root the marker is user.overlay.opaque: accepted, not required, and
    # reported where the layer does not make the directory opaque.
    lay = Layer(tmp_path, whiteout_layer())
    for key in ("trusted.overlay.opaque", "user.overlay.opaque"):
        with contextlib.suppress(OSError):
            os.removexattr(lay.p("opq"), key)
    assert lay.problems(as_root=False) == []
    os.setxattr(lay.p("opq"), "user.overlay.opaque", b"y")
    assert lay.problems(as_root=False) == []
    os.setxattr(lay.p("a"), "user.overlay.opaque", b"y")
    one(lay.problems(as_root=False), "a: has user.overlay.opaque=y", "does not make it opaque")
