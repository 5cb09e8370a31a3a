"""Hostile layers: every case is refused (LayerError naming the entry) or
contained in the target; the sentinel dir beside the target never changes."""

from __future__ import annotations

import gzip
import io
import os
import stat
import time

import pytest
from conftest import ROOT, needs_root
from layer_helpers import END, TarBuilder, gnu_long, raw_entry, raw_pax

from hood.core.errors import LayerError
from hood.layer.codecs import open_decompressed


def outcome(env, layer: bytes, **kw):
    """Apply; return the LayerError (or None), after checking the sentinel is untouched."""
    before = env.snapshot()
    err = None
    try:
        env.apply(layer, **kw)
    except LayerError as exc:
        err = exc
    assert env.snapshot() == before, "something outside the target changed"
    assert (env.sentinel / "victim").read_text() == "precious"
    return err


def refused(env, layer: bytes, entry: str, **kw) -> LayerError:
    err = outcome(env, layer, **kw)
    assert err is not None, "expected the layer to be refused"
    assert entry in str(err), f"error does not name {entry!r}: {err}"
    return err


@pytest.mark.parametrize("name", [b"../x", b"a/../../x", b"..", b"./../sentinel/victim"])
def test_names_climbing_out_are_refused(env, name):
    refused(env, raw_entry(name, b"evil") + END, name.decode())


@pytest.mark.parametrize(
    ("name", "lands"),
    [
        (b"/etc/passwd", "etc/passwd"),
        (b"/../x", "x"),
        (b"/../../sentinel/victim", "sentinel/victim"),
    ],
)
def test_absolute_names_are_relative_to_the_root(env, name, lands):
    assert outcome(env, raw_entry(name, b"data") + END) is None
    assert (env.target / lands).read_bytes() == b"data"


@pytest.mark.parametrize("name", [b"", b".", b"./", b"/"])
def test_root_names(env, name):
    # as a directory: metadata for the root itself; as a file: refused
    assert outcome(env, raw_entry(name, typeflag=b"5", mode=0o711) + END) is None
    assert stat.S_IMODE(os.lstat(env.target).st_mode) == 0o711
    err = outcome(env, raw_entry(name, b"x") + END)
    assert err is not None


def test_long_names_carrying_dotdot(env):
    refused(env, gnu_long(b"L", b"../" * 50 + b"x") + raw_entry(b"short", b"e") + END, "../")
    refused(env, raw_pax({b"path": b"a/../../x"}) + raw_entry(b"short", b"e") + END, "a/../../x")
    refused(
        env,
        gnu_long(b"K", b"../../sentinel/victim") + raw_entry(b"hl", typeflag=b"1") + END,
        "hl",
    )


def test_symlink_to_outside_then_write_through(env):
    layer = TarBuilder().symlink("out", str(env.sentinel)).file("out/victim", b"pwned").bytes()
    refused(env, layer, "out/victim")
    rel = TarBuilder().symlink("out", "../sentinel").file("out/new", b"pwned").bytes()
    refused(env, rel, "out/new")
    assert not (env.sentinel / "new").exists()


@pytest.mark.parametrize("name", [".", "/", ".."])
def test_symlinks_named_dot_slash_dotdot(env, name):
    layer = TarBuilder().symlink(name, str(env.sentinel)).file("victim", b"pwned").bytes()
    err = outcome(env, layer)
    assert err is not None
    assert os.path.isdir(env.target) and not os.path.islink(env.target)


def test_symlink_chains_are_stored_not_followed(env):
    layer = (
        TarBuilder()
        .symlink("a", "b")
        .symlink("b", "c")
        .symlink("c", str(env.sentinel))
        .file("a/victim", b"pwned")
        .bytes()
    )
    refused(env, layer, "a/victim")


def test_dir_replaced_by_symlink_then_written_through(env):
    layer = (
        TarBuilder()
        .dir("d")
        .file("d/f", b"ok")
        .symlink("d", str(env.sentinel))
        .file("d/victim", b"pwned")
        .bytes()
    )
    refused(env, layer, "d/victim")


def test_a_file_replaces_what_had_its_name(env):
    layer = (
        TarBuilder()
        .file("f", b"first")
        .file("f", b"second")
        .symlink("s", str(env.sentinel / "victim"))
        .file("s", b"not through the link")
        .dir("d")
        .file("d/inner", b"gone with d")
        .file("d", b"a file now")
        .bytes()
    )
    before = env.snapshot()
    env.apply(layer)
    assert env.snapshot() == before
    assert (env.sentinel / "victim").read_text() == "precious"
    assert (env.target / "f").read_bytes() == b"second"
    assert not (env.target / "s").is_symlink() and (env.target / "s").read_bytes() == b"not through the link"
    assert (env.target / "d").read_bytes() == b"a file now"


