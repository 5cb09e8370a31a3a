"""Containers' read-write layers, in docker's overlay2 layout:

    overlay2/MOUNTID/{diff,work,merged,link,lower}   lower = "l/TOP:...:l/BOTTOM"
    overlay2/l/LINKID -> ../MOUNTID/diff
    image/overlay2/layerdb/mounts/CONTAINERID/{mount-id,parent}

    overlay2/MOUNTID-init/...                        the init layer (docker's), under it
    image/overlay2/layerdb/mounts/CONTAINERID/init-id

The container's record (containers/ID) is made before its layer, so a process killed in
between leaves a record that names what to clean up, never a layer nobody can see."""

from __future__ import annotations

import os
import stat

from hood.core.errors import StoreError
from hood.core.fileio import read_optional, read_text, remove_tree, write_atomic
from hood.core.lean import suppress
from hood.store.layers import LayerRecord, LayerStore, new_cache_id, new_link_id, valid_cache_id
from hood.store.layout import Layout

# What dockerd's init layer holds (daemon/initlayer): mount points and the files it binds
# over, made only where the image lacks them (files and the mtab link always), so what the
# runtime needs never lands in the container's own layer (`diff`, `commit`).
INIT_DIRS = ("dev/pts", "dev/shm", "proc", "sys")
INIT_FILES = (".dockerenv", "etc/resolv.conf", "etc/hosts", "etc/hostname", "dev/console")
INIT_LINKS = (("etc/mtab", "/proc/mounts"),)


def _lookup(diff_dirs: list[str], rel: str) -> os.stat_result | None:
    """`rel` as the image shows it (its layers' diff dirs, top first): whiteouts and opaque
    directories hide what is below them."""
    from hood.layer.overlay import OPAQUE_XATTRS

    parts = rel.split("/")
    for top in diff_dirs:
        hidden = False
        for depth in range(len(parts)):
            here = os.path.join(top, *parts[:depth])
            name = parts[depth]
            try:
                st = os.lstat(os.path.join(here, name))
            except FileNotFoundError:
                st = None
            if st is not None and stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                return None  # a whiteout: deleted from here down
            if depth == len(parts) - 1:
                if st is not None:
                    return st
                break
            if st is None:
                break
            if not stat.S_ISDIR(st.st_mode):
                return None  # a file where a directory should be
            for key in OPAQUE_XATTRS:
                try:
                    if os.getxattr(os.path.join(here, name), key) == b"y":
                        hidden = True
                except OSError:
                    pass
        if hidden:
            return None
    return None


def _make_init(diff: str, image_dirs: list[str]) -> None:
    """The init layer's entries in its (empty) diff dir, as docker's initlayer.Setup
    leaves them over the image: parents copied up with the image's owner and mode."""

    def parent(rel: str) -> None:
        head = os.path.dirname(rel)
        if not head or os.path.isdir(os.path.join(diff, head)):
            return
        parent(head)
        st = _lookup(image_dirs, head)
        path = os.path.join(diff, head)
        if st is not None and stat.S_ISDIR(st.st_mode):
            os.mkdir(path, stat.S_IMODE(st.st_mode))
            with suppress(PermissionError):  # rootless: the image's files are the caller's
                os.chown(path, st.st_uid, st.st_gid)
            os.chmod(path, stat.S_IMODE(st.st_mode))
        else:
            os.mkdir(path, 0o755)

    for rel in INIT_DIRS:
        st = _lookup(image_dirs, rel)
        if st is not None and stat.S_ISDIR(st.st_mode):
            continue
        parent(rel)
        os.mkdir(os.path.join(diff, rel), 0o755)
        os.chmod(os.path.join(diff, rel), 0o755)
    for rel in INIT_FILES:
        st = _lookup(image_dirs, rel)
        if st is not None and stat.S_ISDIR(st.st_mode):
            continue
        parent(rel)
        fd = os.open(os.path.join(diff, rel), os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o755)
        os.fchmod(fd, 0o755)
        os.close(fd)
    for rel, target in INIT_LINKS:
        st = _lookup(image_dirs, rel)
        if st is not None and stat.S_ISDIR(st.st_mode):
            continue
        parent(rel)
        os.symlink(target, os.path.join(diff, rel))


class RwLayers:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    def create(
        self, container_id: str, image_layers: list[LayerRecord], *, synced: bool = True
    ) -> str:
        """The container's init layer over the image's layers (lowest first) and its own
        layer over that, as dockerd makes them; returns its mount ID. `synced=False`: a
        `--rm` container's, whose files need not survive a crash (see write_atomic)."""
        layout = self.layout
        mount_id = new_cache_id()
        init_id = f"{mount_id}-init"
        os.makedirs(layout.short_links, exist_ok=True)
        meta = layout.layerdb_mount(container_id)
        os.makedirs(meta, exist_ok=True)
        # The IDs first: killed from here on, the container's record and these files say
        # which overlay2 dirs to remove.
        write_atomic(os.path.join(meta, "mount-id"), mount_id, durable=False, synced=synced)
        write_atomic(os.path.join(meta, "init-id"), init_id, durable=False, synced=synced)
        if image_layers:
            parent = str(image_layers[-1].chain_id)
            write_atomic(os.path.join(meta, "parent"), parent, durable=False, synced=synced)
        image_lower = LayerStore(layout).lower_of(image_layers[-1]) if image_layers else ""
        init_link = self._layer(init_id, image_lower, synced=synced)
        _make_init(layout.layer_diff(init_id), [la.diff_dir for la in reversed(image_layers)])
        lower = f"l/{init_link}" + (f":{image_lower}" if image_lower else "")
        self._layer(mount_id, lower, merged=True, synced=synced)
        return mount_id

    def _layer(self, layer_id: str, lower: str, *, merged: bool = False, synced: bool) -> str:
        """An empty overlay2 layer dir over `lower`, with its short link; the link ID."""
        layer = self.layout.layer_dir(layer_id)
        os.mkdir(layer, 0o710)
        os.mkdir(os.path.join(layer, "diff"), 0o755)
        os.mkdir(os.path.join(layer, "work"), 0o700)
        if merged:
            os.mkdir(os.path.join(layer, "merged"), 0o700)
        link = new_link_id()
        write_atomic(os.path.join(layer, "link"), link, durable=False, synced=synced)
        if lower:
            write_atomic(os.path.join(layer, "lower"), lower, durable=False, synced=synced)
        os.symlink(f"../{layer_id}/diff", self.layout.short_link(link))
        return link

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
            layers = LayerStore(self.layout)
            layers.remove_layer_dir(mount_id)
            init_id = read_optional(os.path.join(meta, "init-id"))
            if init_id == f"{mount_id}-init":
                layers.remove_layer_dir(init_id)
        remove_tree(meta)
