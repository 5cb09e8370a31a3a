"""Containers' read-write layers, in docker's overlay2 layout:

    overlay2/MOUNTID/{diff,work,merged,link,lower}   lower = "l/TOP:...:l/BOTTOM"
    overlay2/l/LINKID -> ../MOUNTID/diff
    image/overlay2/layerdb/mounts/CONTAINERID/{mount-id,parent}

The container's record (containers/ID) is made before its layer, so a process killed in
between leaves a record that names what to clean up, never a layer nobody can see."""

from __future__ import annotations

import os

from hood.core.errors import StoreError
from hood.core.fileio import read_optional, read_text, remove_tree, write_atomic
from hood.core.lean import suppress
from hood.store.layers import LayerRecord, LayerStore, new_cache_id, new_link_id, valid_cache_id
from hood.store.layout import Layout


class RwLayers:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    def create(self, container_id: str, image_top: LayerRecord | None) -> str:
        """The container's overlay2 dir over the image's layers; returns its mount ID."""
        layout = self.layout
        mount_id = new_cache_id()
        layer = layout.layer_dir(mount_id)
        os.makedirs(layout.short_links, exist_ok=True)
        meta = layout.layerdb_mount(container_id)
        os.makedirs(meta, exist_ok=True)
        # mount-id first: killed from here on, the container's record and this file say
        # which overlay2 dir to remove.
        write_atomic(os.path.join(meta, "mount-id"), mount_id, durable=False)
        if image_top is not None:
            write_atomic(os.path.join(meta, "parent"), str(image_top.chain_id), durable=False)
        os.mkdir(layer, 0o710)
        os.mkdir(os.path.join(layer, "diff"), 0o755)
        os.mkdir(os.path.join(layer, "work"), 0o700)
        os.mkdir(os.path.join(layer, "merged"), 0o700)
        link = new_link_id()
        write_atomic(os.path.join(layer, "link"), link, durable=False)
        if image_top is not None:
            lower = LayerStore(layout).lower_of(image_top)
            write_atomic(os.path.join(layer, "lower"), lower, durable=False)
        os.symlink(f"../{mount_id}/diff", layout.short_link(link))
        return mount_id

    def mount_id(self, container_id: str) -> str:
        path = os.path.join(self.layout.layerdb_mount(container_id), "mount-id")
        try:
            mid = read_text(path)
        except FileNotFoundError:
            raise StoreError(f"container {container_id[:12]} has no read-write layer") from None
        if not valid_cache_id(mid):
            raise StoreError(f"container {container_id[:12]}: corrupt mount-id in {path}")
        return mid

    def parent(self, container_id: str) -> str:
        """The chain ID (text) of the image layer the container sits on, or ""."""
        return read_optional(os.path.join(self.layout.layerdb_mount(container_id), "parent"))

    def container_ids(self) -> list[str]:
        try:
            return os.listdir(self.layout.layerdb_mounts)
        except (FileNotFoundError, NotADirectoryError):
            return []

    def remove(self, container_id: str, unmount=None) -> None:  # type: ignore[no-untyped-def]
        """Delete the container's read-write layer and its layerdb/mounts entry; `unmount`
        (path) is called first on its merged dir, which may still be mounted."""
        meta = self.layout.layerdb_mount(container_id)
        with suppress(StoreError):
            mount_id = self.mount_id(container_id)
            layer = self.layout.layer_dir(mount_id)
            if unmount is not None:
                unmount(os.path.join(layer, "merged"))
            LayerStore(self.layout).remove_layer_dir(mount_id)
        remove_tree(meta)
