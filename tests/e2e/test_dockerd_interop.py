"""The same image pulled from the same registry by dockerd and by hood: the stores must agree."""

from __future__ import annotations

import json
import os

import pytest
from support import trees
from support.dockerd import pull_with_both
from support.hood import Hood

pytestmark = pytest.mark.dockerd

NAMES = ["busybox", "busybox-oci", "layers", "multiarch", "multiarch-docker", "uncompressed"]


@pytest.fixture(scope="module")
def both(dockerd, plain_images, tmp_path_factory):
    """name -> (pushed, docker inspect doc, hood Hood with it pulled or None, hood inspect doc)."""
    hood = Hood(tmp_path_factory.mktemp("interop") / "root")

    def hood_pull(p):
        r = hood.run("pull", p.ref, env=p.registry.env)
        h_doc = None
        if r.status == 0:
            ri = hood.run("inspect", p.ref)
            h_doc = json.loads(ri.stdout)[0] if ri.status == 0 else None
        return r, h_doc

    return hood, pull_with_both(dockerd, plain_images, NAMES, hood_pull)


def _get(both, name):
    hood, out = both
    p, d_doc, r, h_doc = out[name]
    r.ok()
    return hood, p, d_doc, h_doc


@pytest.mark.parametrize("name", NAMES)
def test_image_id_and_repo_digests(both, name):
    hood, p, d_doc, h_doc = _get(both, name)
    assert d_doc["Id"] == p.image.id  # dockerd agrees with the fixture's truth
    assert h_doc is not None, "hood inspect failed"
    assert h_doc["Id"] == d_doc["Id"]
    assert h_doc["RepoDigests"] == d_doc["RepoDigests"]
    assert h_doc["RepoTags"] == d_doc["RepoTags"]


@pytest.mark.parametrize("name", NAMES)
def test_layerdb_agrees(both, dockerd, name):
    hood, p, d_doc, h_doc = _get(both, name)
    dg, hg = trees.graph_root(dockerd.data_root), trees.graph_root(hood.root)
    for chain in p.image.chain_ids:
        hexc = chain.split(":")[1]
        dl, hl = dg / "layerdb/sha256" / hexc, hg / "layerdb/sha256" / hexc
        assert dl.is_dir(), f"dockerd has no layer {chain}"
        assert hl.is_dir(), f"hood has no layer {chain}"
        for f in ("diff", "size", "parent"):
            assert (dl / f).exists() == (hl / f).exists(), f
            if (dl / f).exists():
                assert (hl / f).read_text() == (dl / f).read_text(), f"{chain}/{f}"
    d_img = (dg / "imagedb/content/sha256" / p.image.id.split(":")[1]).read_bytes()
    assert (hg / "imagedb/content/sha256" / p.image.id.split(":")[1]).read_bytes() == d_img


@pytest.mark.parametrize("name", NAMES)
def test_repositories_json_agrees(both, dockerd, name):
    hood, p, d_doc, h_doc = _get(both, name)
    repo = f"{p.registry.host}/{p.repo}"
    d_repos = json.loads((trees.graph_root(dockerd.data_root) / "repositories.json").read_text())
    h_repos = json.loads((trees.graph_root(hood.root) / "repositories.json").read_text())
    assert h_repos["Repositories"][repo] == d_repos["Repositories"][repo]


