"""A pull's layer blobs into partial files, and the spool its extraction reads them from.

Each distinct blob downloads once, under its lock, resumably, into its partial file
(the registry client tees the stream there and resumes from what it holds); the spool
tells the extraction following it how much has landed, so extraction reads the blob
while it downloads. A partial file stays until every layer made from it is stored:
a killed pull leaves it for the next one to go on from."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, BinaryIO

from hood.core import oci
from hood.core.digest import Digest, VerifyingReader
from hood.core.errors import Cancelled, ManifestError
from hood.core.fileio import DiskError
from hood.core.oci import Descriptor
from hood.core.textsafe import quote_untrusted
from hood.services.events import EventSink, ProgressEvent
from hood.services.pull_failures import in_layer
from hood.store.images import ImageStore
from hood.store.layout import Layout
from hood.store.lock import lock_fd, try_lock

if TYPE_CHECKING:
    from hood.registry.client import RegistryClient

DOWNLOAD_CHUNK = 1 << 20
PROGRESS_STEP = 512 * 1024  # bytes between two progress events of a layer


class Blob:
    """One distinct blob to download: its partial file, spool and lock, shared by the
    extraction of every chain position that uses it."""

    def __init__(self, desc: Descriptor, partial: str) -> None:
        self.desc = desc
        self.partial = partial
        self.chains: list[Digest] = []  # the layers to make from it, in chain order
        self.spool = Spool()
        self.lock = -1
        self._done = 0

    @property
    def needed(self) -> bool:
        """Some layer made from it is not stored yet: a pull that stops now keeps its
        partial file for the next one to resume."""
        return self._done < len(self.chains)

    def used(self) -> None:
        """One of its layers is registered or was found stored (main thread). After
        the last, the download is no longer needed to resume: drop it, unlock."""
        self._done += 1
        if self._done == len(self.chains):
            unlink_partial(self.partial)
            self.release()

    def release(self) -> None:
        """Close the blob lock (main thread, once the job's threads are done with it)."""
        fd, self.lock = self.lock, -1
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)


class Spool:
    """How much of a blob its download has put in the partial file, for the extraction
    that follows it: open → grow… → finish, or fail with the download's error."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.have = 0
        self.opened = False
        self.done = False
        self.already = False
        self.error: BaseException | None = None

    def open(self) -> None:
        with self.cond:
            self.opened = True
            self.cond.notify_all()

    def grow(self, n: int) -> None:
        with self.cond:
            self.have += n
            self.cond.notify_all()

    def finish(self, *, already: bool = False) -> None:
        with self.cond:
            self.done, self.already = True, already
            self.cond.notify_all()

    def fail(self, exc: BaseException) -> None:
        with self.cond:
            self.done, self.error = True, exc
            self.cond.notify_all()

    def _wait(self, ready: Callable[[], bool], cancel: threading.Event) -> None:
        with self.cond:
            while not ready():
                if self.error is not None:
                    raise self.error
                if cancel.is_set():
                    raise Cancelled("pull cancelled")
                self.cond.wait(0.1)
            if self.error is not None:
                raise self.error

    def wait_open(self, cancel: threading.Event) -> bool:
        """True once the partial file is there to read; False if the layer is stored."""
        self._wait(lambda: self.opened or self.done, cancel)
        return not self.already

    def wait_done(self, cancel: threading.Event) -> None:
        """Returns when the whole blob is in and verified; raises the download's error."""
        self._wait(lambda: self.done, cancel)


