"""layerdb (keyed by chain ID) and the overlay2 directories that hold layer contents.

A layer becomes visible only when its layerdb directory is renamed into place, after
its overlay2 dir is complete. Extraction can happen in parallel; registration is in
chain order because each layer's `lower` file names its parents' short links."""

from __future__ import annotations

import fcntl
import os

from hood.core.digest import Digest, InvalidDigest, chain_id
from hood.core.errors import StoreError
from hood.core.fileio import (
    StagedDir,
    disk_error,
    is_disk_error,
    read_optional,
    read_text,
    remove_tree,
    write_atomic,
)
from hood.core.lean import Frozen, Record, suppress
from hood.store.layout import Layout
from hood.store.lock import try_lock

TAR_SPLIT = "tar-split.json.gz"
# docker's maxLayerDepth: an image of more layers is refused ("max depth exceeded"), as
# overlay mounts take no more lower directories than that.
MAX_DEPTH = 125


class LayerRecord(Frozen):
    """A layer in layerdb, with where its files are (overlay2/CACHE_ID/diff)."""

    __slots__ = ("chain_id", "diff_id", "parent", "cache_id", "size", "link_id", "diff_dir")
    chain_id: Digest
    diff_id: Digest
    parent: Digest | None
    cache_id: str
    size: int
    link_id: str
    diff_dir: str

    def __init__(
        self,
        chain_id: Digest,
        diff_id: Digest,
        parent: Digest | None,
        cache_id: str,
        size: int,
        link_id: str,
        diff_dir: str,
    ) -> None:
        self._init(
            chain_id=chain_id,
            diff_id=diff_id,
            parent=parent,
            cache_id=cache_id,
            size=size,
            link_id=link_id,
            diff_dir=diff_dir,
        )


class PendingLayer(Record):
    """An overlay2 dir being filled by an extraction, not yet in layerdb."""

    __slots__ = ("cache_id", "dir", "diff", "tar_split", "_lock_fd")

    def __init__(self, cache_id: str, dir: str, diff: str, tar_split: str, lock_fd: int) -> None:  # noqa: A002
        self.cache_id = cache_id
        self.dir = dir
        self.diff = diff
        self.tar_split = tar_split
        self._lock_fd = lock_fd

    def close(self) -> None:
        """Release the pending layer's lock; once (a second call must not close an fd
        number the process has since given to another file)."""
        fd, self._lock_fd = self._lock_fd, -1
        if fd >= 0:
            with suppress(OSError):
                os.close(fd)


_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def new_link_id() -> str:
    """overlay2's short link name: 26 characters of base32 (RFC 4648's alphabet) over 16
    random bytes, as docker's."""
    n = int.from_bytes(os.urandom(16), "big") << 2  # 128 bits + 2 zero bits = 26 x 5
    return "".join(_B32[(n >> (5 * i)) & 31] for i in range(25, -1, -1))


def new_cache_id() -> str:
    """A layer directory's name under overlay2/: 64 random hex characters."""
    return os.urandom(32).hex()


