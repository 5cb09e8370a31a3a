"""layerdb (keyed by chain ID) and the overlay2 directories that hold layer contents.

A layer becomes visible only when its layerdb directory is renamed into place, after
its overlay2 dir is complete. Extraction can happen in parallel; registration is in
chain order because each layer's `lower` file names its parents' short links."""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hood.digest import Digest, InvalidDigest, chain_id
from hood.errors import StoreError
from hood.store.atomic import remove_tree, staged_dir, write_text_atomic
from hood.store.disk import disk_error, is_disk_error
from hood.store.layout import Layout
from hood.store.lock import try_lock

TAR_SPLIT = "tar-split.json.gz"
# docker's maxLayerDepth: an image of more layers is refused ("max depth exceeded"), as
# overlay mounts take no more lower directories than that.
MAX_DEPTH = 125


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
            diff_id = Digest.parse(_read(meta / "diff"), sha256_only=True)
            cache_id = _read(meta / "cache-id")
            size = int(_read(meta / "size") or "0")
            parent_path = meta / "parent"
            parent = (
                Digest.parse(_read(parent_path), sha256_only=True) if parent_path.exists() else None
            )
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
        """The layer and its parents, lowest first. StoreError when a parent is missing or
        the parents loop (however deep the chain: only a real loop is one)."""
        out: list[LayerRecord] = []
        seen: set[Digest] = set()
        current: Digest | None = top
        while current is not None:
            if current in seen:
                raise StoreError(
                    f"layer {top}: parent chain loops (at {current.short}); run hood fsck"
                )
            seen.add(current)
            record = self.get(current)
            if record is None:
                raise StoreError(f"layer {current} is missing from layerdb; run hood fsck")
            out.append(record)
            current = record.parent
        out.reverse()
        return out

    def ancestors(self, top: Digest) -> list[Digest]:
        """The chain IDs of the layer and of the parents its layerdb entries name, top
        first, as far as they can be read: stops (never raises) at a missing or damaged
        entry or a loop. For keeping layers, where a broken chain must not lose any."""
        out: list[Digest] = []
        seen: set[Digest] = set()
        current: Digest | None = top
        while current is not None and current not in seen:
            seen.add(current)
            out.append(current)
            try:
                record = self.get(current)
            except StoreError:
                break
            current = record.parent if record is not None else None
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
        """A fresh overlay2 dir to extract into, marked incomplete while we hold its lock.

        The marker is locked before it gets its name, so a sweep by another process never
        finds it unlocked while its extraction is alive."""
        incomplete = self._incomplete
        incomplete.mkdir(parents=True, exist_ok=True)
        self.layout.tmp.mkdir(parents=True, exist_ok=True)
        while True:
            cache_id = secrets.token_hex(32)
            staging = self.layout.tmp / f"{cache_id}.marker"
            fd = os.open(staging, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                os.rename(staging, incomplete / cache_id)
                break
            except FileNotFoundError:
                # Another process's sweep took the marker between its creation and its
                # lock, as one killed inside begin(): start again under a new name.
                os.close(fd)
            except BaseException:
                os.close(fd)
                raise
        try:
            layer_dir = self.layout.layer_dir(cache_id)
            diff = layer_dir / "diff"
            diff.mkdir(parents=True, mode=0o755)
        except BaseException:
            os.close(fd)
            raise
        return PendingLayer(
            cache_id, layer_dir, diff, self.layout.tmp / f"{cache_id}.tar-split", fd
        )

    @property
    def _incomplete(self) -> Path:
        return self.layout.hood_dir / "incomplete"

    def abandon(self, pending: PendingLayer) -> None:
        remove_tree(pending.dir)
        with contextlib.suppress(FileNotFoundError):
            pending.tar_split.unlink()
        with contextlib.suppress(FileNotFoundError):
            (self._incomplete / pending.cache_id).unlink()
        pending.close()

    def register(
        self, pending: PendingLayer, diff_id: Digest, parent: Digest | None, size: int
    ) -> LayerRecord:
        """Make an extracted layer part of the store. Call under the store lock, in chain order."""
        chain = chain_id(parent, diff_id)
        existing = self.get(chain)
        if existing is not None:  # another pull registered it first
            self.abandon(pending)
            return existing
        parent_record = self.get(parent) if parent is not None else None
        if parent is not None and parent_record is None:
            raise StoreError(f"layer {chain}: parent {parent} is not in the store")
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
        try:
            with staged_dir(self.layout.layerdb(chain)) as meta:
                (meta / "diff").write_text(str(diff_id))
                (meta / "size").write_text(str(size))
                (meta / "cache-id").write_text(pending.cache_id)
                if parent is not None:
                    (meta / "parent").write_text(str(parent))
                os.replace(pending.tar_split, meta / TAR_SPLIT)
        except BaseException:
            # Not registered (a full disk, say): the caller abandons the layer dir, so
            # its short link would dangle.
            if not self.exists(chain):
                with contextlib.suppress(OSError):
                    link_path.unlink()
            raise
        # Killed here, the marker outlives the registration: the sweep sees that layerdb
        # names this cache ID and drops only the marker.
        with contextlib.suppress(FileNotFoundError):
            (self._incomplete / pending.cache_id).unlink()
        pending.close()
        record = self.get(chain)
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

    # --- leases: layers a pull in progress is counting on ------------------------------
    @contextlib.contextmanager
    def lease(self, chain_ids: list[Digest]) -> Iterator[None]:
        """Keep these layers from being removed while the block runs.

        A pull takes a lease (under the store lock) on every layer of its image before it
        looks at which it already has: an `rmi` of another image sharing them then leaves
        them alone, though no image in imagedb names them yet. The lease is a locked file;
        it dies with its process."""
        leases = self._leases
        leases.mkdir(parents=True, exist_ok=True)
        self.layout.tmp.mkdir(parents=True, exist_ok=True)
        name = secrets.token_hex(16)
        staging = self.layout.tmp / f"{name}.lease"
        fd = os.open(staging, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, "".join(f"{c}\n" for c in chain_ids).encode())
            os.rename(staging, leases / name)
        except BaseException as exc:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                staging.unlink()
            if is_disk_error(exc):
                raise disk_error(exc, "writing", leases / name) from None  # type: ignore[arg-type]
            raise
        try:
            yield
        finally:
            with contextlib.suppress(FileNotFoundError):
                (leases / name).unlink()
            os.close(fd)

    def leased(self) -> set[Digest]:
        """Chain IDs leased by live processes; leases of dead ones are dropped."""
        out: set[Digest] = set()
        leases = self._leases
        if not leases.is_dir():
            return out
        for entry in leases.iterdir():
            fd = try_lock(entry)
            if fd is not None:  # its holder is gone
                with contextlib.suppress(FileNotFoundError):
                    entry.unlink()
                os.close(fd)
                continue
            with contextlib.suppress(OSError):
                for line in entry.read_text().split():
                    with contextlib.suppress(InvalidDigest):
                        out.add(Digest.parse(line))
        return out

    @property
    def _leases(self) -> Path:
        return self.layout.hood_dir / "leases"

    def sweep_incomplete(self) -> list[str]:
        """Clear what killed processes left half-done; call under the store lock.

        - overlay2 dirs of extractions whose process died (their marker in
          hood/incomplete is no longer locked), with their short link and tar-split;
        - layer removals cut short (layerdb/sha256/.CHAIN.removing-*): finished;
        - layerdb entries being staged (layerdb/sha256/.CHAIN.tmp-*): dropped.
        Returns the cache ids of the overlay2 dirs removed."""
        removed: list[str] = []
        incomplete = self._incomplete
        stale: list[tuple[Path, int]] = []
        if incomplete.is_dir():
            for marker in incomplete.iterdir():
                fd = try_lock(marker)
                if fd is not None:
                    stale.append((marker, fd))
        try:
            registered = self._registered_cache_ids() if stale else set()
            for marker, _ in stale:
                name = marker.name
                if _valid_cache_id(name) and name not in registered:
                    self._remove_layer_dir(name)
                    with contextlib.suppress(FileNotFoundError):
                        (self.layout.tmp / f"{name}.tar-split").unlink()
                    removed.append(name)
                with contextlib.suppress(FileNotFoundError):
                    marker.unlink()
        finally:
            for _, fd in stale:
                os.close(fd)
        base = self.layout.layerdb_dir
        if base.is_dir():
            for entry in base.iterdir():
                if not entry.name.startswith("."):
                    continue
                if ".removing-" in entry.name:
                    with contextlib.suppress(OSError):
                        cache_id = _read(entry / "cache-id")
                        if _valid_cache_id(cache_id):
                            self._remove_layer_dir(cache_id)
                    remove_tree(entry)
                elif ".tmp-" in entry.name:
                    remove_tree(entry)
        tmp = self.layout.tmp
        if tmp.is_dir():  # markers locked but never named (killed inside begin())
            for entry in tmp.iterdir():
                if entry.name.endswith((".marker", ".lease")):
                    fd = try_lock(entry)
                    if fd is not None:
                        with contextlib.suppress(FileNotFoundError):
                            entry.unlink()
                        os.close(fd)
        return removed

    def _registered_cache_ids(self) -> set[str]:
        out = set()
        for chain in self.all_chain_ids():
            with contextlib.suppress(OSError):
                out.add(_read(self.layout.layerdb(chain) / "cache-id"))
        return out

    def _remove_layer_dir(self, cache_id: str) -> None:
        """An overlay2 dir and the short link leading to it."""
        layer_dir = self.layout.layer_dir(cache_id)
        link_id = _read_optional(layer_dir / "link")
        if link_id and "/" not in link_id and link_id not in (".", ".."):
            link = self.layout.short_links / link_id
            with contextlib.suppress(OSError):
                if os.readlink(link) == f"../{cache_id}/diff":
                    link.unlink()
        remove_tree(layer_dir)


def _read_optional(path: Path) -> str:
    try:
        return _read(path)
    except FileNotFoundError:
        return ""


def _valid_cache_id(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)