@pytest.mark.parametrize(
    "target",
    ["../sentinel/victim", "/../sentinel/victim", "sym/victim", "missing", "later"],
)
def test_hardlinks(env, target):
    layer = TarBuilder().symlink("sym", str(env.sentinel)).hardlink("hl", target)
    layer.file("later", b"too late")
    err = outcome(env, layer.bytes())
    assert err is not None and "hl" in str(err)


def test_absolute_hardlink_target_is_inside(env):
    layer = TarBuilder().file("etc/f", b"x").hardlink("hl", "/etc/f").bytes()
    assert outcome(env, layer) is None
    assert os.lstat(env.target / "hl").st_ino == os.lstat(env.target / "etc/f").st_ino


def test_hardlink_to_symlink_then_chmod_does_not_follow(env):
    victim = env.sentinel / "victim"
    os.chmod(victim, 0o644)
    layer = (
        TarBuilder().symlink("s", str(victim)).hardlink("hl", "s", mode=0o777, uid=1, gid=1).bytes()
    )
    assert outcome(env, layer) is None
    assert stat.S_IMODE(os.stat(victim).st_mode) == 0o644
    assert os.lstat(env.target / "hl").st_ino == os.lstat(env.target / "s").st_ino


def test_metadata_on_symlinks_never_follows(env):
    victim = env.sentinel / "victim"
    os.chmod(victim, 0o644)
    t = TarBuilder()
    t.symlink("s", str(victim), uid=4321, gid=4321, mtime=12345)
    info_pax = {"SCHILY.xattr.user.evil": "x", "SCHILY.xattr.trusted.evil": "x"}
    import tarfile

    ti = tarfile.TarInfo("s2")
    ti.type = tarfile.SYMTYPE
    ti.linkname = str(victim)
    ti.pax_headers = info_pax
    t.tf.addfile(ti)
    assert outcome(env, t.bytes()) is None
    st = os.lstat(env.target / "s")
    assert st.st_mtime == 12345
    if ROOT:
        assert st.st_uid == 4321
    assert os.stat(victim).st_uid == os.stat(env.sentinel).st_uid
    assert os.listxattr(victim) == []


@pytest.mark.parametrize("name", [".wh.", ".wh..", ".wh...", "dir/.wh..", "dir/.wh..."])
def test_bad_whiteouts(env, name):
    layer = TarBuilder().dir("dir").file(name).bytes()
    refused(env, layer, name)


def test_whiteouts_through_symlinks(env):
    for name in ["sym/.wh.victim", "sym/.wh..wh..opq"]:
        layer = TarBuilder().symlink("sym", str(env.sentinel)).file(name).bytes()
        refused(env, layer, name)
        assert os.listxattr(env.sentinel) == []
        for p in env.target.iterdir():
            (p.unlink() if p.is_symlink() or not p.is_dir() else None)


@needs_root
def test_opaque_marker_order_vs_siblings(env):
    # marker after siblings must not delete them (they are this layer's content)
    layer = TarBuilder().dir("d").file("d/a", b"a").file("d/.wh..wh..opq").file("d/b", b"b")
    env.apply(layer.bytes())
    assert (env.target / "d/a").read_bytes() == b"a"
    assert (env.target / "d/b").read_bytes() == b"b"
    assert os.getxattr(env.target / "d", "trusted.overlay.opaque") == b"y"


@needs_root
def test_whiteout_of_a_path_this_layer_creates_is_refused(env):
    refused(env, TarBuilder().file("a", b"x").file(".wh.a").bytes(), ".wh.a")


def test_tar_cannot_set_overlay_xattrs(env):
    import tarfile

    t = TarBuilder()
    ti = tarfile.TarInfo("d")
    ti.type = tarfile.DIRTYPE
    ti.pax_headers = {
        "SCHILY.xattr.trusted.overlay.redirect": "/etc",
        # what a rootless unpack uses as the opaque marker (overlayfs `userxattr`)
        "SCHILY.xattr.user.overlay.opaque": "y",
    }
    t.tf.addfile(ti)
    for is_root in (None, False):
        result = env.apply(t.bytes(), is_root=is_root)
        for key in ("trusted.overlay.redirect", "user.overlay.opaque"):
            assert key not in os.listxattr(env.target / "d")
            assert any(key in s for s in result.skipped)


def test_path_changes_type_many_times(env):
    layer = TarBuilder().file("p").dir("p").file("p/x").symlink("p", "/etc").fifo("p").bytes()
    assert outcome(env, layer) is None
    assert stat.S_ISFIFO(os.lstat(env.target / "p").st_mode)


def test_huge_xattr_is_refused(env):
    import tarfile

    t = TarBuilder()
    ti = tarfile.TarInfo("f")
    ti.pax_headers = {"SCHILY.xattr.user.big": "x" * 70000}
    t.tf.addfile(ti)
    err = outcome(env, t.bytes())
    assert err is not None and "'f'" in str(err)


