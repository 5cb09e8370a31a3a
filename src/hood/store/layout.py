"""Paths of the data root. One place knows where things live; nothing else joins paths
under the root. Every path is a str (os.path), for every caller: `hood run` uses these too,
and pathlib would cost it milliseconds of imports."""

from __future__ import annotations

import os

from hood.core.lean import Frozen

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hood.core.digest import Digest

join = os.path.join


class Layout(Frozen):
    """Every path under the data root `root` (a str; a Path given is turned into one)."""

    __slots__ = ("root",)
    root: str

    def __init__(self, root: str | os.PathLike[str]) -> None:
        text = os.fspath(root)
        if not text:
            raise ValueError("a data root must be a path")
        self._init(root=os.path.normpath(text))

    # --- image/overlay2: docker's image and layer metadata -------------------------
    @property
    def image_dir(self) -> str:
        return join(self.root, "image", "overlay2")

    @property
    def repositories_json(self) -> str:
        return join(self.image_dir, "repositories.json")

    @property
    def imagedb_content_dir(self) -> str:
        return join(self.image_dir, "imagedb", "content", "sha256")

    def imagedb_content(self, image_id: Digest) -> str:
        return join(self.image_dir, "imagedb", "content", image_id.algorithm, image_id.hex)

    def imagedb_metadata(self, image_id: Digest) -> str:
        return join(self.image_dir, "imagedb", "metadata", image_id.algorithm, image_id.hex)

    @property
    def layerdb_dir(self) -> str:
        return join(self.image_dir, "layerdb", "sha256")

    def layerdb(self, chain_id: Digest) -> str:
        return join(self.image_dir, "layerdb", chain_id.algorithm, chain_id.hex)

    @property
    def layerdb_mounts(self) -> str:
        return join(self.image_dir, "layerdb", "mounts")

    def layerdb_mount(self, container_id: str) -> str:
        """layerdb/mounts/ID/{mount-id,init-id,parent}: a container's read-write layer."""
        return join(self.layerdb_mounts, container_id)

    def diffid_by_digest(self, blob: Digest) -> str:
        return join(self.image_dir, "distribution", "diffid-by-digest", blob.algorithm, blob.hex)

    def v2metadata_by_diffid(self, diff_id: Digest) -> str:
        return join(
            self.image_dir, "distribution", "v2metadata-by-diffid", diff_id.algorithm, diff_id.hex
        )

    # --- overlay2: the layer contents ----------------------------------------------
    @property
    def overlay2(self) -> str:
        return join(self.root, "overlay2")

    def layer_dir(self, cache_id: str) -> str:
        return join(self.overlay2, cache_id)

    def layer_diff(self, cache_id: str) -> str:
        return join(self.overlay2, cache_id, "diff")

    @property
    def short_links(self) -> str:
        return join(self.overlay2, "l")

    def short_link(self, link_id: str) -> str:
        return join(self.overlay2, "l", link_id)

    # --- containers -----------------------------------------------------------------
    @property
    def containers(self) -> str:
        return join(self.root, "containers")

    def container_dir(self, container_id: str) -> str:
        return join(self.containers, container_id)

    # --- volumes: docker's local driver's volumes/NAME/_data -----------------------
    @property
    def volumes(self) -> str:
        return join(self.root, "volumes")

    def volume_dir(self, name: str) -> str:
        return join(self.root, "volumes", name)

    def volume_data(self, name: str) -> str:
        """What the container sees at the volume's mount point."""
        return join(self.root, "volumes", name, "_data")

    # --- hood's own: what docker's layout has no room for ----------------------------
    def hood_volume(self, name: str) -> str:
        """A volume's labels, creation time and whether it is anonymous (docker keeps them
        in volumes/metadata.db, a bolt database hood does not write)."""
        return join(self.hood_dir, "volumes", name + ".json")

    @property
    def hood_dir(self) -> str:
        return join(self.root, "hood")

    def manifest_blob(self, digest: Digest) -> str:
        """Manifests and indexes exactly as pulled, by their digest."""
        return join(self.hood_dir, "manifests", digest.algorithm, digest.hex)

    def image_sources(self, image_id: Digest) -> str:
        """Which manifest (and index) each repository gave for an image."""
        return join(self.hood_dir, "images", image_id.hex, "sources.json")

    def hood_container_dir(self, container_id: str) -> str:
        """What hood keeps of a container beside docker's files (its run spec, the PID's
        start time): docker's config.v2.json has no room for it."""
        return join(self.hood_dir, "containers", container_id)

    @property
    def downloads(self) -> str:
        """Partial blob downloads, kept across crashes so the next pull resumes."""
        return join(self.hood_dir, "downloads")

    def partial_blob(self, blob: Digest) -> str:
        return join(self.downloads, f"{blob.algorithm}-{blob.hex}.partial")

    def partial_lock(self, blob: Digest) -> str:
        """Held by the one process downloading the blob."""
        return join(self.downloads, f"{blob.algorithm}-{blob.hex}.lock")

    @property
    def incomplete(self) -> str:
        """Markers of layer directories being filled (locked while their writer lives)."""
        return join(self.hood_dir, "incomplete")

    @property
    def leases(self) -> str:
        """Layers pulls in progress count on (a locked file each)."""
        return join(self.hood_dir, "leases")

    @property
    def tmp(self) -> str:
        """Scratch space on the same filesystem, for write-then-rename."""
        return join(self.hood_dir, "tmp")

    @property
    def lock_file(self) -> str:
        return join(self.hood_dir, "lock")


def default_root() -> str:
    """`HOOD_ROOT`, else /var/lib/hood for root and `$XDG_DATA_HOME/hood` for others."""
    env = os.environ.get("HOOD_ROOT")
    if env:
        return env
    from hood.core.privilege import host_root

    if host_root():
        return "/var/lib/hood"
    xdg = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local/share")
    return os.path.join(xdg, "hood")