def _shape(v):
    if isinstance(v, dict):
        return {k: _shape(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_shape(x) for x in v]
    return type(v).__name__


@pytest.mark.parametrize("name", NAMES)
def test_inspect_key_by_key(both, name):
    hood, p, d_doc, h_doc = _get(both, name)
    assert h_doc is not None
    assert list(h_doc) == list(d_doc), "top-level keys or their order differ"
    for key in d_doc:
        if key == "GraphDriver":
            d_gd, h_gd = d_doc[key], h_doc[key]
            assert h_gd["Name"] == d_gd["Name"]
            assert sorted(h_gd["Data"]) == sorted(d_gd["Data"])
            if "LowerDir" in d_gd["Data"]:
                n = len(d_gd["Data"]["LowerDir"].split(":"))
                assert len(h_gd["Data"]["LowerDir"].split(":")) == n
        elif key == "Metadata":
            assert _shape(h_doc[key]) == _shape(d_doc[key])
        else:
            assert h_doc[key] == d_doc[key], key


def _layer_dirs(root, image_id):
    return trees.image_layer_dirs(root, image_id)


@pytest.mark.parametrize("name", NAMES)
def test_layer_dirs_agree(both, dockerd, name):
    """Each extracted layer, whiteouts and opaque markers included, entry by entry."""
    hood, p, d_doc, h_doc = _get(both, name)
    d_dirs = _layer_dirs(dockerd.data_root, p.image.id)
    h_dirs = _layer_dirs(hood.root, p.image.id)
    for i, (dd, hd) in enumerate(zip(d_dirs, h_dirs, strict=True)):
        dt, ht = trees.walk(dd), trees.walk(hd)
        assert sorted(ht) == sorted(dt), f"layer {i}: entries differ"
        for path in dt:
            assert ht[path] == dt[path], f"layer {i}: {path}"
            if dt[path][0] == "dir":
                assert trees.is_opaque(hd / path.lstrip("/")) == trees.is_opaque(
                    dd / path.lstrip("/")
                ), f"layer {i}: opaque {path}"


@pytest.mark.parametrize("name", NAMES)
def test_merged_tree_agrees(both, dockerd, name):
    hood, p, d_doc, h_doc = _get(both, name)
    d_tree = trees.stored_tree(dockerd.data_root, p.image.id)
    h_tree = trees.stored_tree(hood.root, p.image.id)
    assert d_tree == trees.expected_tree(p.image)  # the fixture's truth holds for dockerd
    assert h_tree == d_tree


def test_hood_reads_dockerd_root(both, dockerd):
    """`hood --root DOCKERD_DATA_ROOT images` lists what docker images lists."""
    hood = Hood(dockerd.data_root)
    ids = set(hood.run("images", "-q", "--no-trunc").ok().stdout.split())
    d_ids = set(dockerd.docker("images", "-q", "--no-trunc").stdout.split())
    assert ids == d_ids
    assert os.path.isdir(dockerd.data_root)


@pytest.mark.parametrize("name", NAMES)
def test_overlay2_dir_entries_agree(both, dockerd, name):
    """Same files in each overlay2/CACHEID dir (diff, link, lower, work); `lower` by shape."""
    hood, p, d_doc, h_doc = _get(both, name)
    for dd, hd in zip(
        _layer_dirs(dockerd.data_root, p.image.id), _layer_dirs(hood.root, p.image.id), strict=True
    ):
        d_names = set(os.listdir(dd.parent)) - {"committed"}  # docker >= 23 marks committed layers
        assert set(os.listdir(hd.parent)) - {"committed"} == d_names
        if (dd.parent / "lower").exists():
            d_n = len((dd.parent / "lower").read_text().split(":"))
            assert len((hd.parent / "lower").read_text().split(":")) == d_n


def test_images_output_agrees(both, dockerd):
    """`hood images` prints what `docker images` prints for the same pulls (all columns).

    Docker orders rows by creation time only: images created at the same second, and the
    repositories of one image, come in Go map order, which varies run to run. So the
    header must be identical and the rows the same, line for line, in any order."""
    hood, out = both
    for args in ([], ["--digests"], ["--no-trunc"], ["-q"]):
        h = hood.run("images", *args).ok().stdout.splitlines()
        d = dockerd.docker("images", *args).stdout.splitlines()
        if args != ["-q"]:
            assert h[0] == d[0], f"images {' '.join(args)}: header"
        assert sorted(h) == sorted(d), f"images {' '.join(args)}"
