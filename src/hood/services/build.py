"""Images made by hand: `diff` (what a container changed), `commit` (its changes as a new
layer and image, the tar built as dockerd builds it, so the same container gives the same
diff ID) and `import` (a tar as a one-layer image, its diff ID the sha256 of the tar)."""

from __future__ import annotations

import contextlib
import copy
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from hood.core import reference
from hood.core.digest import Digest, chain_id, new_hasher
from hood.core.errors import Conflict, HoodError
from hood.core.imageconfig import ImageConfig
from hood.core.jsonio import go_json
from hood.core.platform import Platform
from hood.core.privilege import host_root
from hood.layer.changes import Change, changes
from hood.services.changes import apply_changes, zero_config
from hood.services.tar_child import TarFromChild, hashing
from hood.store.containers import Container, ContainerStore
from hood.store.images import ImageStore
from hood.store.layers import LayerRecord
from hood.store.layout import Layout
from hood.store.rwlayers import RwLayers

if TYPE_CHECKING:
    from hood.layer.apply import AppliedLayer

EMPTY_TAR = Digest("sha256", "5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef")


def _now() -> str:
    ns = time.time_ns()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9))
    frac = f"{ns % 10**9:09d}".rstrip("0")
    return stamp + (f".{frac}" if frac else "") + "Z"


# --- diff -----------------------------------------------------------------------------------


def container_changes(layout: Layout, name: str) -> list[Change]:
    """`hood diff`: the container's view against what it started from (its init layer over
    its image), read through read-only mounts, so a running container can be diffed too."""
    from hood.runtime.rootfs import lower_of, mount_read_only, unmount

    c = ContainerStore(layout).resolve(name)
    mount_id = RwLayers(layout).mount_id(c.id)
    lowers = lower_of(layout, mount_id)
    rootless = not host_root()
    if rootless:  # mounts of our own, in namespaces of our own
        from hood.runtime.user_namespace import private_mounts

        private_mounts()
    os.makedirs(layout.tmp, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="diff-", dir=layout.tmp) as tmp:
        new, old = os.path.join(tmp, "new"), os.path.join(tmp, "old")
        os.mkdir(new)
        os.mkdir(old)
        mount_read_only(layout, [f"{mount_id}/diff", *lowers], new, userxattr=rootless)
        try:
            if lowers:
                mount_read_only(layout, lowers, old, userxattr=rootless)
            try:
                return changes(new, old)
            finally:
                if lowers:
                    unmount(old)
        finally:
            unmount(new)


# --- layers made here ------------------------------------------------------------------------


