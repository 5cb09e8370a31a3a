"""Checks shared by the end-to-end tests: what a pulled image must look like in the store."""

from __future__ import annotations

import json
from pathlib import Path

from . import trees
from .hood import Hood
from .images import Image


def repositories(root: Path) -> dict:
    p = trees.graph_root(root) / "repositories.json"
    return json.loads(p.read_text())["Repositories"]


def layerdb_names(root: Path) -> set[str]:
    d = trees.graph_root(root) / "layerdb/sha256"
    if not d.is_dir():
        return set()
    return {"sha256:" + p.name for p in d.iterdir() if len(p.name) == 64}


def assert_stored(hood: Hood, image: Image) -> None:
    """The image's config is in imagedb under its ID, its chain IDs in layerdb, tree merged right."""
    g = trees.graph_root(hood.root)
    content = g / "imagedb/content/sha256" / image.id.split(":")[1]
    assert content.read_bytes() == image.config
    assert set(image.chain_ids) <= layerdb_names(hood.root)
    assert trees.stored_tree(hood.root, image.id) == trees.expected_tree(image)


def assert_store_empty(hood: Hood) -> None:
    snap = trees.store_snapshot(hood.root)
    assert snap["images"] == [], snap
    assert snap["repositories"] == {}, snap
    assert snap["layers"] == [], snap
