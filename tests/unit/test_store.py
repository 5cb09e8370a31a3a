"""The store in-process: names, lookups and layers, without the CLI."""

from __future__ import annotations

import json
import os

import pytest

from hood.core import reference
from hood.core.digest import Digest
from hood.core.errors import NotFound, StoreError
from hood.core.imageconfig import ImageConfig
from hood.store.images import ImageStore
from hood.store.layout import Layout


def _config(diff_ids: list[str]) -> ImageConfig:
    doc = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    return ImageConfig.parse(json.dumps(doc).encode())


def _repositories(store: ImageStore) -> dict:
    with open(store.layout.repositories_json) as f:
        return json.load(f)


@pytest.fixture
def store(tmp_path) -> ImageStore:
    return ImageStore(Layout(tmp_path / "root"))


def test_layout_paths_are_str_for_a_path_root(tmp_path):
    layout = Layout(tmp_path / "root")
    assert isinstance(layout.root, str) and layout.root == str(tmp_path / "root")
    assert layout.repositories_json == os.path.join(str(tmp_path), "root/image/overlay2/repositories.json")
    assert Layout(str(tmp_path / "root") + "/") == layout


def test_references_one_rewrite_for_many_changes(store):
    cfg = store.put_config(_config([]))
    with store.locked():
        store.update_references(add=[("a:1", cfg), ("a:2", cfg), ("host:5000/b:x", cfg)])
    assert store.references() == {"a:1": cfg, "a:2": cfg, "host:5000/b:x": cfg}
    doc = _repositories(store)
    assert doc["Repositories"] == {
        "a": {"a:1": str(cfg), "a:2": str(cfg)},
        "host:5000/b": {"host:5000/b:x": str(cfg)},
    }
    with store.locked():
        store.update_references(remove=["a:1", "a:2"])
    assert _repositories(store)["Repositories"] == {
        "host:5000/b": {"host:5000/b:x": str(cfg)}
    }


def test_resolve_by_name_id_and_prefix(store):
    cfg = store.put_config(_config([]))
    with store.locked():
        store.add_reference(reference.parse("busybox"), cfg)
    assert store.resolve_id("busybox") == cfg
    assert store.resolve_id("busybox:latest") == cfg
    assert store.resolve_id(str(cfg)) == cfg
    assert store.resolve_id(cfg.hex[:12]) == cfg
    with pytest.raises(NotFound):
        store.resolve_id("nothing")


def test_a_config_that_does_not_match_its_id_is_refused(store):
    cfg = store.put_config(_config([]))
    with open(store.layout.imagedb_content(cfg), "ab") as f:
        f.write(b" ")
    with pytest.raises(StoreError, match="does not match its ID"):
        store.load_config(cfg)
    assert store.list() == []  # listed images never include it: fsck names it


def test_missing_layer_is_that_images_problem(store):
    missing = Digest.of_bytes(b"a layer nobody stored")
    cfg = _config([str(missing)])
    store.put_config(cfg)
    with pytest.raises(NotFound, match="missing from the store"):
        store.layers_of(cfg)