class _Hashing:
    """A stream read through, its sha256 learnt on the way (a tar's diff ID)."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.hasher = new_hasher("sha256")

    def read(self, n: int = -1) -> bytes:
        data = self.stream.read(n)
        self.hasher.update(data)
        return data

    def readinto(self, buf) -> int:  # type: ignore[no-untyped-def]
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def digest(self) -> Digest:
        return Digest("sha256", self.hasher.hexdigest())


# apply(stream, target, tar_split): a layer's entries into target, its tar-split written.
Apply = Callable[[BinaryIO, Path, BinaryIO], "AppliedLayer"]


def _apply_tar(stream: BinaryIO, target: Path, tar_split: BinaryIO) -> AppliedLayer:
    from hood.layer.apply import apply_layer

    return apply_layer(stream, target, tar_split=tar_split)


def _add_layer(
    images: ImageStore,
    stream: BinaryIO,
    parent: LayerRecord | None,
    diff_id_after_end: Callable[[], Digest],
    apply: Apply = _apply_tar,
) -> tuple[Digest, LayerRecord | None]:
    """Extract a tar (by default; `apply` reads another form of it); once it has been
    read to its end (or `stream` stopped early with Known), `diff_id_after_end()` says its
    digest. Registers the layer unless it is the empty tar (docker's empty layer) or
    in the store already. Returns its diff ID and layer."""
    from hood.services.tar_child import Known

    pending = images.layers.begin()
    try:
        fd = os.open(pending.tar_split, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC)
        try:
            with open(fd, "wb") as tar_split:
                applied = apply(stream, Path(pending.diff), tar_split)
                tar_split.flush()
                os.fsync(tar_split.fileno())
            while stream.read(1 << 20):  # bytes after the tar's end are part of it too
                pass
        except Known:  # the store has this layer: what was extracted of it goes
            images.layers.abandon(pending)
            return _stored(images, diff_id_after_end(), parent)
        diff_id = diff_id_after_end()
        if diff_id == EMPTY_TAR:
            images.layers.abandon(pending)
            return diff_id, None
        with images.locked():
            record = images.layers.register(
                pending, diff_id, parent.chain_id if parent else None, int(applied.size)
            )
        return diff_id, record
    except BaseException:
        images.layers.abandon(pending)
        raise


def _stored(
    images: ImageStore, diff_id: Digest, parent: LayerRecord | None
) -> tuple[Digest, LayerRecord | None]:
    """A layer known to be in the store (or the empty tar, which is no layer)."""
    if diff_id == EMPTY_TAR:
        return diff_id, None
    chain = chain_id(parent.chain_id if parent else None, diff_id)
    with images.locked():
        record = images.layers.get(chain)
    if record is None:
        raise HoodError(f"layer {chain} was removed from the store meanwhile: commit again")
    return diff_id, record


def _store_image(
    images: ImageStore,
    doc: dict[str, Any],
    name: str | None,
    parent: Digest | None = None,
) -> Digest:
    """Write a new config (top-level keys sorted, as docker's) and name it."""
    raw = go_json({k: doc[k] for k in sorted(doc)}, html=True).encode()
    config = ImageConfig.parse(raw, "new image config")
    with images.locked():
        images.put_config(config)
        if parent is not None:
            from hood.core.fileio import write_atomic

            write_atomic(os.path.join(images.layout.imagedb_metadata(config.id), "parent"), str(parent))
        if name:
            ref = reference.parse(name)
            if ref.digest is not None:
                raise HoodError(f"refusing to create a tag with a digest reference: {name}")
            images.add_reference(ref, config.id)
            images.set_last_tag_time(config.id)
    return config.id


# --- commit -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Committed:
    image_id: Digest
    diff_id: Digest  # the layer's (the empty tar's when nothing changed)
    empty: bool


def _pause(c: Container) -> Callable[[], None]:
    """Pause a running container for the length of a commit, as docker does: its cgroup
    frozen (its processes see nothing); where hood has no cgroup to freeze (rootless),
    SIGSTOP to each of its processes. Returns what resumes it."""
    import signal

    from hood.runtime.cgroups import Frozen
    from hood.services.container_ops import container_pids

    if not c.running:
        return lambda: None
    frozen = Frozen.container_of(c.pid)
    if frozen is not None:
        return frozen.thaw
    stopped = []
    for pid in container_pids(c):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGSTOP)
            stopped.append(pid)

    def resume() -> None:
        for pid in stopped:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGCONT)

    return resume


