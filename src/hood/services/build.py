"""Images made by hand: `diff` (what a container changed), `commit` (its changes as a new
layer and image, the tar built as dockerd builds it, so the same container gives the same
diff ID) and `import` (a tar as a one-layer image, its diff ID the sha256 of the tar)."""

from __future__ import annotations

import contextlib
import copy
import fcntl
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from hood.core import reference
from hood.core.digest import Digest, new_hasher
from hood.core.errors import Conflict, HoodError
from hood.core.imageconfig import ImageConfig
from hood.core.jsonio import go_json
from hood.core.platform import Platform
from hood.core.privilege import host_root
from hood.layer.changes import Change, changes
from hood.services.changes import apply_changes, zero_config
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
    read to its end, `diff_id_after_end()` says its digest. Registers the layer unless
    it is the empty tar (docker's empty layer). Returns its diff ID and layer."""
    pending = images.layers.begin()
    try:
        fd = os.open(pending.tar_split, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC)
        with open(fd, "wb") as tar_split:
            applied = apply(stream, Path(pending.diff), tar_split)
            tar_split.flush()
            os.fsync(tar_split.fileno())
        while stream.read(1 << 20):  # bytes after the tar's end are part of it too
            pass
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


class _HashingWriter:
    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.hasher = new_hasher("sha256")

    def write(self, data: bytes) -> int:
        self.hasher.update(data)
        return self.out.write(data)


def hashing(write: Callable[[BinaryIO], object]) -> Callable[[BinaryIO], str]:
    """A writer of a tar as one that also says its sha256 (hex), for _TarFromChild."""

    def run(out: BinaryIO) -> str:
        hashed = _HashingWriter(out)
        write(hashed)  # type: ignore[arg-type]
        return hashed.hasher.hexdigest()

    return run


_PIPE_SIZE = 1 << 20
_LOST_READER = 2  # the child's exit status when the extraction went away first


class _TarFromChild:
    """A tar (or commit's hollow form of it) that `write(out)` writes in a forked child and
    whose sha256 (hex) it returns: the extraction reading `stream` here runs on another core
    (both sides are Python, and one process has one GIL), and the sha256 is the child's
    work, which balances the two."""

    def __init__(self, write: Callable[[BinaryIO], str], failed: str) -> None:
        self.failed = failed
        r, w = os.pipe()
        with contextlib.suppress(OSError):  # the child runs further ahead (the default: 64 KiB)
            fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
        report_r, report_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - the child
            os.close(r)
            os.close(report_r)
            os._exit(self._child(write, w, report_w))
        os.close(w)
        os.close(report_w)
        self.report_fd = report_r
        # Unbuffered: a read returns what has come so far, and the extraction starts on it.
        self.stream: BinaryIO = open(r, "rb", buffering=0)  # noqa: SIM115 - closed by close()
        self.report: str | None = None
        self.ok = self.lost_reader = False

    @staticmethod
    def _child(write: Callable[[BinaryIO], str], w: int, report_w: int) -> int:  # pragma: no cover
        try:
            # Written on every 64 KiB, so the extraction has something to start on early.
            with open(w, "wb", buffering=1 << 16) as out:
                digest = write(out)
            os.write(report_w, b"sha256:" + digest.encode())
            return 0
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            os.write(report_w, str(exc).encode()[:4000])
            return _LOST_READER if isinstance(exc, BrokenPipeError) else 1

    def _wait(self) -> str:
        """The child's report once it has ended; raises what it failed with."""
        if self.report is None:
            self.stream.close()
            _, status = os.waitpid(self.pid, 0)
            with open(self.report_fd, "rb") as f:
                text = f.read().decode(errors="replace")
            self.ok = status == 0
            self.lost_reader = os.waitstatus_to_exitcode(status) == _LOST_READER
            self.report = text if self.ok else f"{self.failed}: {text or 'the writer died'}"
        if not self.ok:
            raise HoodError(self.report)
        return self.report

    def digest(self) -> Digest:
        """The tar's sha256, once it has been read to its end."""
        return Digest.parse(self._wait(), sha256_only=True)

    def close(self) -> None:
        with contextlib.suppress(HoodError):  # what failed is raised by digest()
            self._wait()

    def raise_cause(self) -> None:
        """After the extraction failed: raise what the child failed with, when that made the
        tar end early (and not the extraction's failure, the child's broken pipe)."""
        self.close()
        if not self.ok and not self.lost_reader:
            raise HoodError(self.report)


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

            tar = _TarFromChild(lambda out: write_hollow_tar(upper, out), failed)
        else:  # a running container's files may change under us: read once, as a tar
            tar = _TarFromChild(hashing(lambda out: write_tree_tar(upper, out)), failed)
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

