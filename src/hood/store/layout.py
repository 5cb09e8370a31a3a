"""Paths of the data root. One place knows where things live; nothing else joins paths."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

    from hood.digest import Digest


def join(base: Path | str, *parts: str) -> Path | str:
    """`base / part / ...` for a Path, os.path.join for a str: each caller gets its own type
    back (the run path's Layout is rooted at a str, to do without pathlib's imports)."""
    if isinstance(base, str):
        return os.path.join(base, *parts)
    return base.joinpath(*parts)


class Layout:
    """Every path under the data root `root`. An immutable value, equal by its root.

    Paths come back as `root` is: Path for a Path root; str for a str root (`hood run`'s,
    which does without pathlib's imports)."""

    __slots__ = ("root",)
    root: Path

    def __init__(self, root: Path) -> None:
        object.__setattr__(self, "root", root)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    __delattr__ = __setattr__  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self.root == other.root  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((self.root,))

    def __repr__(self) -> str:
        return f"Layout(root={self.root!r})"

    # --- image/overlay2: docker's image and layer metadata -------------------------
    @property
    def image_dir(self) -> Path:
        return join(self.root, "image", "overlay2")

    @property
    def repositories_json(self) -> Path:
        return join(self.image_dir, "repositories.json")

    def imagedb_content(self, image_id: Digest) -> Path:
        return join(self.image_dir, "imagedb", "content", image_id.algorithm, image_id.hex)

    def imagedb_metadata(self, image_id: Digest) -> Path:
        return join(self.image_dir, "imagedb", "metadata", image_id.algorithm, image_id.hex)

    @property
    def imagedb_content_dir(self) -> Path:
        return join(self.image_dir, "imagedb", "content", "sha256")

    def layerdb(self, chain_id: Digest) -> Path:
        return join(self.image_dir, "layerdb", chain_id.algorithm, chain_id.hex)

    @property
    def layerdb_dir(self) -> Path:
        return join(self.image_dir, "layerdb", "sha256")

    def layerdb_mount(self, container_id: str) -> Path:
        """layerdb/mounts/ID/{mount-id,init-id,parent}: a container's read-write layer."""
        return join(self.image_dir, "layerdb", "mounts", container_id)

    def diffid_by_digest(self, blob: Digest) -> Path:
        return join(self.image_dir, "distribution", "diffid-by-digest", blob.algorithm, blob.hex)

    def v2metadata_by_diffid(self, diff_id: Digest) -> Path:
        return join(
            self.image_dir, "distribution", "v2metadata-by-diffid", diff_id.algorithm, diff_id.hex
        )

    # --- overlay2: the layer contents ----------------------------------------------
    @property
    def overlay2(self) -> Path:
        return join(self.root, "overlay2")

    def layer_dir(self, cache_id: str) -> Path:
        return join(self.overlay2, cache_id)

    def layer_diff(self, cache_id: str) -> Path:
        return join(self.overlay2, cache_id, "diff")

    @property
    def short_links(self) -> Path:
        return join(self.overlay2, "l")

    # --- containers -----------------------------------------------------------------
    @property
    def containers(self) -> Path:
        return join(self.root, "containers")

    def container_dir(self, container_id: str) -> Path:
        return join(self.containers, container_id)

    # --- hood's own: what docker's layout has no room for ----------------------------
    @property
    def hood_dir(self) -> Path:
        return join(self.root, "hood")

    def manifest_blob(self, digest: Digest) -> Path:
        """Manifests and indexes exactly as pulled, by their digest."""
        return join(self.hood_dir, "manifests", digest.algorithm, digest.hex)

    @property
    def downloads(self) -> Path:
        """Partial blob downloads, kept across crashes so the next pull resumes."""
        return join(self.hood_dir, "downloads")

    def partial_blob(self, blob: Digest) -> Path:
        return join(self.downloads, f"{blob.algorithm}-{blob.hex}.partial")

    @property
    def tmp(self) -> Path:
        """Scratch space on the same filesystem, for write-then-rename."""
        return join(self.hood_dir, "tmp")

    @property
    def lock_file(self) -> Path:
        return join(self.hood_dir, "lock")
