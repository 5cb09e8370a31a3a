"""apply_layer then assemble_tar gives back the exact tar; the tree matches GNU tar's."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import tarfile

import pytest
import zstandard
from conftest import ROOT, needs_root
from layer_helpers import (
    END,
    MTIME,
    TarBuilder,
    diff_trees,
    gnu_long,
    raw_entry,
    raw_pax,
    tree,
)

from hood.core.errors import LayerError
from hood.layer.apply import ApplyOptions, apply_layer
from hood.layer.codecs import open_decompressed
from hood.layer.tarsplit import assemble_tar, read_entries


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def rich_layer(devices: bool = True) -> bytes:
    t = TarBuilder()
    t.dir("./", mode=0o755)
    t.dir("etc").file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n" * 50, mode=0o644)
    t.file("etc/shadow", b"root:*:1::::::\n", mode=0o640, uid=0, gid=42)
    t.file("big.bin", os.urandom(3 * 1024 * 1024 + 17))
    t.file("deep/" + "/".join(["sub"] * 40) + "/f", b"deep")
    t.file("long/" + "n" * 200, b"long name via PAX")
    t.file("unicode-\u00e9\u4e2d.txt", b"u")
    t.symlink("etc/rel", "passwd").symlink("abs", "/etc/passwd").symlink("dangling", "../../nope")
    t.hardlink("etc/passwd.lnk", "etc/passwd")
    # absolute hardlink target: relative to the root; metadata as real tar writers put it
    t.hardlink("abs.lnk", "/etc/shadow", mode=0o640, gid=42)
    t.fifo("run.fifo", mode=0o600)
    t.file("usr/bin/sudo", b"\x7fELF...", mode=0o4755, uid=0, gid=0)
    t.file("usr/bin/wall", b"\x7fELF...", mode=0o2755, uid=0, gid=5)
    t.dir("tmp", mode=0o1777)
    t.file("owned", b"o", uid=1234, gid=5678)
    if devices:
        t.chardev("dev/null", 1, 3, mode=0o666).blockdev("dev/loop0", 7, 0, mode=0o660)
    info = tarfile.TarInfo("caps")
    info.size = 3
    info.mtime = MTIME
    info.pax_headers = {
        "SCHILY.xattr.security.capability": "\x01\x00\x00\x02\x00\x20\x00\x00"
        "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
        "SCHILY.xattr.user.note": "hello",
        "mtime": "1700000000.123456789",
    }
    t.tf.addfile(info, io.BytesIO(b"cap"))
    return t.bytes()


def compress(data: bytes, compression: str) -> bytes:
    if compression == "gzip":
        # two members: multi-member gzip must work
        half = len(data) // 2
        return gzip.compress(data[:half]) + gzip.compress(data[half:])
    if compression == "zstd":
        cctx = zstandard.ZstdCompressor()
        skippable = (0x184D2A50).to_bytes(4, "little") + (4).to_bytes(4, "little") + b"skip"
        half = len(data) // 2
        return skippable + cctx.compress(data[:half]) + cctx.compress(data[half:])
    return data


@pytest.mark.parametrize("compression", ["gzip", "gzip-unthreaded", "zstd", "none"])
@pytest.mark.parametrize("trailing", [b"", b"\0" * 9000, b"\0" * 100 + b"trailing garbage"])
def test_round_trip_is_byte_identical(env, tmp_path, compression, trailing):
    layer = rich_layer(devices=ROOT) + trailing
    hasher = hashlib.sha256()

    class Hashing(io.RawIOBase):
        def __init__(self, inner):
            self.inner = inner

        def read(self, n=-1):
            data = self.inner.read(n)
            hasher.update(data)
            return data

    threads = 0 if compression.endswith("-unthreaded") else 1
    compression = compression.split("-")[0]
    blob = io.BytesIO(compress(layer, compression))
    ts = io.BytesIO()
    result = apply_layer(
        Hashing(open_decompressed(blob, compression, threads=threads)),
        env.target,
        tar_split=ts,
        options=ApplyOptions(),
    )
    assert hasher.hexdigest() == sha(layer), "apply_layer must read the stream to its end"
    assert result.entries > 20
    path = tmp_path / "tar-split.json.gz"
    path.write_bytes(ts.getvalue())
    out = io.BytesIO()
    assemble_tar(path, env.target, out)
    assert sha(out.getvalue()) == sha(layer)


def test_size_is_du_of_the_diff_dir(env):
    layer = TarBuilder().file("a", b"12345").symlink("s", "abc").hardlink("h", "a").bytes()
    assert env.apply(layer).size == 5 + 3


def test_tree_matches_gnu_tar(env, tmp_path):
    layer = rich_layer(devices=ROOT)
    env.apply(layer)
    gnu = tmp_path / "gnu"
    gnu.mkdir()
    (tmp_path / "l.tar").write_bytes(layer)
    subprocess.run(
        [
            "tar",
            "-x",
            "-f",
            str(tmp_path / "l.tar"),
            "-C",
            str(gnu),
            "--xattrs",
            "--xattrs-include=*",
            "--same-owner",
            "-p",
            "--numeric-owner",
        ],
        check=True,
    )
    mine, theirs = tree(env.target), tree(gnu)
    # Implied parents get the current time from both. GNU tar also sets a dir's times
    # when it leaves it, so the later hardlink into etc/ bumps etc's mtime; we (like
    # dockerd) set dir times at the very end. Ignore those dir times.
    implied = {k for k in theirs if k.startswith(("deep", "long", "usr", "dev", "etc"))}
    for key in implied & set(mine):
        if stat.S_ISDIR(mine[key][0]):
            mine[key] = mine[key][:7] + (0,) + mine[key][8:]
            theirs[key] = theirs[key][:7] + (0,) + theirs[key][8:]
    assert diff_trees(theirs, mine) == []


def test_metadata(env):
    env.apply(rich_layer(devices=ROOT))
    t = env.target
    st = os.lstat(t / "usr/bin/sudo")
    assert stat.S_IMODE(st.st_mode) == 0o4755
    assert stat.S_IMODE(os.lstat(t / "tmp").st_mode) == 0o1777
    assert os.lstat(t / "tmp").st_mtime_ns == MTIME * 10**9
    assert os.lstat(t / "caps").st_mtime_ns == 1700000000_123456789
    assert os.readlink(t / "abs") == "/etc/passwd"
    assert os.lstat(t / "abs.lnk").st_ino == os.lstat(t / "etc/shadow").st_ino
    assert stat.S_ISFIFO(os.lstat(t / "run.fifo").st_mode)
    assert os.getxattr(t / "caps", "user.note") == b"hello"
    if ROOT:
        assert os.lstat(t / "owned").st_uid == 1234
        assert os.lstat(t / "owned").st_gid == 5678
        dev = os.lstat(t / "dev/null")
        assert stat.S_ISCHR(dev.st_mode) and dev.st_rdev == os.makedev(1, 3)
        assert stat.S_ISBLK(os.lstat(t / "dev/loop0").st_mode)
        assert os.getxattr(t / "caps", "security.capability")[:4] == b"\x01\x00\x00\x02"


def test_devices_skipped_when_not_allowed(env):
    layer = TarBuilder().chardev("dev/null", 1, 3).file("x", b"1").bytes()
    result = env.apply(layer, allow_devices=False)
    assert not (env.target / "dev/null").exists()
    assert any("dev/null" in s for s in result.skipped)


@needs_root
def test_whiteouts_become_overlay_whiteouts(env):
    layer = (
        TarBuilder()
        .dir("etc")
        .file("etc/.wh.hosts")
        .dir("var/lib")
        .file("var/lib/.wh..wh..opq")
        .file("var/lib/kept", b"k")
        .file(".wh..wh.plnk")
        .file("implied/.wh.x")
        .bytes()
    )
    env.apply(layer)
    wh = os.lstat(env.target / "etc/hosts")
    assert stat.S_ISCHR(wh.st_mode) and wh.st_rdev == 0
    assert os.getxattr(env.target / "var/lib", "trusted.overlay.opaque") == b"y"
    assert (env.target / "var/lib/kept").read_bytes() == b"k"
    assert not (env.target / ".wh..wh.plnk").exists()
    assert not (env.target / "etc/.wh.hosts").exists()
    assert stat.S_ISCHR(os.lstat(env.target / "implied/x").st_mode)
    # the whiteout entries are in tar-split, and the layer still reassembles
    names = [e.name for e in read_entries(io.BytesIO(gzip.decompress(env.tar_split.getvalue())))]
    assert b"etc/.wh.hosts" in names and b"var/lib/.wh..wh..opq" in names
    out = io.BytesIO()
    ts_path = env.base / "ts.gz"
    ts_path.write_bytes(env.tar_split.getvalue())
    assemble_tar(ts_path, env.target, out)
    assert out.getvalue() == layer


def test_type_changes_within_a_layer(env):
    layer = (
        TarBuilder()
        .file("p")
        .dir("p")
        .file("p/inner", b"")
        .symlink("p", "/etc")
        .fifo("p")
        .file("q", b"")
        .dir("q")
        .bytes()
    )
    env.apply(layer)
    assert stat.S_ISFIFO(os.lstat(env.target / "p").st_mode)
    assert stat.S_ISDIR(os.lstat(env.target / "q").st_mode)
    ts_path = env.base / "ts.gz"
    ts_path.write_bytes(env.tar_split.getvalue())
    out = io.BytesIO()
    assemble_tar(ts_path, env.target, out)
    assert out.getvalue() == layer


def test_replaced_content_file_is_reported_by_assemble(env):
    layer = TarBuilder().file("p", b"content").dir("p").bytes()
    env.apply(layer)
    ts_path = env.base / "ts.gz"
    ts_path.write_bytes(env.tar_split.getvalue())
    with pytest.raises(LayerError, match="'p'"):
        assemble_tar(ts_path, env.target, io.BytesIO())


def test_gnu_and_pax_long_names_and_global_headers(env):
    name = b"g/" + b"x" * 180
    link = b"t" * 150
    layer = (
        gnu_long(b"L", name)
        + raw_entry(b"short", b"data")
        + gnu_long(b"K", link)
        + raw_entry(b"sym", typeflag=b"2")
        + raw_pax({b"comment": b"global"}, b"pax_global_header").replace(b"0x", b"0g", 0)
        + raw_pax({b"path": b"pax/" + b"p" * 200, b"uid": b"7", b"mtime": b"5.5"})
        + raw_entry(b"ignored-name", b"pax")
        + END
    )
    env.apply(layer)
    assert (env.target / os.fsdecode(name)).read_bytes() == b"data"
    assert os.readlink(env.target / "sym") == link.decode()
    p = env.target / ("pax/" + "p" * 200)
    assert p.read_bytes() == b"pax"
    assert os.lstat(p).st_mtime_ns == 5_500_000_000
    ts_path = env.base / "ts.gz"
    ts_path.write_bytes(env.tar_split.getvalue())
    out = io.BytesIO()
    assemble_tar(ts_path, env.target, out)
    assert out.getvalue() == layer


def test_non_utf8_names_use_name_raw(env):
    layer = raw_entry(b"caf\xe9", b"x") + raw_entry(b"ok", b"y") + END
    env.apply(layer)
    lines = gzip.decompress(env.tar_split.getvalue()).splitlines()
    objs = [json.loads(line) for line in lines]
    files = [o for o in objs if o["type"] == 1]
    assert "name_raw" in files[0] and "name" not in files[0]
    assert files[1]["name"] == "ok"
    ts_path = env.base / "ts.gz"
    ts_path.write_bytes(env.tar_split.getvalue())
    out = io.BytesIO()
    assemble_tar(ts_path, env.target, out)
    assert out.getvalue() == layer


def test_tar_split_fields(env):
    layer = TarBuilder().dir("d").file("d/f", b"hello").file("e", b"").bytes(trailing=b"xyz")
    env.apply(layer)
    text = gzip.decompress(env.tar_split.getvalue())
    assert text.endswith(b"\n")
    objs = [json.loads(line) for line in text.splitlines()]
    assert [o["position"] for o in objs] == list(range(len(objs)))
    for o in objs:
        assert o["type"] in (1, 2)
        if o["type"] == 2:
            assert list(o) == ["type", "payload", "position"]
    files = [o for o in objs if o["type"] == 1]
    assert files[0] == {"type": 1, "name": "d/", "payload": None, "position": 1}
    f = files[1]
    assert list(f) == ["type", "name", "size", "payload", "position"]
    from fastcrc import crc64

    assert f["size"] == 5
    import base64

    assert base64.b64decode(f["payload"]) == crc64.go_iso(b"hello").to_bytes(8, "big")
    assert "size" not in files[2] and files[2]["payload"] is None
    # the trailing bytes are a segment; dockerd ends with an empty one
    assert base64.b64decode(objs[-2]["payload"]).endswith(b"\0xyz")
    assert objs[-1]["payload"] == ""
    # and the raw bytes + file contents add up to the tar
    total = sum(len(base64.b64decode(o["payload"])) for o in objs if o["type"] == 2)
    assert total + 5 == len(layer)


def test_mutation_is_detected(env):
    layer = TarBuilder().file("a", b"A" * 1000).file("b", b"B" * 10).bytes()
    env.apply(layer)
    ts_path = env.base / "ts.gz"
    ts_path.write_bytes(env.tar_split.getvalue())
    out = io.BytesIO()
    assemble_tar(ts_path, env.target, out)
    assert sha(out.getvalue()) == sha(layer)
    # one byte changed, same size: crc64 catches it
    data = bytearray((env.target / "a").read_bytes())
    data[500] ^= 1
    (env.target / "a").write_bytes(bytes(data))
    with pytest.raises(LayerError, match="'a'.*crc64"):
        assemble_tar(ts_path, env.target, io.BytesIO())
    # wrong size, missing file
    (env.target / "a").write_bytes(b"A" * 999)
    with pytest.raises(LayerError, match="'a'.*size"):
        assemble_tar(ts_path, env.target, io.BytesIO())
    (env.target / "a").unlink()
    with pytest.raises(LayerError, match="'a'"):
        assemble_tar(ts_path, env.target, io.BytesIO())


def test_assemble_does_not_follow_symlinks(env, tmp_path):
    layer = TarBuilder().dir("d").file("d/f", b"inside").bytes()
    env.apply(layer)
    ts_path = env.base / "ts.gz"
    ts_path.write_bytes(env.tar_split.getvalue())
    shutil.rmtree(env.target / "d")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f").write_bytes(b"inside")  # same size and content: must still refuse
    os.symlink(outside, env.target / "d")
    with pytest.raises(LayerError, match="d/f"):
        assemble_tar(ts_path, env.target, io.BytesIO())


def test_truncated_and_corrupt_streams(env):
    layer = TarBuilder().file("a", b"A" * 5000).bytes()
    with pytest.raises(LayerError, match="'a'"):
        env.apply(layer[:2000])
    bad = bytearray(layer)
    bad[10] ^= 0xFF  # header checksum no longer matches
    with pytest.raises(LayerError, match="checksum"):
        env.apply(bytes(bad))
    with pytest.raises(LayerError, match="gzip"):
        open_decompressed(io.BytesIO(b"\x1f\x8b\x08\x00garbage" * 10), "gzip").read()
