"""The layers of one pulled image into the store, download, decompression and
extraction overlapping across threads.

Downloads (max_concurrent at a time) run ahead into partial files (pull_download); each
layer's extraction follows its download as the bytes land (pull_extract), so a download
slot frees as soon as its bytes are in, not when its layer is extracted. The main thread
registers the layers in chain order as they finish, so every layer that completes stays
in the store even if a later one fails, and the next pull resumes. A pull that stops
cancels its jobs (after Ctrl-C, within INTERRUPT_GRACE), drops the layers extracted but
not registered, and counts what it kept."""

from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING

from hood.core.digest import Digest
from hood.core.fileio import DiskError
from hood.core.oci import Descriptor
from hood.core.reference import Reference
from hood.services.events import EventSink, ProgressEvent
from hood.services.pull_download import Blob, BlobDownloader, drop_stale_partial
from hood.services.pull_extract import Extracted, LayerExtractor, LayerJob
from hood.services.pull_failures import Kept, in_layer
from hood.store.distribution import Distribution
from hood.store.images import ImageStore

if TYPE_CHECKING:
    from hood.registry.client import RegistryClient

INTERRUPT_GRACE = 0.3  # seconds the layer jobs get to stop after Ctrl-C


class LayerPull:
    """Pulls the layers of one image from `ref`'s repository; `kept` counts what it
    leaves for the next pull should it stop."""

    def __init__(
        self,
        store: ImageStore,
        client: RegistryClient,
        ref: Reference,
        *,
        max_concurrent: int,
        events: EventSink,
        kept: Kept,
    ) -> None:
        self.store = store
        self.layout = store.layout
        self.distribution = Distribution(store.layout)
        self.client = client
        self.ref = ref
        self.max_concurrent = max_concurrent
        self.events = events
        self.kept = kept
        self.cancel = threading.Event()

    def run(
        self,
        layers: tuple[Descriptor, ...],
        diff_ids: list[Digest],
        chains: list[Digest],
        *,
        quiet: bool = False,
    ) -> None:
        """`quiet`: the image is in the store already; as docker, a layer it has is not
        announced (no `Already exists` for an image that is up to date)."""
        todo, stored = self._layers_to_pull(layers, chains, quiet)
        blobs, jobs = self._plan_downloads(layers, diff_ids, chains, todo)
        for digest in stored:
            if digest not in blobs:
                drop_stale_partial(self.layout, digest)
        for blob in list(blobs.values())[self.max_concurrent :]:
            self.events(ProgressEvent("Waiting", blob.desc.digest.short))
        extractors, decompress_threads = self._extraction_threads(len(todo))
        downloader = BlobDownloader(self.store, self.client, self.ref.path, self.cancel, self.events)
        extractor = LayerExtractor(self.store.layers, self.cancel, self.events, decompress_threads)
        extracted: dict[int, Future[Extracted | None]] = {}
        fetches: list[Future[None]] = []
        downloads = ThreadPoolExecutor(self.max_concurrent, thread_name_prefix="download")
        extracts = ThreadPoolExecutor(extractors, thread_name_prefix="extract")
        try:
            for blob in blobs.values():
                fetches.append(downloads.submit(downloader.download, blob))
            for i in todo:
                extracted[i] = extracts.submit(extractor.extract, jobs[i])
            self._register_in_order(layers, diff_ids, chains, jobs, extracted)
        except BaseException as exc:
            self._stop(exc, (downloads, extracts), fetches, extracted)
            raise
        finally:
            if not self.cancel.is_set():
                downloads.shutdown(wait=True)
                extracts.shutdown(wait=True)
            self._release(blobs)

    def _layers_to_pull(
        self, layers: tuple[Descriptor, ...], chains: list[Digest], quiet: bool
    ) -> tuple[list[int], list[Digest]]:
        """The positions of the layers to pull (each announced `Pulling fs layer`), and
        the blobs of those the store has (`Already exists`, unless `quiet`)."""
        todo: list[int] = []
        stored: list[Digest] = []
        for i, (desc, chain) in enumerate(zip(layers, chains, strict=True)):
            if self.store.layers.exists(chain):
                if not quiet:
                    self.events(ProgressEvent("Already exists", desc.digest.short))
                stored.append(desc.digest)
                self.kept.had += 1
            else:
                self.events(ProgressEvent("Pulling fs layer", desc.digest.short))
                todo.append(i)
        return todo, stored

    def _plan_downloads(
        self,
        layers: tuple[Descriptor, ...],
        diff_ids: list[Digest],
        chains: list[Digest],
        todo: list[int],
    ) -> tuple[dict[Digest, Blob], dict[int, LayerJob]]:
        """The distinct blobs to download, and an extraction job per position in `todo`.

        A blob may come more than once in one image (old images repeat the empty
        layer): it is downloaded once, under its lock, and every chain position that
        uses it extracts its own layer from that one verified download. One lock per
        blob per pull: two jobs of ours taking the same flock would wait on each other."""
        blobs: dict[Digest, Blob] = {}
        jobs: dict[int, LayerJob] = {}
        for i in todo:
            desc = layers[i]
            blob = blobs.get(desc.digest)
            if blob is None:
                blob = blobs[desc.digest] = Blob(desc, self.layout.partial_blob(desc.digest))
            blob.chains.append(chains[i])
            jobs[i] = LayerJob(desc, diff_ids[i], blob)
        return blobs, jobs

    @staticmethod
    def _extraction_threads(layers: int) -> tuple[int, int]:
        """How many layers extract at once, and the decompression threads each gets.

        Extraction is CPU-bound (and holds the GIL for its per-entry work): one per
        core. Measured on 2 cores, 4 layers: 2 at once beat 4 by ~10%, and decompressing
        in the extracting thread matched a helper thread per layer. With cores to spare,
        each layer also gets a decompression thread."""
        cpus = os.cpu_count() or 2
        extractors = max(1, min(layers, max(2, cpus)))
        return extractors, 1 if 2 * extractors <= cpus else 0

    def _register_in_order(
        self,
        layers: tuple[Descriptor, ...],
        diff_ids: list[Digest],
        chains: list[Digest],
        jobs: dict[int, LayerJob],
        extracted: dict[int, Future[Extracted | None]],
    ) -> None:
        """Register each layer as its extraction finishes, bottom layer first, and note
        where every layer of the image came from, stored before or not."""
        for i, desc in enumerate(layers):
            if i not in extracted:
                with self.store.locked():
                    self._record_distribution(desc, diff_ids[i])
                continue
            layer = extracted[i].result()
            blob = jobs[i].blob
            if layer is None:  # another process brought it meanwhile
                with self.store.locked():
                    self._record_distribution(desc, diff_ids[i])
                self.events(ProgressEvent("Already exists", desc.digest.short))
                blob.used()
                continue
            parent = chains[i - 1] if i else None
            self._register(layer, desc, diff_ids[i], parent, chains[i])
            blob.used()
            self.kept.registered += 1
            self.events(ProgressEvent("Pull complete", desc.digest.short))

    def _register(
        self,
        layer: Extracted,
        desc: Descriptor,
        diff_id: Digest,
        parent: Digest | None,
        chain: Digest,
    ) -> None:
        try:
            with self.store.locked():
                self.store.layers.register(layer.pending, diff_id, parent, layer.size)
                layer.registered = True
                self._record_distribution(desc, diff_id)
        except (OSError, DiskError) as exc:
            raise in_layer(exc, desc.digest, self.layout.layerdb(chain)) from None

    def _record_distribution(self, desc: Descriptor, diff_id: Digest) -> None:
        """Note where the layer came from (docker's distribution metadata). Call under
        the store lock."""
        self.distribution.record(desc.digest, diff_id, self.ref.repository)

    def _stop(
        self,
        exc: BaseException,
        pools: tuple[ThreadPoolExecutor, ThreadPoolExecutor],
        fetches: list[Future[None]],
        extracted: dict[int, Future[Extracted | None]],
    ) -> None:
        """Stop every job after `exc`, then drop the layers extracted but not registered;
        those registered stay, so the next pull resumes after them."""
        self.cancel.set()
        for future in extracted.values():
            future.cancel()
        if isinstance(exc, KeyboardInterrupt):
            # The user is waiting: every job stops at its next read (the cancel
            # flag), given a moment; one stuck on the network is not waited for (what
            # it leaves, the next pull's sweep clears).
            wait([*fetches, *extracted.values()], timeout=INTERRUPT_GRACE)
            for pool in pools:
                pool.shutdown(wait=False, cancel_futures=True)
        else:
            for pool in pools:
                pool.shutdown(wait=True, cancel_futures=True)
        for future in extracted.values():
            if future.done() and not future.cancelled() and future.exception() is None:
                layer = future.result()
                if layer is not None and not layer.registered:
                    self.store.layers.abandon(layer.pending)

    def _release(self, blobs: dict[Digest, Blob]) -> None:
        """Unlock every blob, counting the partial downloads kept for the next pull."""
        for blob in blobs.values():
            if blob.needed:
                with contextlib.suppress(OSError):
                    self.kept.partial_bytes += os.stat(blob.partial).st_size
                    self.kept.partials += 1
            blob.release()
