"""`hood pull`: a copy from a registry into the store. The registry is read as `hood copy`
reads it (places.registry.RegistrySource: the reference resolved, an index's platform
picked, the config fetched and checked); the layers take the store's own fast path, which
keeps what a killed pull downloaded and extracts while it downloads:

One pass per layer, in a worker thread: download (resumable, teed to a partial file)
→ sha256 of the blob → decompress → sha256 of the tar (diff_id) → extract into a
fresh overlay2 dir with tar-split recorded. Layers download and extract in parallel;
the main thread registers them in chain order as they finish, so every layer that
completes stays in the store even if a later one fails, and the next pull resumes.
The config goes into imagedb only after all its layers, and the tag last."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from hood.core import oci
from hood.core.digest import Digest, VerifyingReader, chain_ids
from hood.core.errors import (
    DigestMismatch,
    LayerError,
    ManifestError,
    StoreError,
)
from hood.core.fileio import DiskError, disk_error, is_disk_error
from hood.core.imageconfig import ImageConfig
from hood.core.oci import Descriptor, Manifest
from hood.core.platform import Platform
from hood.core.reference import Reference
from hood.core.textsafe import quote_untrusted
from hood.layer.apply import apply_layer
from hood.layer.codecs import open_decompressed
from hood.places.registry import RegistrySource
from hood.services.events import ProgressEvent
from hood.services.pull_failures import Cancelled, Kept, in_layer
from hood.store.distribution import Distribution
from hood.store.images import ImageStore, ManifestSource
from hood.store.layers import MAX_DEPTH, PendingLayer
from hood.store.lock import lock_fd, try_lock

if TYPE_CHECKING:
    from hood.registry.client import RegistryClient


# What pull reports: hood.PullEvent in the Python API.
PullEvent = ProgressEvent


@dataclass(frozen=True)
class PullResult:
    reference: Reference
    image_id: Digest
    digest: Digest  # what the reference resolved to: the index or manifest digest
    manifest_digest: Digest
    updated: bool  # False when the store already had exactly this


EventSink = Callable[[PullEvent], None]


def _ignore(_: PullEvent) -> None:
    pass


class Puller:
    def __init__(
        self,
        store: ImageStore,
        client: RegistryClient,
        *,
        max_concurrent_downloads: int = 3,
        events: EventSink = _ignore,
    ) -> None:
        self.store = store
        self.layout = store.layout
        self.distribution = Distribution(store.layout)
        self.client = client
        self.max_concurrent = max(1, max_concurrent_downloads)
        self.events = events
        self._cancel = threading.Event()
        self._decompress_threads = 1
        self._kept = Kept(0)

    def pull(self, ref: Reference, platform: Platform | None = None) -> PullResult:
        """Raises DiskError, naming the file and the layer where it can, when the disk
        is full or fails; what was registered stays and the next pull resumes.
        Interrupted (Ctrl-C), it stops within INTERRUPT_GRACE and raises PullInterrupted,
        which says what it kept."""
        try:
            return self._pull(ref, platform)
        except KeyboardInterrupt:
            raise PullInterrupted(self._kept.describe()) from None
        except OSError as exc:
            if is_disk_error(exc):
                path = exc.filename2 or exc.filename or self.layout.root
                raise disk_error(exc, "writing", path) from None
            raise

    def _pull(self, ref: Reference, platform: Platform | None = None) -> PullResult:
        self.events(PullEvent(f"Pulling from {ref.path}", ref.tag or str(ref.digest)))
        source = RegistrySource(
            self.client, ref, known_config=self._stored_config, max_layers=MAX_DEPTH
        )
        [image] = source.images(platform=platform)
        manifest, config, index = image.manifest, image.config, source.index()
        assert manifest is not None and source.digest is not None  # a registry's always are
        os.makedirs(self.layout.hood_dir, exist_ok=True)
        chains = chain_ids(list(config.diff_ids))
        with contextlib.ExitStack() as leases:
            with self.store.locked():
                self.store.layers.sweep_incomplete()
                # From here until the image is in imagedb, an rmi of another image leaves
                # this one's layers alone.
                leases.enter_context(self.store.layers.lease(chains))
            self._check_space(manifest, chains)
            existed = self.store.has_image(config.id)
            self._pull_layers(ref, manifest, list(config.diff_ids), chains, quiet=existed)
            with self.store.locked():
                missing = [c for c in chains if not self.store.layers.exists(c)]
                if missing:
                    raise StoreError(
                        f"{ref}: layer {missing[0]} went missing from the store during the pull; "
                        "pull again"
                    )
                self.store.put_config(config)
                manifest_digest = self.store.put_manifest(manifest.raw)
                if index is not None:
                    self.store.put_manifest(index.raw)
                self.store.add_source(
                    config.id,
                    ManifestSource(
                        ref.repository,
                        manifest_digest,
                        index.digest if index else None,
                        manifest.media_type,
                    ),
                )
                refs = self.store.references()
                previous = refs.get(ref.with_tag(ref.tag).familiar()) if ref.tag else None
                names = [ref.with_digest(source.digest).familiar()]
                if ref.tag and ref.digest is None:
                    names.insert(0, ref.with_tag(ref.tag).familiar())
                self.store.update_references(add=[(name, config.id) for name in names])
        updated = not existed or (ref.tag is not None and previous != config.id)
        self.events(PullEvent(f"Digest: {source.digest}"))
        return PullResult(ref, config.id, source.digest, manifest_digest, updated)

    # --- the config ----------------------------------------------------------------------
    def _stored_config(self, image_id: Digest) -> ImageConfig | None:
        return self.store.load_config(image_id) if self.store.has_image(image_id) else None

    def _check_space(self, manifest: Manifest, chains: list[Digest]) -> None:
        """Refuse a pull that cannot fit: less free space than the compressed blobs still
        to download (each distinct blob once, less what partial files already hold).
        Only a lower bound: the uncompressed size is not known until extraction (docker
        checks no better), so a pull that passes may still run out of space."""
        need, seen = 0, set()
        for desc, chain in zip(manifest.layers, chains, strict=True):
            if desc.digest in seen or self.store.layers.exists(chain):
                continue
            seen.add(desc.digest)
            have = 0
            with contextlib.suppress(OSError):
                have = os.stat(self.layout.partial_blob(desc.digest)).st_size
            need += max(0, desc.size - have)
        os.makedirs(self.layout.overlay2, exist_ok=True)
        stat = os.statvfs(self.layout.overlay2)
        free = stat.f_bavail * stat.f_frsize
        if free < need:
            raise StoreError(
                f"not enough disk space in {self.layout.root}: the compressed layers alone "
                f"need {need} bytes and only {free} are free"
            )

    # --- layers ----------------------------------------------------------------------------
    def _pull_layers(
        self,
        ref: Reference,
        manifest: Manifest,
        diff_ids: list[Digest],
        chains: list[Digest],
        *,
        quiet: bool = False,
    ) -> None:
        """`quiet`: the image is in the store already; as docker, a layer it has is not
        announced (no `Already exists` for an image that is up to date)."""
        todo: list[int] = []
        stored: list[Digest] = []
        self._kept = Kept(len(manifest.layers))
        for i, (desc, chain) in enumerate(zip(manifest.layers, chains, strict=True)):
            if self.store.layers.exists(chain):
                if not quiet:
                    self.events(PullEvent("Already exists", desc.digest.short))
                stored.append(desc.digest)
                self._kept.had += 1
            else:
                self.events(PullEvent("Pulling fs layer", desc.digest.short))
                todo.append(i)
        # A blob may come more than once in one image (old images repeat the empty
        # layer): it is downloaded once, under its lock, and every chain position that
        # uses it extracts its own layer from that one verified download. One lock per
        # blob per pull: two jobs of ours taking the same flock would wait on each other.
        blobs: dict[Digest, _Blob] = {}
        jobs: dict[int, _Job] = {}
        for i in todo:
            desc = manifest.layers[i]
            blob = blobs.get(desc.digest)
            if blob is None:
                blob = blobs[desc.digest] = _Blob(desc, self.layout.partial_blob(desc.digest))
            blob.chains.append(chains[i])
            jobs[i] = _Job(desc, diff_ids[i], blob)
        for digest in stored:
            if digest not in blobs:
                self._drop_stale_partial(digest)
        for blob in list(blobs.values())[self.max_concurrent :]:
            self.events(PullEvent("Waiting", blob.desc.digest.short))
        # Downloads (max_concurrent at a time) run ahead into the partial files; each
        # layer's extraction follows its download as the bytes land, so a download slot
        # frees as soon as its bytes are in, not when its layer is extracted.
        # Extraction is CPU-bound (and holds the GIL for its per-entry work): one per
        # core. Measured on 2 cores, 4 layers: 2 at once beat 4 by ~10%, and decompressing
        # in the extracting thread matched a helper thread per layer. With cores to spare,
        # each layer also gets a decompression thread.
        cpus = os.cpu_count() or 2
        extractors = max(1, min(len(todo), max(2, cpus)))
        self._decompress_threads = 1 if 2 * extractors <= cpus else 0
        futures: dict[int, Future[_Fetched | None]] = {}
        fetches: list[Future[None]] = []
        downloads = ThreadPoolExecutor(self.max_concurrent, thread_name_prefix="download")
        extracts = ThreadPoolExecutor(extractors, thread_name_prefix="extract")
        try:
            for blob in blobs.values():
                fetches.append(downloads.submit(self._download, ref, blob))
            for i in todo:
                futures[i] = extracts.submit(self._extract, jobs[i])
            for i, desc in enumerate(manifest.layers):
                parent = chains[i - 1] if i else None
                if i not in futures:
                    with self.store.locked():
                        self._record_distribution(ref, desc, diff_ids[i])
                    continue
                fetched = futures[i].result()
                blob = jobs[i].blob
                if fetched is None:  # another process brought it meanwhile
                    with self.store.locked():
                        self._record_distribution(ref, desc, diff_ids[i])
                    self.events(PullEvent("Already exists", desc.digest.short))
                    blob.used()
                    continue
                try:
                    with self.store.locked():
                        self.store.layers.register(
                            fetched.pending, diff_ids[i], parent, fetched.size
                        )
                        fetched.registered = True
                        self._record_distribution(ref, desc, diff_ids[i])
                except (OSError, DiskError) as exc:
                    raise in_layer(exc, desc.digest, self.layout.layerdb(chains[i])) from None
                blob.used()
                self._kept.registered += 1
                self.events(PullEvent("Pull complete", desc.digest.short))
        except BaseException as exc:
            self._cancel.set()
            for future in futures.values():
                future.cancel()
            if isinstance(exc, KeyboardInterrupt):
                # The user is waiting: every job stops at its next read (the cancel
                # flag), given a moment; one stuck on the network is not waited for (what
                # it leaves, the next pull's sweep clears).
                wait([*fetches, *futures.values()], timeout=INTERRUPT_GRACE)
                downloads.shutdown(wait=False, cancel_futures=True)
                extracts.shutdown(wait=False, cancel_futures=True)
            else:
                downloads.shutdown(wait=True, cancel_futures=True)
                extracts.shutdown(wait=True, cancel_futures=True)
            # Layers that finished but were never registered are dropped; those
            # registered stay, so the next pull resumes after them.
            for future in futures.values():
                if future.done() and not future.cancelled() and future.exception() is None:
                    fetched = future.result()
                    if fetched is not None and not fetched.registered:
                        self.store.layers.abandon(fetched.pending)
            raise
        finally:
            if not self._cancel.is_set():
                downloads.shutdown(wait=True)
                extracts.shutdown(wait=True)
            for blob in blobs.values():
                if blob._done < len(blob.chains):  # a partial download the next pull resumes
                    with contextlib.suppress(OSError):
                        self._kept.partial_bytes += os.stat(blob.partial).st_size
                        self._kept.partials += 1
                blob.release()

    def _drop_stale_partial(self, blob: Digest) -> None:
        """A partial download of a layer already stored (a pull killed after registering
        it) is not needed any more — unless some live pull is at it."""
        partial = self.layout.partial_blob(blob)
        if not os.path.exists(partial):
            return
        fd = try_lock(self.layout.partial_lock(blob))
        if fd is not None:
            _unlink_partial(partial)
            os.close(fd)

    def _record_distribution(self, ref: Reference, desc: Descriptor, diff_id: Digest) -> None:
        """Note where the layer came from (docker's distribution metadata). Call under
        the store lock."""
        self.distribution.record(desc.digest, diff_id, ref.repository)

    def _download(self, ref: Reference, job: _Blob) -> None:
        """Bring one blob into its partial file, verified (download thread).

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
            self._check_cancel()
            if all(self.store.layers.exists(chain) for chain in job.chains):
                job.spool.finish(already=True)
                return
            progress = _Progress(self, desc)
            with contextlib.closing(
                self.client.fetch_blob(ref.path, desc.digest, desc.size, job.partial)
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
            self.events(PullEvent("Verifying Checksum", short))
            self.events(PullEvent("Download complete", short))
            job.spool.finish()
        except BaseException as exc:
            if isinstance(exc, (OSError, DiskError)):
                exc = in_layer(exc, desc.digest, job.partial, "downloading to")
            job.spool.fail(exc)

    def _extract(self, job: _Job) -> _Fetched | None:
        """Decompress, verify and extract one layer into a fresh overlay2 dir as its
        blob arrives (extraction thread). None when the layer is stored already."""
        if not job.spool.wait_open(self._cancel):
            return None
        compression = oci.COMPRESSION_BY_MEDIA_TYPE[job.desc.media_type]
        pending = self.store.layers.begin()
        try:
            size = self._stream_layer(job, compression, pending)
        except (DigestMismatch, LayerError) as exc:
            # The bytes we kept are wrong, or complete and unusable: never resume
            # from them.
            self.store.layers.abandon(pending)
            _unlink_partial(job.partial)
            if isinstance(exc, LayerError) and str(job.desc.digest) not in str(exc):
                raise LayerError(f"layer {job.desc.digest}: {exc}") from exc
            raise
        except (OSError, DiskError) as exc:
            self.store.layers.abandon(pending)
            raise in_layer(exc, job.desc.digest, pending.diff, "extracting into") from None
        except BaseException:
            self.store.layers.abandon(pending)
            raise
        self.events(PullEvent("Extracting", job.desc.digest.short, job.desc.size, job.desc.size))
        return _Fetched(pending, size)

    def _blob_lock(self, path: str) -> int:
        """The blob's lock fd; waits while another process holds it, unless cancelled."""
        while True:
            fd = lock_fd(path, wait=False)
            if fd is not None:
                return fd
            self._check_cancel()
            self._cancel.wait(0.05)

    def _check_cancel(self) -> None:
        if self._cancel.is_set():
            raise Cancelled("pull cancelled")

    def _stream_layer(self, job: _Job, compression: str, pending: PendingLayer) -> int:
        desc = job.desc
        short = desc.digest.short

        def extracting(done: int) -> None:
            self.events(PullEvent("Extracting", short, done, desc.size))

        reader = _SpoolReader(job.spool, job.partial, self._cancel, extracting)
        with contextlib.closing(reader) as blob:
            try:
                with contextlib.closing(
                    open_decompressed(blob, compression, threads=self._decompress_threads)
                ) as tar:
                    tar_reader = VerifyingReader(
                        tar,
                        job.diff_id,
                        None,
                        what=f"layer {desc.digest}: uncompressed content (diff_id)",
                    )
                    # Opened by fd so the gzip header names no file: the bytes do not
                    # depend on the random cache ID (dockerd's carry no name either).
                    fd = os.open(
                        pending.tar_split, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
                    )
                    with open(fd, "wb") as tar_split:
                        applied = apply_layer(tar_reader, pending.diff, tar_split=tar_split)
                        tar_split.flush()
                        os.fsync(tar_split.fileno())
                    # Whatever follows the tar's end is still part of the hashed content.
                    _drain(tar_reader)
            except LayerError:
                # Undecodable content is most often the wrong bytes: say so if the blob
                # does not match its digest, rather than blame the layer.
                job.spool.wait_done(self._cancel)
                raise
            # The compressed stream may end before the blob does: the rest still counts.
            _drain(blob)
            job.spool.wait_done(self._cancel)
            tar_reader.finish()
        return int(applied.size)


def _unlink_partial(partial: str) -> None:
    """Remove a partial download and the record of where it came from."""
    from hood.registry.blobs import origin_path

    for path in (partial, origin_path(partial)):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _drain(reader: BinaryIO | VerifyingReader) -> None:
    """Read a stream to its end (its reader hashes and counts what passes)."""
    while reader.read(1 << 20):
        pass


DOWNLOAD_CHUNK = 1 << 20
PROGRESS_STEP = 512 * 1024  # bytes between two progress events of a layer
INTERRUPT_GRACE = 0.3  # seconds the layer jobs get to stop after Ctrl-C


class PullInterrupted(KeyboardInterrupt):
    """Ctrl-C during a pull; the message says what was kept for the next pull."""


@dataclass
class _Fetched:
    """A layer extracted and verified, waiting for its turn to be registered."""

    pending: PendingLayer
    size: int
    registered: bool = False


class _Spool:
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


class _SpoolReader:
    """Reads a blob's partial file from byte 0 while its download is still filling it."""

    def __init__(
        self,
        spool: _Spool,
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


class _Blob:
    """One distinct blob to download: its partial file, spool and lock, shared by the
    extraction of every chain position that uses it."""

    def __init__(self, desc: Descriptor, partial: str) -> None:
        self.desc = desc
        self.partial = partial
        self.chains: list[Digest] = []  # the layers to make from it, in chain order
        self.spool = _Spool()
        self.lock = -1
        self._done = 0

    def used(self) -> None:
        """One of its layers is registered or was found stored (main thread). After
        the last, the download is no longer needed to resume: drop it, unlock."""
        self._done += 1
        if self._done == len(self.chains):
            _unlink_partial(self.partial)
            self.release()

    def release(self) -> None:
        """Close the blob lock (main thread, once the job's threads are done with it)."""
        fd, self.lock = self.lock, -1
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)


class _Job:
    """One chain position to extract, from its blob's download."""

    def __init__(self, desc: Descriptor, diff_id: Digest, blob: _Blob) -> None:
        self.desc = desc
        self.diff_id = diff_id
        self.blob = blob
        self.partial = blob.partial
        self.spool = blob.spool


class _Progress:
    """Passes blob bytes through, reporting Downloading progress every 512 KiB."""

    def __init__(self, puller: Puller, desc: Descriptor) -> None:
        self.raw: BinaryIO | None = None
        self.puller = puller
        self.short = desc.digest.short
        self.total = desc.size
        self.count = 0
        self.reported = 0

    def read(self, n: int = -1) -> bytes:
        self.puller._check_cancel()
        assert self.raw is not None
        data = self.raw.read(n)
        self.count += len(data)
        if self.count - self.reported >= PROGRESS_STEP or (not data and self.count != self.reported):
            self.reported = self.count
            self.puller.events(PullEvent("Downloading", self.short, self.count, self.total))
        return data


def pull_image(
    store: ImageStore,
    client: RegistryClient,
    ref: Reference,
    *,
    platform: Platform | None = None,
    max_concurrent_downloads: int = 3,
    events: EventSink = _ignore,
) -> PullResult:
    return Puller(
        store, client, max_concurrent_downloads=max_concurrent_downloads, events=events
    ).pull(ref, platform)
