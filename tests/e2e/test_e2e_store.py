"""The data root after a pull is laid out as dockerd's overlay2 root (issue 2 §5, §7)."""

from __future__ import annotations

import gzip
import json
import os
import stat

import pytest
from support import trees
from support.checks import assert_stored


@pytest.fixture
def layers_pulled(hood, plain_images):
    p = plain_images["layers"]
    hood.run("pull", p.ref, env=p.registry.env).ok()
    return hood, p.image


def _layer_dir(root, chain):
    return trees.graph_root(root) / "layerdb/sha256" / chain.split(":")[1]


def test_imagedb(layers_pulled):
    hood, img = layers_pulled
    g = trees.graph_root(hood.root)
    content = (g / "imagedb/content/sha256" / img.id.split(":")[1]).read_bytes()
    assert content == img.config  # byte for byte: its sha256 is the ID
    assert os.listdir(g / "imagedb/content/sha256") == [img.id.split(":")[1]]


def test_layerdb_by_chain_id(layers_pulled):
    hood, img = layers_pulled
    names = sorted(os.listdir(trees.graph_root(hood.root) / "layerdb/sha256"))
    names = [n for n in names if len(n) == 64]
    assert names == sorted(c.split(":")[1] for c in img.chain_ids)
    parent = None
    for chain, diff_id, layer in zip(img.chain_ids, img.diff_ids, img.layers, strict=True):
        d = _layer_dir(hood.root, chain)
        assert (d / "diff").read_text() == diff_id
        size = int((d / "size").read_text())
        assert 0 <= size <= len(layer.tar)
        cache_id = (d / "cache-id").read_text()
        assert (hood.root / "overlay2" / cache_id / "diff").is_dir()
        if parent is None:
            assert not (d / "parent").exists()
        else:
            assert (d / "parent").read_text() == parent
        parent = chain
        # tar-split metadata reproduces the layer tar: at least it is gzip'd JSON lines
        lines = gzip.decompress((d / "tar-split.json.gz").read_bytes()).splitlines()
        assert lines and all(json.loads(line) for line in lines)


def test_overlay2_dirs(layers_pulled):
    hood, img = layers_pulled
    ov = hood.root / "overlay2"
    links = []
    for i, chain in enumerate(img.chain_ids):
        cache_id = (_layer_dir(hood.root, chain) / "cache-id").read_text()
        d = ov / cache_id
        link = (d / "link").read_text()
        assert len(link) == 26 and link.isalnum() and link.isupper(), link
        assert os.readlink(ov / "l" / link) == f"../{cache_id}/diff"
        if i == 0:
            assert not (d / "lower").exists()
        else:
            # topmost first, as dockerd writes it
            assert (d / "lower").read_text() == ":".join(f"l/{x}" for x in reversed(links))
            assert (d / "work").is_dir()
        links.append(link)


def test_whiteouts_and_opaque_dirs(layers_pulled):
    hood, img = layers_pulled
    top = trees.image_layer_dirs(hood.root, img.id)[1]  # the layer with the whiteouts
    for path in ("a/gone", "dirgone", "special/fifo"):
        st = os.lstat(top / path)
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0, path
    assert not (top / "a/.wh.gone").exists()
    assert os.getxattr(top / "opq", "trusted.overlay.opaque") == b"y"
    assert not (top / "opq/.wh..wh..opq").exists()


def test_file_attributes_kept(layers_pulled):
    hood, img = layers_pulled
    bottom = trees.image_layer_dirs(hood.root, img.id)[0]
    assert stat.S_IMODE(os.lstat(bottom / "bin/suid").st_mode) == 0o4755
    assert stat.S_IMODE(os.lstat(bottom / "bin/sgid").st_mode) == 0o2755
    assert stat.S_IMODE(os.lstat(bottom / "bin/sticky").st_mode) == 0o1777
    st = os.lstat(bottom / "links/orig")
    assert (st.st_uid, st.st_gid, st.st_nlink) == (1000, 1001, 2)
    assert os.lstat(bottom / "links/hard").st_ino == st.st_ino
    assert os.readlink(bottom / "links/abs") == "/a/keep"
    assert stat.S_ISFIFO(os.lstat(bottom / "special/fifo").st_mode)
    assert os.getxattr(bottom / "xattr/file", "user.hood") == b"yes"
    assert int(os.lstat(bottom / "a/keep").st_mtime) == 1_700_000_000


def test_merged_tree(layers_pulled):
    hood, img = layers_pulled
    assert_stored(hood, img)


def test_distribution_metadata(layers_pulled):
    hood, img = layers_pulled
    g = trees.graph_root(hood.root) / "distribution"
    for layer in img.layers:
        hexd = layer.digest.split(":")[1]
        assert (g / "diffid-by-digest/sha256" / hexd).read_text() == layer.diff_id
        meta = json.loads(
            (g / "v2metadata-by-diffid/sha256" / layer.diff_id.split(":")[1]).read_text()
        )
        assert any(m["Digest"] == layer.digest for m in meta)
        assert all(m["SourceRepository"].endswith("library/layers") for m in meta)


def test_shared_layers_stored_once(hood, plain_images):
    """busybox (docker schema2) and busybox-oci share their diff_ids: same chain IDs, one copy."""
    for name in ("busybox", "busybox-oci"):
        p = plain_images[name]
        hood.run("pull", p.ref, env=p.registry.env).ok()
    a, b = plain_images["busybox"].image, plain_images["busybox-oci"].image
    assert a.chain_ids == b.chain_ids
    snap = trees.store_snapshot(hood.root)
    assert len(snap["layers"]) == len(a.chain_ids)
    assert len(snap["overlay2"]) == len(a.chain_ids)
    assert sorted(snap["images"]) == sorted({a.id.split(":")[1], b.id.split(":")[1]})