def test_limits(env):
    many = TarBuilder()
    for i in range(20):
        many.file(f"f{i}")
    refused(env, many.bytes(), "f10", max_entries=10)
    refused(env, TarBuilder().file("x" * 300).bytes(), "x" * 100, max_path=200)
    refused(env, TarBuilder().file("/".join("d" * 30)).bytes(), "d/d", max_depth=20)
    refused(env, raw_pax({b"comment": b"c" * 5000}) + raw_entry(b"f") + END, "", max_pax_size=4096)
    refused(env, TarBuilder().file("big", b"b" * 10000).bytes(), "big", max_total_size=5000)
    slow = TarBuilder()
    for i in range(600):
        slow.file(f"s{i}")
    err = outcome(env, slow.bytes(), max_seconds=0.0)
    assert err is not None and "longer than" in str(err)


def test_decompression_bomb_is_bounded(env):
    # 64 MiB of zeros in one file, compressed to ~64 KiB; the total-size limit stops it
    # without reading it all into memory.
    data = TarBuilder().file("bomb", bytes(64 << 20)).bytes()
    blob = gzip.compress(data, compresslevel=1)
    stream = open_decompressed(io.BytesIO(blob), "gzip")
    started = time.monotonic()
    before = env.snapshot()
    with pytest.raises(LayerError, match="bomb"):
        from hood.layer.apply import ApplyOptions, apply_layer

        apply_layer(
            stream, env.target, tar_split=None, options=ApplyOptions(max_total_size=1 << 20)
        )
    assert time.monotonic() - started < 5
    assert env.snapshot() == before


def test_rootless_devices_are_skipped_and_said(env):
    layer = TarBuilder().chardev("dev/null", 1, 3).file("x", b"1").bytes()
    result = env.apply(layer, is_root=False)
    assert not (env.target / "dev/null").exists()
    assert any("dev/null" in s and "root" in s for s in result.skipped)


def test_var_run_symlink_in_lower_then_writes(env):
    # The usual real-world case: var/run -> /run comes from a lower layer; this layer's
    # diff dir does not have it, so var/run is an implied directory here.
    layer = TarBuilder().file("var/run/app.pid", b"1").bytes()
    assert outcome(env, layer) is None
    assert (env.target / "var/run/app.pid").read_bytes() == b"1"


def test_zero_block_then_garbage_is_refused(env):
    layer = raw_entry(b"a", b"x") + bytes(512) + raw_entry(b"b", b"y") + END
    assert outcome(env, layer) is not None


class _PaxChain(io.RawIOBase):
    """A stream of `n` chained 256 KiB PAX headers and then one file, generated as read."""

    def __init__(self, n: int) -> None:
        self.left = n
        self.buf = b""
        self.done = False

    def readable(self) -> bool:
        return True

    def read(self, k: int = -1) -> bytes:
        while (k < 0 or len(self.buf) < k) and not self.done:
            if self.left:
                self.left -= 1
                self.buf += raw_pax({b"comment": b"c" * (256 << 10)})
            else:
                self.buf += raw_entry(b"f", b"x") + END
                self.done = True
        if k < 0:
            k = len(self.buf)
        out, self.buf = self.buf[:k], self.buf[k:]
        return out


def test_chained_meta_headers_are_bounded(env):
    import tracemalloc

    from hood.layer.apply import apply_layer

    # 64 chained headers (16 MiB) would all be held until the entry arrives.
    tracemalloc.start()
    try:
        with pytest.raises(LayerError, match="entry #1 .*PAX/GNU"):
            apply_layer(_PaxChain(64), env.target, tar_split=io.BytesIO())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 6 << 20, f"peak {peak} bytes"
    # The number of headers is capped too, and the chain counts towards the total size.
    few = b"".join(raw_pax({b"comment": b"c"}) for _ in range(17))
    refused(env, few + raw_entry(b"f") + END, "entry #1")
    refused(
        env, raw_pax({b"comment": b"c" * 5000}) + raw_entry(b"f") + END, "#1", max_total_size=4096
    )
    # Within the caps: one PAX and two GNU headers before an entry are fine.
    ok = gnu_long(b"L", b"long" * 50) + gnu_long(b"K", b"t") + raw_pax({b"mtime": b"1"})
    assert outcome(env, ok + raw_entry(b"f", typeflag=b"2") + END) is None
    assert os.readlink(env.target / ("long" * 50)) == "t"


@pytest.mark.parametrize(
    ("records", "typeflag", "entry"),
    [
        ({b"path": b"a\x00b"}, b"0", "a\\x00b"),
        ({b"linkpath": b"t\x00u"}, b"2", "'f'"),
        ({b"linkpath": b"t\x00u"}, b"1", "'f'"),
        ({b"SCHILY.xattr.user.a\x00b": b"v"}, b"0", "'f'"),
    ],
)
def test_nul_in_pax_names_is_refused(env, records, typeflag, entry):
    err = refused(env, raw_pax(records) + raw_entry(b"f", typeflag=typeflag) + END, entry)
    assert "NUL" in str(err)
