"""`hood digests` against dockerd: the same image pulled from the same registry by both.

Every sha256 hood prints must be the one dockerd computed and stored: chain IDs are
dockerd's layerdb directory names, blob-digest ↔ diff-ID pairs are dockerd's
`distribution/diffid-by-digest`, the image ID is `docker inspect`'s Id and the manifest
digest is the one in RepoDigests. And hood, pointed at dockerd's own data root,
recomputes the same digests from what dockerd stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import trees
from support.dockerd import pull_with_both
from support.hood import Hood

pytestmark = pytest.mark.dockerd

NAMES = ["busybox", "layers", "multiarch"]
CLEAN = {"ok", "not kept", "not a digest"}


@pytest.fixture(scope="module")
def both(dockerd, plain_images, tmp_path_factory):
    """name -> (pushed, docker inspect doc, hood digests --json doc)."""
    hood = Hood(tmp_path_factory.mktemp("digests") / "root")

    def hood_pull(p):
        hood.run("pull", "-q", p.ref, env=p.registry.env).ok()
        return (json.loads(hood.run("digests", "--json", p.ref).ok().stdout),)

    return hood, pull_with_both(dockerd, plain_images, NAMES, hood_pull)


def _layer_check(layer: dict, name: str) -> dict:
    found = [c for c in layer["checks"] if c["name"] == name]
    assert len(found) == 1, (name, layer)
    return found[0]


def _image_checks(doc: dict, name: str) -> list[dict]:
    return [c for c in doc["checks"] if c["name"] == name]


def _all_checks(doc: dict) -> list[dict]:
    return doc["checks"] + [c for layer in doc["layers"] for c in layer["checks"]]


@pytest.mark.parametrize("name", NAMES)
def test_chain_ids_are_dockerds_layerdb_dirs(both, dockerd, name):
    _, out = both
    p, d_doc, h_doc = out[name]
    chains = [_layer_check(layer, "chain ID")["digest"] for layer in h_doc["layers"]]
    assert chains == p.image.chain_ids
    layerdb = trees.graph_root(dockerd.data_root) / "layerdb/sha256"
    dockerd_dirs = {d.name for d in layerdb.iterdir()}
    for chain in chains:
        assert chain.split(":")[1] in dockerd_dirs, f"dockerd has no layerdb/{chain}"
    # dockerd's chain: each layer's parent file names the one below
    for below, above in zip(chains, chains[1:], strict=False):
        assert (layerdb / above.split(":")[1] / "parent").read_text() == below
    # and the formula hood prints names that parent
    for i, layer in enumerate(h_doc["layers"][1:], 1):
        assert chains[i - 1] in _layer_check(layer, "chain ID")["hashOf"]


@pytest.mark.parametrize("name", NAMES)
def test_blob_diff_id_pairs_are_dockerds(both, dockerd, name):
    _, out = both
    p, d_doc, h_doc = out[name]
    pairs = {
        _layer_check(layer, "blob digest")["digest"]: _layer_check(layer, "diff ID")["digest"]
        for layer in h_doc["layers"]
    }
    assert list(pairs) == p.image.blob_digests
    mapping = trees.graph_root(dockerd.data_root) / "distribution/diffid-by-digest/sha256"
    for blob, diff_id in pairs.items():
        dockerd_file = mapping / blob.split(":")[1]
        assert dockerd_file.read_text() == diff_id, blob
    assert list(pairs.values()) == d_doc["RootFS"]["Layers"]


@pytest.mark.parametrize("name", NAMES)
def test_image_id_and_manifest_digest_are_dockerds(both, name):
    _, out = both
    p, d_doc, h_doc = out[name]
    assert h_doc["id"] == d_doc["Id"]
    ids = _image_checks(h_doc, "image ID")
    assert [c["digest"] for c in ids] == [d_doc["Id"]]
    assert ids[0]["recomputed"] == d_doc["Id"]
    # dockerd lists every repository holding this image ID; hood pulled only this one
    mine = [rd for rd in d_doc["RepoDigests"] if rd.startswith(f"{p.registry.host}/{p.repo}@")]
    assert len(mine) == 1, d_doc["RepoDigests"]
    d_digests = {mine[0].split("@")[1]}
    # docker records the digest it pulled by: for an index, the index's
    key = "index digest" if name == "multiarch" else "manifest digest"
    assert {c["digest"] for c in _image_checks(h_doc, key)} == d_digests
    assert mine[0] in h_doc["names"]


@pytest.mark.parametrize("name", NAMES)
def test_every_check_passes_on_a_clean_store(both, name):
    _, out = both
    p, d_doc, h_doc = out[name]
    assert h_doc["ok"] is True
    for check in _all_checks(h_doc):
        assert check["status"] in CLEAN, check
        if check["status"] == "ok":
            assert check["recomputed"] == check["digest"], check
    statuses = {c["name"]: c["status"] for c in _all_checks(h_doc)}
    assert statuses["blob digest"] == "not kept"
    assert statuses["cache-id"] == "not a digest"
    assert statuses["diff ID"] == "ok" and statuses["chain ID"] == "ok"


def test_index_shows_index_and_platform_manifest(both):
    _, out = both
    p, d_doc, h_doc = out["multiarch"]
    index = _image_checks(h_doc, "index digest")
    manifest = _image_checks(h_doc, "manifest digest")
    assert [c["digest"] for c in index] == [p.thing.manifest_digest]
    assert [c["digest"] for c in manifest] == [p.image.manifest_digest]
    assert p.thing.manifest_digest != p.image.manifest_digest
    assert index[0]["status"] == manifest[0]["status"] == "ok"
    assert "platform" in manifest[0]["hashOf"]


def test_text_output_names_every_digest(both):
    hood, out = both
    p, d_doc, h_doc = out["multiarch"]
    r = hood.run("digests", p.ref).ok()
    for check in _all_checks(h_doc):
        assert check["digest"] in r.stdout, check["name"]
    assert "not a digest" in r.stdout and "not kept" in r.stdout


# --- hood reading dockerd's own data root ------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_hood_recomputes_from_dockerds_root(both, dockerd, name):
    """hood rebuilds every diff ID from dockerd's tar-split and layer dirs, and its
    chain IDs and image ID, and knows the blob digests from v2metadata-by-diffid."""
    _, out = both
    p, d_doc, h_doc = out[name]
    on_dockerd = Hood(Path(dockerd.data_root))
    r = on_dockerd.run("digests", "--json", d_doc["Id"])
    assert r.status == 0, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    for check in _all_checks(doc):
        assert check["status"] in CLEAN, check
    got = [
        (_layer_check(layer, "diff ID")["recomputed"], _layer_check(layer, "chain ID")["digest"])
        for layer in doc["layers"]
    ]
    assert got == list(zip(p.image.diff_ids, p.image.chain_ids, strict=True))
    blobs = {
        c["digest"]
        for layer in doc["layers"]
        for c in layer["checks"]
        if c["name"] == "blob digest"
    }
    assert set(p.image.blob_digests) <= blobs
    repo_digests = {c["digest"] for c in _image_checks(doc, "manifest digest")}
    assert repo_digests == {rd.split("@")[1] for rd in d_doc["RepoDigests"]}


@pytest.mark.parametrize("name", NAMES)
def test_fsck_passes_dockerds_layers(both, dockerd, name):
    """dockerd's own extraction agrees, file by file, with what fsck expects of a layer."""
    _, out = both
    p, d_doc, h_doc = out[name]
    r = Hood(Path(dockerd.data_root)).run("fsck", d_doc["Id"])
    assert r.status == 0, r.stdout + r.stderr
    assert "0 error(s)" in r.stdout