class SpoolReader:
    """Reads a blob's partial file from byte 0 while its download is still filling it."""

    def __init__(
        self,
        spool: Spool,
        path: str,
        cancel: threading.Event,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.spool = spool
        self.cancel = cancel
        self.fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        self.pos = 0
        self.progress = progress  # bytes read, once the download is complete
        self.reported = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self.cancel.is_set():  # a pull stopped (another layer failed, or Ctrl-C)
            raise Cancelled("pull cancelled")
        spool = self.spool
        if (
            self.progress is not None
            and spool.done
            and self.pos - self.reported >= PROGRESS_STEP
        ):  # docker's `Extracting [==>  ] 10.58MB/93.29MB`, after `Download complete`
            self.reported = self.pos
            self.progress(self.pos)
        if spool.have <= self.pos:
            spool._wait(lambda: spool.have > self.pos or spool.done, self.cancel)
        avail = spool.have - self.pos
        if avail <= 0:
            return b""
        if n is None or n < 0 or n > avail:
            n = avail
        data = os.pread(self.fd, n, self.pos)
        self.pos += len(data)
        return data

    def readinto(self, buf: bytearray | memoryview) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class BlobDownloader:
    """Downloads the blobs of one pull from `repository` (download threads)."""

    def __init__(
        self,
        store: ImageStore,
        client: RegistryClient,
        repository: str,
        cancel: threading.Event,
        events: EventSink,
    ) -> None:
        self.store = store
        self.layout = store.layout
        self.client = client
        self.repository = repository  # the path in the registry
        self.cancel = cancel
        self.events = events

    def download(self, job: Blob) -> None:
        """Bring one blob into its partial file, verified; the outcome (or the error)
        goes to its spool.

        Takes the blob's lock first and keeps it until the main thread registered every
        layer made from it or gave up: one process at a time per blob, and a second pull
        of the same layer waits, then finds it stored."""
        desc = job.desc
        try:
            if oci.COMPRESSION_BY_MEDIA_TYPE.get(desc.media_type) is None:
                raise ManifestError(
                    f"layer {desc.digest}: unsupported media type "
                    f"{quote_untrusted(desc.media_type, 200)}"
                )
            if desc.urls:
                urls = ", ".join(quote_untrusted(u, 200) for u in desc.urls[:3])
                raise ManifestError(
                    f"layer {desc.digest} is a foreign layer (urls: {urls}); "
                    "hood does not fetch foreign layers"
                )
            os.makedirs(self.layout.downloads, exist_ok=True)
            job.lock = self._blob_lock(self.layout.partial_lock(desc.digest))
            _check_cancel(self.cancel)
            if all(self.store.layers.exists(chain) for chain in job.chains):
                job.spool.finish(already=True)
                return
            progress = _Progress(desc, self.cancel, self.events)
            with contextlib.closing(
                self.client.fetch_blob(self.repository, desc.digest, desc.size, job.partial)
            ) as blob:
                job.spool.open()
                progress.raw = blob
                reader = VerifyingReader(
                    progress, desc.digest, desc.size, what=f"layer blob {desc.digest}"
                )
                while data := reader.read(DOWNLOAD_CHUNK):
                    job.spool.grow(len(data))
                reader.finish()
            short = desc.digest.short
            self.events(ProgressEvent("Verifying Checksum", short))
            self.events(ProgressEvent("Download complete", short))
            job.spool.finish()
        except BaseException as exc:
            if isinstance(exc, (OSError, DiskError)):
                exc = in_layer(exc, desc.digest, job.partial, "downloading to")
            job.spool.fail(exc)

    def _blob_lock(self, path: str) -> int:
        """The blob's lock fd; waits while another process holds it, unless cancelled."""
        while True:
            fd = lock_fd(path, wait=False)
            if fd is not None:
                return fd
            _check_cancel(self.cancel)
            self.cancel.wait(0.05)


def _check_cancel(cancel: threading.Event) -> None:
    if cancel.is_set():
        raise Cancelled("pull cancelled")


class _Progress:
    """Passes blob bytes through, reporting Downloading progress every 512 KiB."""

    def __init__(
        self, desc: Descriptor, cancel: threading.Event, events: EventSink
    ) -> None:
        self.raw: BinaryIO | None = None
        self.cancel = cancel
        self.events = events
        self.short = desc.digest.short
        self.total = desc.size
        self.count = 0
        self.reported = 0

    def read(self, n: int = -1) -> bytes:
        _check_cancel(self.cancel)
        assert self.raw is not None
        data = self.raw.read(n)
        self.count += len(data)
        if self.count - self.reported >= PROGRESS_STEP or (not data and self.count != self.reported):
            self.reported = self.count
            self.events(ProgressEvent("Downloading", self.short, self.count, self.total))
        return data


def drop_stale_partial(layout: Layout, blob: Digest) -> None:
    """A partial download of a layer already stored (a pull killed after registering
    it) is not needed any more — unless some live pull is at it."""
    partial = layout.partial_blob(blob)
    if not os.path.exists(partial):
        return
    fd = try_lock(layout.partial_lock(blob))
    if fd is not None:
        unlink_partial(partial)
        os.close(fd)


def unlink_partial(partial: str) -> None:
    """Remove a partial download and the record of where it came from."""
    from hood.registry.blobs import origin_path

    for path in (partial, origin_path(partial)):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
