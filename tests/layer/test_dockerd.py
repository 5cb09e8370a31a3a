"""The strong test: dockerd loads the same layers; its tar-split.json.gz (after gunzip),
layerdb size and extracted diff dirs must equal ours."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import subprocess
import tarfile

import pytest
from layer_helpers import (
    END,
    TarBuilder,
    diff_trees,
    docker_archive,
    gnu_long,
    raw_entry,
    raw_pax,
    tree,
)

from hood.layer.apply import apply_layer

pytestmark = [
    pytest.mark.dockerd,
    pytest.mark.skipif(
        os.geteuid() != 0 or not shutil.which("dockerd") or not shutil.which("docker"),
        reason="needs root, dockerd and docker",
    ),
]


# v2 file capability: cap_net_bind_service permitted+effective
CAP = "\x01\x00\x00\x02\x00\x04\x00\x00" + "\x00" * 12


def layers() -> list[bytes]:
    t = TarBuilder()
    t.dir("etc").file("etc/passwd", b"root:x:0:0\n" * 100, mode=0o600)
    t.file('a<b>&c\u2028 \x01\x08\x0c"q\\\tz\u00e9', b"x")
    t.file("L" * 150 + "/x", b"long")
    t.symlink("etc/link", "/etc/passwd").hardlink("etc/hl", "etc/passwd")
    t.fifo("fifo").file("empty").dir("d", mode=0o1777)
    t.file("usr/bin/su", b"\x7fELF", mode=0o4755, uid=1000, gid=1000)
    t.chardev("dev/null", 1, 3, mode=0o666)
    t.file("x/.wh.gone").file("x/.wh..wh..opq").file(".wh..wh.plnk")
    ti = tarfile.TarInfo("xattr")
    ti.pax_headers = {"SCHILY.xattr.user.k": "v", "SCHILY.xattr.security.capability": CAP}
    t.tf.addfile(ti)
    one = t.bytes()
    gnu = TarBuilder(tarfile.GNU_FORMAT)
    gnu.file("g/" + "n" * 120, b"gnu long").symlink("g/s", "t" * 120)
    two = gnu.bytes(trailing=b"\0" * 7000 + b"garbage")
    three = (
        raw_entry(b"bad\xffname", b"zz")
        + gnu_long(b"L", b"gl/" + b"q" * 200)
        + raw_entry(b"x", b"q")
        + raw_pax({b"path": b"pax\xfe/" + b"p" * 120, b"mtime": b"7.25"})
        + raw_entry(b"short", b"pax")
        + raw_entry(b"ok2", b"")
        + END
    )
    return [one, two, three]


def test_same_as_dockerd(dockerd, tmp_path):
    sock, data_root = dockerd.sock, dockerd.data_root
    data = layers()
    diff_ids = docker_archive(tmp_path / "img.tar", data, "hood-layer-test:1")
    loaded = subprocess.run(
        ["docker", "-H", f"unix://{sock}", "load", "-i", str(tmp_path / "img.tar")],
        capture_output=True,
        text=True,
    )
    assert loaded.returncode == 0, loaded.stderr
    chain = None
    for i, (layer, diff) in enumerate(zip(data, diff_ids, strict=True)):
        chain = (
            diff
            if chain is None
            else "sha256:" + hashlib.sha256(f"{chain} {diff}".encode()).hexdigest()
        )
        meta = data_root / "image/overlay2/layerdb/sha256" / chain.split(":")[1]
        mine_dir = tmp_path / f"mine{i}"
        mine_dir.mkdir()
        ts = io.BytesIO()
        result = apply_layer(io.BytesIO(layer), mine_dir, tar_split=ts)
        theirs = gzip.decompress((meta / "tar-split.json.gz").read_bytes())
        assert gzip.decompress(ts.getvalue()) == theirs, f"layer {i}: tar-split differs"
        assert result.size == int((meta / "size").read_text()), f"layer {i}: size differs"
        cache = (meta / "cache-id").read_text()
        t_tree = tree(data_root / "overlay2" / cache / "diff")
        # dockerd 20.10 turns the AUFS metadata entry `.wh..wh.plnk` into a whiteout
        # named `.wh.plnk`; we ignore `.wh..wh.*` entries other than the opaque marker.
        t_tree.pop(".wh.plnk", None)
        m_tree = tree(mine_dir)
        # implied directories and whiteout devices get the time of extraction
        for key, value in list(t_tree.items()):
            if key in m_tree and (value[0] in (0o040000, 0o020000)) and value[7] > 10**18:
                t_tree[key] = value[:7] + (0,) + value[8:]
                m_tree[key] = m_tree[key][:7] + (0,) + m_tree[key][8:]
        assert diff_trees(t_tree, m_tree) == [], f"layer {i}: extracted trees differ"
