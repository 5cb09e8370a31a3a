"""File trees as comparable dicts: a directory, an overlay2 layer stack, a fixture's tars.

A tree is {"/path": (type, mode, uid, gid, payload)} where payload is the sha256 of a file's
bytes, a symlink's target, (major, minor) of a device, or "" for dirs and fifos."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import tarfile
from pathlib import Path

from .images import Image, chain_ids

Node = tuple[str, int, int, int, object]

OPAQUE = "trusted.overlay.opaque"


def _node(p: str, st: os.stat_result) -> Node:
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISDIR(st.st_mode):
        return ("dir", mode, st.st_uid, st.st_gid, "")
    if stat.S_ISLNK(st.st_mode):
        return ("symlink", 0, st.st_uid, st.st_gid, os.readlink(p))
    if stat.S_ISREG(st.st_mode):
        with open(p, "rb") as f:
            return (
                "file",
                mode,
                st.st_uid,
                st.st_gid,
                hashlib.file_digest(f, "sha256").hexdigest(),
            )
    if stat.S_ISFIFO(st.st_mode):
        return ("fifo", mode, st.st_uid, st.st_gid, "")
    if stat.S_ISCHR(st.st_mode):
        dev = (os.major(st.st_rdev), os.minor(st.st_rdev))
        return ("char", mode, st.st_uid, st.st_gid, dev)
    if stat.S_ISBLK(st.st_mode):
        dev = (os.major(st.st_rdev), os.minor(st.st_rdev))
        return ("block", mode, st.st_uid, st.st_gid, dev)
    return ("other", mode, st.st_uid, st.st_gid, "")


def walk(root: Path) -> dict[str, Node]:
    """Every entry under root (root itself excluded), by '/relative/path'."""
    out: dict[str, Node] = {}
    root = Path(root)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            out["/" + os.path.relpath(p, root)] = _node(p, os.lstat(p))
    return out


def is_whiteout(node: Node) -> bool:
    return node[0] == "char" and node[4] == (0, 0)


def is_opaque(path: Path) -> bool:
    try:
        return os.getxattr(path, OPAQUE, follow_symlinks=False) == b"y"
    except OSError:
        return False


def merge_overlay(diff_dirs: list[Path]) -> dict[str, Node]:
    """What an overlay mount of these layer dirs (bottom first) shows, computed without mounting."""
    merged: dict[str, Node] = {}
    for d in diff_dirs:
        layer = walk(d)
        for path in sorted(layer):
            node = layer[path]
            if is_whiteout(node):
                _remove(merged, path)
                continue
            if (
                node[0] == "dir"
                and is_opaque(Path(d) / path.lstrip("/"))
                or node[0] != "dir"
                or merged.get(path, ("",))[0] != "dir"
            ):
                _remove(merged, path)
            merged[path] = node
    return merged


def _remove(tree: dict[str, Node], path: str) -> None:
    tree.pop(path, None)
    prefix = path.rstrip("/") + "/"
    for k in [k for k in tree if k.startswith(prefix)]:
        del tree[k]


def flatten_tars(tars: list[bytes]) -> dict[str, Node]:
    """The merged tree a correct extraction of these layer tars (bottom first) gives."""
    merged: dict[str, Node] = {}
    for data in tars:
        with tarfile.open(fileobj=io.BytesIO(data)) as tf:
            members = tf.getmembers()
            # opaque markers and whiteouts apply to lower layers only
            for m in members:
                name = "/" + m.name.strip("/").removeprefix("./")
                base = os.path.basename(name)
                parent = os.path.dirname(name)
                if base == ".wh..wh..opq":
                    for k in [k for k in merged if k.startswith(parent.rstrip("/") + "/")]:
                        del merged[k]
                elif base.startswith(".wh."):
                    _remove(merged, os.path.join(parent, base[4:]))
            for m in members:
                name = "/" + m.name.strip("/").removeprefix("./")
                if os.path.basename(name).startswith(".wh."):
                    continue
                mode = m.mode & 0o7777
                if m.isdir():
                    node: Node = ("dir", mode, m.uid, m.gid, "")
                    if merged.get(name, ("",))[0] != "dir":
                        _remove(merged, name)
                    merged[name] = node
                    continue
                _remove(merged, name)
                if m.issym():
                    node = ("symlink", 0, m.uid, m.gid, m.linkname)
                elif m.islnk():
                    node = merged["/" + m.linkname.strip("/")]
                elif m.isfile():
                    body = tf.extractfile(m).read()
                    node = ("file", mode, m.uid, m.gid, hashlib.sha256(body).hexdigest())
                elif m.isfifo():
                    node = ("fifo", mode, m.uid, m.gid, "")
                elif m.ischr():
                    node = ("char", mode, m.uid, m.gid, (m.devmajor, m.devminor))
                else:
                    node = ("block", mode, m.uid, m.gid, (m.devmajor, m.devminor))
                merged[name] = node
    return merged


def expected_tree(image: Image) -> dict[str, Node]:
    return flatten_tars([layer.tar for layer in image.layers])


# ---------------------------------------------------------------- reading a docker-style root


def graph_root(root: Path) -> Path:
    return Path(root) / "image" / "overlay2"


def image_layer_dirs(root: Path, image_id: str) -> list[Path]:
    """overlay2/CACHEID/diff of each layer of a stored image, bottom first (via layerdb)."""
    hexid = image_id.removeprefix("sha256:")
    config = json.loads((graph_root(root) / "imagedb/content/sha256" / hexid).read_bytes())
    out = []
    for chain in chain_ids(config["rootfs"]["diff_ids"]):
        cache_id = graph_root(root) / "layerdb/sha256" / chain.split(":")[1] / "cache-id"
        out.append(Path(root) / "overlay2" / cache_id.read_text().strip() / "diff")
    return out


def stored_tree(root: Path, image_id: str) -> dict[str, Node]:
    return merge_overlay(image_layer_dirs(root, image_id))


def store_snapshot(root: Path) -> dict[str, object]:
    """What a user can see of the store: images, tags, layers, overlay dirs (no temp files)."""
    g = graph_root(root)

    def names(p: Path) -> list[str]:
        if not p.is_dir():
            return []
        return sorted(n for n in os.listdir(p) if not n.startswith((".", "tmp")))

    repos = g / "repositories.json"
    repos_doc = json.loads(repos.read_text()) if repos.exists() else {"Repositories": {}}
    return {
        "repositories": repos_doc.get("Repositories") or {},
        "images": names(g / "imagedb/content/sha256"),
        "layers": names(g / "layerdb/sha256"),
        "overlay2": [n for n in names(Path(root) / "overlay2") if n != "l"],
    }
