"""A layer's tar into a pending layer of the store: extracted, with its tar-split, and
checked against its diff ID; here, or in a forked child.

In a child, layers extract side by side at full speed: threads of one process share a
GIL and a file table (every open and close takes its lock), and measured here two
layers extracted in two processes took 1.3 s where two threads took 2.3-3.4 s. A child
reads only what it was handed (a local file's tar) and reports on a pipe; the thread that
forked it waits there, and kills it when the copy is cancelled."""

from __future__ import annotations

import os
import select
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from hood.core import errors
from hood.core.digest import Digest, VerifyingReader
from hood.core.errors import Cancelled, DigestMismatch, HoodError, LayerError
from hood.core.jsonio import dumps, loads
from hood.runtime import linux
from hood.store.layers import PendingLayer

POLL = 0.1  # seconds between looks at the cancel flag while a child extracts


@dataclass(frozen=True)
class PendingTar:
    """Where a layer's tar goes (a pending layer of the store) and what it must be: layer
    `index` of its image, hashing to `diff_id`."""

    pending: PendingLayer
    diff_id: Digest
    index: int


def extract_checked(stream: BinaryIO, into: PendingTar) -> tuple[int, int]:
    """Extract the tar in `stream` into the pending layer, its tar-split beside it, and
    check that it hashes to the diff ID. Returns the layer's size (docker's) and the tar's
    length."""
    from hood.layer.apply import apply_layer

    diff_id, index, pending = into.diff_id, into.index, into.pending
    reader = VerifyingReader(stream, diff_id, None, what=f"layer {index} (diff ID {diff_id})")
    fd = os.open(pending.tar_split, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC)
    try:
        with open(fd, "wb") as tar_split:
            applied = apply_layer(reader, pending.diff, tar_split=tar_split)  # type: ignore[arg-type]
            tar_split.flush()
            os.fsync(tar_split.fileno())
    except LayerError as exc:
        # Bytes that are no tar are most often not the layer at all: say so when they do
        # not hash to the diff ID (docker's "invalid diffID").
        while reader.read(1 << 20):
            pass
        actual = reader.digest()
        if actual != diff_id:
            raise _mismatch(index, diff_id, actual) from None
        raise LayerError(f"layer {index} ({diff_id}): {exc}") from None
    while reader.read(1 << 20):  # what follows the tar's end is hashed too
        pass
    try:
        reader.finish()
    except DigestMismatch:
        raise _mismatch(index, diff_id, reader.digest()) from None
    return int(applied.size), reader.count


def _mismatch(index: int, expected: Digest, actual: Digest) -> DigestMismatch:
    return DigestMismatch(f"invalid diffID for layer {index}: expected {expected}, got {actual}")


def extract_in_child(
    opener: Callable[[], BinaryIO], into: PendingTar, cancel: threading.Event
) -> tuple[int, int]:
    """extract_checked of the tar `opener()` opens, both in a forked child: it has none of
    this process's other threads (nor their locks), so `opener` must read local files
    only; what it starts (a decompressing thread) is the child's own."""
    from hood.layer import apply  # noqa: F401 - imported here, not in each child

    r, w = os.pipe2(os.O_CLOEXEC)
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        status = 1
        try:
            # Never outlive hood (a killed load leaves nothing writing into its store).
            linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != parent:
                os._exit(1)
            os.close(r)
            with opener() as stream:
                report = {"done": list(extract_checked(stream, into))}
            status = 0
        except BaseException as exc:  # noqa: BLE001 - told to the parent, raised there
            report = {"error": type(exc).__name__, "message": str(exc) or type(exc).__name__}
        finally:
            try:
                os.write(w, dumps(report).encode())
            finally:
                os._exit(status)
    os.close(w)
    try:
        raw = _report(r, pid, cancel)
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    if cancel.is_set():
        raise Cancelled("copy cancelled")
    try:
        report = loads(raw)
        if "done" in report:
            size, count = report["done"]
            return int(size), int(count)
        kind, message = str(report["error"]), str(report["message"])
    except (ValueError, KeyError, TypeError):
        raise HoodError(f"layer {into.index}: its extraction died") from None
    raise _error(kind)(message)


def _report(r: int, pid: int, cancel: threading.Event) -> bytes:
    """What the child writes before it exits; it is killed once `cancel` is set."""
    chunks = []
    while True:
        ready, _, _ = select.select([r], [], [], POLL)
        if cancel.is_set():
            os.kill(pid, signal.SIGKILL)
            return b""
        if ready:
            chunk = os.read(r, 65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def _error(kind: str) -> type[HoodError]:
    """The child's failure as the same kind of error here: by name among core.errors'
    (DigestMismatch, LayerError, ...), an interrupt as Cancelled, HoodError for the rest
    (a disk's or an archive's error among them: its message is what counts)."""
    if kind == "KeyboardInterrupt":
        return Cancelled
    found = getattr(errors, kind, None)
    if isinstance(found, type) and issubclass(found, HoodError):
        return found
    return HoodError