def valid_cache_id(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


def valid_link_id(text: str) -> bool:
    return bool(text) and "/" not in text and text not in (".", "..")


class LayerStore:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    # --- reading ---------------------------------------------------------------------
    def get(self, chain_id: Digest) -> LayerRecord | None:
        meta = self.layout.layerdb(chain_id)
        try:
            diff_id = Digest.parse(read_text(os.path.join(meta, "diff")), sha256_only=True)
            cache_id = read_text(os.path.join(meta, "cache-id"))
            size = int(read_text(os.path.join(meta, "size")) or "0")
            parent_text = read_optional(os.path.join(meta, "parent"))
            parent = Digest.parse(parent_text, sha256_only=True) if parent_text else None
        except FileNotFoundError:
            return None
        except (ValueError, InvalidDigest) as exc:
            raise StoreError(f"layer {chain_id}: corrupt layerdb entry {meta}: {exc}") from None
        if not valid_cache_id(cache_id):
            raise StoreError(f"layer {chain_id}: corrupt cache-id in {meta}")
        link_id = read_optional(os.path.join(self.layout.layer_dir(cache_id), "link"))
        return LayerRecord(
            chain_id, diff_id, parent, cache_id, size, link_id, self.layout.layer_diff(cache_id)
        )

    def exists(self, chain_id: Digest) -> bool:
        return os.path.exists(os.path.join(self.layout.layerdb(chain_id), "cache-id"))

    def tar_split_path(self, chain_id: Digest) -> str:
        return os.path.join(self.layout.layerdb(chain_id), TAR_SPLIT)

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
        try:
            names = os.listdir(self.layout.layerdb_dir)
        except FileNotFoundError:
            return out
        for name in names:
            with suppress(InvalidDigest):
                out.append(Digest.parse("sha256:" + name))
        return out

    # --- writing ---------------------------------------------------------------------
    def begin(self) -> PendingLayer:
        """A fresh overlay2 dir to extract into, marked incomplete while we hold its lock.

        The marker is locked before it gets its name, so a sweep by another process never
        finds it unlocked while its extraction is alive."""
        incomplete = self.layout.incomplete
        os.makedirs(incomplete, exist_ok=True)
        os.makedirs(self.layout.tmp, exist_ok=True)
        while True:
            cache_id = new_cache_id()
            staging = os.path.join(self.layout.tmp, f"{cache_id}.marker")
            fd = os.open(staging, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                os.rename(staging, os.path.join(incomplete, cache_id))
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
            diff = os.path.join(layer_dir, "diff")
            os.makedirs(diff, mode=0o755)
        except BaseException:
            os.close(fd)
            raise
        tar_split = os.path.join(self.layout.tmp, f"{cache_id}.tar-split")
        return PendingLayer(cache_id, layer_dir, diff, tar_split, fd)

    def abandon(self, pending: PendingLayer) -> None:
        remove_tree(pending.dir)
        with suppress(FileNotFoundError):
            os.unlink(pending.tar_split)
        with suppress(FileNotFoundError):
            os.unlink(os.path.join(self.layout.incomplete, pending.cache_id))
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
        os.makedirs(self.layout.short_links, exist_ok=True)
        if parent_record is not None:
            with suppress(FileExistsError):
                os.mkdir(os.path.join(layer_dir, "work"))
            write_atomic(os.path.join(layer_dir, "lower"), self.lower_of(parent_record))
        write_atomic(os.path.join(layer_dir, "link"), link_id)
        link_path = self.layout.short_link(link_id)
        with suppress(FileNotFoundError):
            os.unlink(link_path)
        os.symlink(f"../{pending.cache_id}/diff", link_path)
        try:
            with StagedDir(self.layout.layerdb(chain)) as meta:
                _write(meta, "diff", str(diff_id))
                _write(meta, "size", str(size))
                _write(meta, "cache-id", pending.cache_id)
                if parent is not None:
                    _write(meta, "parent", str(parent))
                os.replace(pending.tar_split, os.path.join(meta, TAR_SPLIT))
        except BaseException:
            # Not registered (a full disk, say): the caller abandons the layer dir, so
            # its short link would dangle.
            if not self.exists(chain):
                with suppress(OSError):
                    os.unlink(link_path)
            raise
        # Killed here, the marker outlives the registration: the sweep sees that layerdb
        # names this cache ID and drops only the marker.
        with suppress(FileNotFoundError):
            os.unlink(os.path.join(self.layout.incomplete, pending.cache_id))
        pending.close()
        record = self.get(chain)
        assert record is not None
        return record

    def lower_of(self, top: LayerRecord) -> str:
        """The `lower` of a layer put on `top`: short links, topmost first."""
        parent_lower = read_optional(os.path.join(self.layout.layer_dir(top.cache_id), "lower"))
        lower = f"l/{top.link_id}"
        return f"{lower}:{parent_lower}" if parent_lower else lower

    def remove(self, chain_id: Digest) -> None:
        """Delete a layer: layerdb entry first (so it stops being visible), then its files."""
        record = self.get(chain_id)
        if record is None:
            return
        meta = self.layout.layerdb(chain_id)
        head, name = os.path.split(meta)
        doomed = os.path.join(head, f".{name}.removing-{os.urandom(4).hex()}")
        os.rename(meta, doomed)
        self.remove_layer_dir(record.cache_id)
        remove_tree(doomed)

    def remove_layer_dir(self, cache_id: str) -> None:
        """An overlay2 dir and the short link leading to it (link first: a link without
        its dir would be a dangling one for fsck to find)."""
        layer_dir = self.layout.layer_dir(cache_id)
        link_id = read_optional(os.path.join(layer_dir, "link"))
        if valid_link_id(link_id):
            link = self.layout.short_link(link_id)
            with suppress(OSError):
                if os.readlink(link) == f"../{cache_id}/diff":
                    os.unlink(link)
        remove_tree(layer_dir)

    # --- leases: layers a pull in progress is counting on ------------------------------
    def lease(self, chain_ids: list[Digest]) -> Lease:
        """Keep these layers from being removed while `with store.layers.lease(...):` runs.

        A pull takes a lease (under the store lock) on every layer of its image before it
        looks at which it already has: an `rmi` of another image sharing them then leaves
        them alone, though no image in imagedb names them yet. The lease is a locked file;
        it dies with its process."""
        return Lease(self.layout, chain_ids)

    def leased(self) -> set[Digest]:
        """Chain IDs leased by live processes; leases of dead ones are dropped."""
        out: set[Digest] = set()
        leases = self.layout.leases
        for name in _listdir(leases):
            entry = os.path.join(leases, name)
            fd = try_lock(entry)
            if fd is not None:  # its holder is gone
                with suppress(FileNotFoundError):
                    os.unlink(entry)
                os.close(fd)
                continue
            with suppress(OSError):
                for line in read_text(entry).split():
                    with suppress(InvalidDigest):
                        out.add(Digest.parse(line))
        return out

    def sweep_incomplete(self) -> list[str]:
        """Clear what killed processes left half-done; call under the store lock.

        - overlay2 dirs of extractions whose process died (their marker in
          hood/incomplete is no longer locked), with their short link and tar-split;
        - layer removals cut short (layerdb/sha256/.CHAIN.removing-*): finished;
        - layerdb entries being staged (layerdb/sha256/.CHAIN.tmp-*): dropped.
        Returns the cache ids of the overlay2 dirs removed."""
        removed: list[str] = []
        incomplete = self.layout.incomplete
        stale: list[tuple[str, int]] = []
        for name in _listdir(incomplete):
            fd = try_lock(os.path.join(incomplete, name))
            if fd is not None:
                stale.append((name, fd))
        try:
            registered = self._registered_cache_ids() if stale else set()
            for name, _ in stale:
                if valid_cache_id(name) and name not in registered:
                    self.remove_layer_dir(name)
                    with suppress(FileNotFoundError):
                        os.unlink(os.path.join(self.layout.tmp, f"{name}.tar-split"))
                    removed.append(name)
                with suppress(FileNotFoundError):
                    os.unlink(os.path.join(incomplete, name))
        finally:
            for _, fd in stale:
                os.close(fd)
        base = self.layout.layerdb_dir
        for name in _listdir(base):
            if not name.startswith("."):
                continue
            entry = os.path.join(base, name)
            if ".removing-" in name:
                with suppress(OSError):
                    cache_id = read_text(os.path.join(entry, "cache-id"))
                    if valid_cache_id(cache_id):
                        self.remove_layer_dir(cache_id)
                remove_tree(entry)
            elif ".tmp-" in name:
                remove_tree(entry)
        tmp = self.layout.tmp
        for name in _listdir(tmp):  # markers locked but never named (killed inside begin())
            if name.endswith((".marker", ".lease")):
                entry = os.path.join(tmp, name)
                fd = try_lock(entry)
                if fd is not None:
                    with suppress(FileNotFoundError):
                        os.unlink(entry)
                    os.close(fd)
        return removed

    def _registered_cache_ids(self) -> set[str]:
        out = set()
        for chain in self.all_chain_ids():
            with suppress(OSError):
                out.add(read_text(os.path.join(self.layout.layerdb(chain), "cache-id")))
        return out


class Lease:
    """A lease on layers (see LayerStore.lease): a locked file under hood/leases."""

    def __init__(self, layout: Layout, chain_ids: list[Digest]) -> None:
        self.layout = layout
        self.chain_ids = chain_ids
        self.path = ""
        self.fd = -1

    def __enter__(self) -> Lease:
        leases = self.layout.leases
        os.makedirs(leases, exist_ok=True)
        os.makedirs(self.layout.tmp, exist_ok=True)
        name = os.urandom(16).hex()
        staging = os.path.join(self.layout.tmp, f"{name}.lease")
        self.path = os.path.join(leases, name)
        fd = os.open(staging, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, "".join(f"{c}\n" for c in self.chain_ids).encode())
            os.rename(staging, self.path)
        except BaseException as exc:
            os.close(fd)
            with suppress(FileNotFoundError):
                os.unlink(staging)
            if is_disk_error(exc):
                raise disk_error(exc, "writing", self.path) from None  # type: ignore[arg-type]
            raise
        self.fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        with suppress(FileNotFoundError):
            os.unlink(self.path)
        os.close(self.fd)


def _write(directory: str, name: str, text: str) -> None:
    with open(os.path.join(directory, name), "w") as f:
        f.write(text)


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return []
