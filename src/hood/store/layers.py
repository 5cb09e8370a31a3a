"""layerdb (keyed by chain ID) and the overlay2 directories that hold layer contents.

A layer becomes visible only when its layerdb directory is renamed into place, after
its overlay2 dir is complete. Extraction can happen in parallel; registration is in
chain order because each layer's `lower` file names its parents' short links."""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from hood.digest import Digest, InvalidDigest
from hood.errors import StoreError
from hood.store.atomic import remove_tree, staged_dir, write_text_atomic
from hood.store.layout import Layout
from hood.store.lock import try_lock

TAR_SPLIT = "tar-split.json.gz"


@dataclass(frozen=True)
class LayerRecord:
    chain_id: Digest
    diff_id: Digest
    parent: Digest | None
    cache_id: str
    size: int
    link_id: str
    diff_dir: Path


@dataclass
class PendingLayer:
    """An overlay2 dir being filled by an extraction, not yet in layerdb."""

    cache_id: str
    dir: Path
    diff: Path
    tar_split: Path
    _lock_fd: int

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._lock_fd)


def new_link_id() -> str:
    """overlay2's short link name: 26 upper-case base32 characters."""
    return base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=")[:26]


def _read(path: Path) -> str:
    return path.read_text().strip()


class LayerStore:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    # --- reading ---------------------------------------------------------------------
    def get(self, chain_id: Digest) -> LayerRecord | None:
        meta = self.layout.layerdb(chain_id)
        try:
            diff_id = Digest.parse(_read(meta / "diff"))
            cache_id = _read(meta / "cache-id")
            size = int(_read(meta / "size") or "0")
            parent_path = meta / "parent"
            parent = Digest.parse(_read(parent_path)) if parent_path.exists() else None
        except FileNotFoundError:
            return None
        except (ValueError, InvalidDigest) as exc:
            raise StoreError(f"layer {chain_id}: corrupt layerdb entry {meta}: {exc}") from None
        if not _valid_cache_id(cache_id):
            raise StoreError(f"layer {chain_id}: corrupt cache-id in {meta}")
        link_path = self.layout.layer_dir(cache_id) / "link"
        try:
            link_id = _read(link_path)
        except FileNotFoundError:
            link_id = ""
        return LayerRecord(
            chain_id, diff_id, parent, cache_id, size, link_id, self.layout.layer_diff(cache_id)
        )

    def exists(self, chain_id: Digest) -> bool:
        return (self.layout.layerdb(chain_id) / "cache-id").exists()

    def tar_split_path(self, chain_id: Digest) -> Path:
        return self.layout.layerdb(chain_id) / TAR_SPLIT

    def chain(self, top: Digest) -> list[LayerRecord]:
        """The layer and its parents, lowest first."""
        out: list[LayerRecord] = []
        current: Digest | None = top
        while current is not None:
            record = self.get(current)
            if record is None:
                raise StoreError(f"layer {current} is missing from layerdb")
            out.append(record)
            current = record.parent
            if len(out) > 1000:
                raise StoreError(f"layer {top}: parent chain loops")
        out.reverse()
        return out

    def all_chain_ids(self) -> list[Digest]:
        out = []
        base = self.layout.layerdb_dir
        if not base.is_dir():
            return out
        for entry in base.iterdir():
            with contextlib.suppress(InvalidDigest):
                out.append(Digest.parse("sha256:" + entry.name))
        return out

    # --- writing ---------------------------------------------------------------------
    def begin(self) -> PendingLayer:
        """A fresh overlay2 dir to extract into, marked incomplete while we hold its lock."""
        cache_id = secrets.token_hex(32)
        incomplete = self.layout.hood_dir / "incomplete"
        incomplete.mkdir(parents=True, exist_ok=True)
        marker = incomplete / cache_id
        fd = os.open(marker, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX)
        layer_dir = self.layout.layer_dir(cache_id)
        diff = layer_dir / "diff"
        diff.mkdir(parents=True, mode=0o755)
        self.layout.tmp.mkdir(parents=True, exist_ok=True)
        return PendingLayer(
            cache_id, layer_dir, diff, self.layout.tmp / f"{cache_id}.tar-split", fd
        )

    def abandon(self, pending: PendingLayer) -> None:
        remove_tree(pending.dir)
        with contextlib.suppress(FileNotFoundError):
            pending.tar_split.unlink()
        with contextlib.suppress(FileNotFoundError):
            (self.layout.hood_dir / "incomplete" / pending.cache_id).unlink()
        pending.close()

    def register(
        self, pending: PendingLayer, diff_id: Digest, parent: Digest | None, size: int
    ) -> LayerRecord:
        """Make an extracted layer part of the store. Call under the store lock, in chain order."""
        chain_id = diff_id if parent is None else Digest.of_bytes(f"{parent} {diff_id}".encode())
        existing = self.get(chain_id)
        if existing is not None:  # another pull registered it first
            self.abandon(pending)
            return existing
        parent_record = self.get(parent) if parent is not None else None
        if parent is not None and parent_record is None:
            raise StoreError(f"layer {chain_id}: parent {parent} is not in the store")
        link_id = new_link_id()
        layer_dir = pending.dir
        links = self.layout.short_links
        links.mkdir(parents=True, exist_ok=True)
        if parent_record is not None:
            (layer_dir / "work").mkdir(exist_ok=True)
            parent_lower = _read_optional(self.layout.layer_dir(parent_record.cache_id) / "lower")
            lower = f"l/{parent_record.link_id}"
            if parent_lower:
                lower += ":" + parent_lower
            write_text_atomic(layer_dir / "lower", lower)
        write_text_atomic(layer_dir / "link", link_id)
        link_path = links / link_id
        with contextlib.suppress(FileNotFoundError):
            link_path.unlink()
        os.symlink(f"../{pending.cache_id}/diff", link_path)
        with staged_dir(self.layout.layerdb(chain_id)) as meta:
            (meta / "diff").write_text(str(diff_id))
            (meta / "size").write_text(str(size))
            (meta / "cache-id").write_text(pending.cache_id)
            if parent is not None:
                (meta / "parent").write_text(str(parent))
            os.replace(pending.tar_split, meta / TAR_SPLIT)
        with contextlib.suppress(FileNotFoundError):
            (self.layout.hood_dir / "incomplete" / pending.cache_id).unlink()
        pending.close()
        record = self.get(chain_id)
        assert record is not None
        return record

    def remove(self, chain_id: Digest) -> None:
        """Delete a layer: layerdb entry first (so it stops being visible), then its files."""
        record = self.get(chain_id)
        if record is None:
            return
        meta = self.layout.layerdb(chain_id)
        doomed = meta.with_name(f".{meta.name}.removing-{secrets.token_hex(4)}")
        os.rename(meta, doomed)
        if record.link_id:
            with contextlib.suppress(FileNotFoundError):
                (self.layout.short_links / record.link_id).unlink()
        remove_tree(self.layout.layer_dir(record.cache_id))
        remove_tree(doomed)

    def sweep_incomplete(self) -> list[str]:
        """Remove overlay2 dirs of extractions whose process died. Returns their cache ids."""
        incomplete = self.layout.hood_dir / "incomplete"
        removed: list[str] = []
        if not incomplete.is_dir():
            return removed
        for marker in incomplete.iterdir():
            fd = try_lock(marker)
            if fd is None:
                continue  # a live extraction holds it
            try:
                if _valid_cache_id(marker.name):
                    remove_tree(self.layout.layer_dir(marker.name))
                    with contextlib.suppress(FileNotFoundError):
                        (self.layout.tmp / f"{marker.name}.tar-split").unlink()
                marker.unlink()
                removed.append(marker.name)
            finally:
                os.close(fd)
        return removed


def _read_optional(path: Path) -> str:
    try:
        return _read(path)
    except FileNotFoundError:
        return ""


def _valid_cache_id(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)
