"""Re-checking a stored layer: what `hood digests` explains and `hood fsck` reports both
come from here. A layer is its files (overlay2/CACHE/diff) plus the tar-split metadata that
turns them back into the exact tar; it is right when the files are what the tar says and
the rebuilt tar hashes to the layer's diff ID."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hood.core.digest import Digest
from hood.core.errors import HoodError
from hood.layer.verify import Difference
from hood.store.images import ImageStore


@dataclass
class LayerCheck:
    """What re-checking one layer found."""

    differences: list[Difference] = field(default_factory=list)  # files vs the tar
    rebuilt: Digest | None = None  # what the rebuilt tar hashes to (None: not rebuilt)
    error: str = ""  # why it could not be rebuilt

    def changed(self) -> str:
        """The differences in one line, for a message."""
        return "; ".join(str(d) for d in self.differences)


def rebuild_diff_id(store: ImageStore, chain_id: Digest) -> Digest:
    """Rebuild the layer's uncompressed tar from tar-split + its files; hash it."""
    from hood.layer.tarsplit import tar_sha256

    record = store.layers.get(chain_id)
    if record is None:
        raise HoodError(f"layer {chain_id} is not in layerdb")
    try:
        hexdigest = tar_sha256(Path(store.layers.tar_split_path(chain_id)), Path(record.diff_dir))
    except EOFError as exc:  # a truncated tar-split
        raise HoodError(f"layer {chain_id}: tar-split metadata is truncated: {exc}") from None
    return Digest("sha256", hexdigest)


def check_layer(
    store: ImageStore, chain_id: Digest, *, rebuild: bool = True, limit: int | None = None
) -> LayerCheck:
    """Compare the layer's files with its tar-split metadata (at most `limit` differences)
    and, with `rebuild`, hash the tar they rebuild."""
    from hood.layer.verify import DEFAULT_LIMIT, tree_differences

    out = LayerCheck()
    record = store.layers.get(chain_id)
    if record is None:
        out.error = f"layer {chain_id} is not in layerdb"
        return out
    out.differences = tree_differences(
        Path(store.layers.tar_split_path(chain_id)),
        Path(record.diff_dir),
        limit=DEFAULT_LIMIT if limit is None else limit,
    )
    if rebuild:
        try:
            out.rebuilt = rebuild_diff_id(store, chain_id)
        except (HoodError, OSError) as exc:
            out.error = str(exc)
    return out