def commit(
    layout: Layout,
    name: str,
    target: str | None = None,
    *,
    author: str = "",
    message: str = "",
    changes: list[str] | None = None,
    pause: bool = True,
) -> Committed:
    """The container's read-write layer as a new image on top of its image."""
    from hood.layer.export import write_tree_tar
    from hood.layer.hollow import apply_hollow, write_hollow_tar

    images = ImageStore(layout)
    c = ContainerStore(layout).resolve(name)
    if c.state.get("Dead") or c.state.get("RemovalInProgress"):
        raise Conflict(f"You cannot commit container {c.id} which is Dead")
    image_id = Digest.parse(str(c.config.get("Image", "")), sha256_only=True)
    parent = images.load_config(image_id)
    parent_layers = images.layers_of(parent)
    container_config = c.config.get("Config")
    if not isinstance(container_config, dict):
        raise HoodError(f"container {c.name}: its config.v2.json has no Config")
    new_config = apply_changes(copy.deepcopy(container_config), changes or [])
    upper = layout.layer_diff(RwLayers(layout).mount_id(c.id))
    still = pause or not c.running
    resume = _pause(c) if pause else (lambda: None)
    failed = f"commit of {c.name}: reading its files failed"
    try:
        if still:  # its files stay as they are: copied from where they are

            def apply(stream: BinaryIO, target: Path, ts: BinaryIO) -> AppliedLayer:
                return apply_hollow(stream, target, upper, tar_split=ts)

            top_chain = parent_layers[-1].chain_id if parent_layers else None

            def known(diff_id: Digest) -> bool:  # committed before, unchanged since
                return diff_id == EMPTY_TAR or images.layers.exists(chain_id(top_chain, diff_id))

            tar = TarFromChild(lambda out: write_hollow_tar(upper, out), failed, known)
        else:  # a running container's files may change under us: read once, as a tar
            tar = TarFromChild(hashing(lambda out: write_tree_tar(upper, out)), failed)
            apply = _apply_tar
        try:
            top = parent_layers[-1] if parent_layers else None
            diff_id, _ = _add_layer(images, tar.stream, top, tar.digest, apply)
        except HoodError:
            tar.raise_cause()
            raise
        finally:
            tar.close()
    finally:
        resume()
    empty = diff_id == EMPTY_TAR
    created = _now()
    entry: dict[str, Any] = {"created": created}
    if author:
        entry["author"] = author
    entry["created_by"] = " ".join(str(a) for a in (container_config.get("Cmd") or []))
    if message:
        entry["comment"] = message
    if empty:
        entry["empty_layer"] = True
    doc: dict[str, Any] = {
        k: parent.doc[k] for k in ("architecture", "os", "variant", "os.version", "os.features") if k in parent.doc
    }
    doc.setdefault("architecture", Platform.host().architecture)
    doc.setdefault("os", "linux")
    if author:
        doc["author"] = author
    history = parent.doc.get("history")
    doc.update(
        config=new_config,
        container=c.id,
        container_config=container_config,
        created=created,
        history=[*(history if isinstance(history, list) else []), entry],
        rootfs={
            "type": "layers",
            "diff_ids": [str(d) for d in parent.diff_ids] + ([] if empty else [str(diff_id)]),
        },
    )
    new_id = _store_image(images, doc, target, parent=image_id)
    return Committed(new_id, diff_id, empty)


# --- import -----------------------------------------------------------------------------------


def _open_source(source: str, stdin: BinaryIO) -> tuple[BinaryIO, str]:
    """The tar to import and how docker names it in the comment (`-` or the URL)."""
    if source == "-":
        return stdin, "-"
    if source.startswith(("http://", "https://")):
        import httpx

        try:
            response = httpx.get(source, follow_redirects=True, timeout=30)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise HoodError(f"import from {source}: {exc}") from None
        import io

        return io.BytesIO(response.content), source
    try:
        return open(source, "rb"), "-"  # noqa: SIM115 - docker's CLI sends a file as the body
    except OSError as exc:
        raise HoodError(f"open {source}: {exc.strerror}") from None


def import_image(
    layout: Layout,
    source: str,
    target: str | None = None,
    *,
    stdin: BinaryIO | None = None,
    changes: list[str] | None = None,
    message: str = "",
    platform: Platform | None = None,
) -> Digest:
    """A tar (plain or gzip/bzip2/xz/zstd; a file, `-` for stdin, or a URL) as a one-layer
    image. The diff ID is the sha256 of the tar as given, decompressed."""
    from hood.places.archive import _Peek, decompressing, sniff

    images = ImageStore(layout)
    if target is not None and reference.parse(target).digest is not None:
        raise HoodError("cannot import digest reference")
    config = apply_changes(zero_config(), changes or [])
    stream, shown = _open_source(source, stdin)  # type: ignore[arg-type]
    try:
        peek = _Peek(stream, 6)
        tar = decompressing(peek, sniff(peek.head))  # type: ignore[arg-type]
        hashing = _Hashing(tar)
        diff_id, _ = _add_layer(images, hashing, None, hashing.digest)  # type: ignore[arg-type]
    finally:
        if stream is not stdin:
            stream.close()
    want = platform or Platform.host()
    created = _now()
    comment = message or f"Imported from {shown}"
    doc: dict[str, Any] = {
        "architecture": want.architecture,
        "comment": comment,
        "config": config,
        "container_config": zero_config(),
        "created": created,
        "history": [{"created": created, "comment": comment}],
        "os": want.os or "linux",
        "rootfs": {"type": "layers", "diff_ids": [] if diff_id == EMPTY_TAR else [str(diff_id)]},
    }
    if want.variant:
        doc["variant"] = want.variant
    return _store_image(images, doc, target)

