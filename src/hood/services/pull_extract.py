"""A pulled layer into the store, as its blob downloads: read from the spool →
decompress → sha256 of the tar (diff_id) → extract into a fresh overlay2 dir with
tar-split recorded. The layer is left pending; the pull registers it in chain order."""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass
from typing import BinaryIO

from hood.core import oci
from hood.core.digest import Digest, VerifyingReader
from hood.core.errors import DigestMismatch, LayerError
from hood.core.fileio import DiskError
from hood.core.oci import Descriptor
from hood.layer.apply import apply_layer
from hood.layer.codecs import open_decompressed
from hood.services.events import EventSink, ProgressEvent
from hood.services.pull_download import Blob, SpoolReader, unlink_partial
from hood.services.pull_failures import in_layer
from hood.store.layers import LayerStore, PendingLayer


class LayerJob:
    """One chain position to extract, from its blob's download."""

    def __init__(self, desc: Descriptor, diff_id: Digest, blob: Blob) -> None:
        self.desc = desc
        self.diff_id = diff_id
        self.blob = blob
        self.partial = blob.partial
        self.spool = blob.spool


@dataclass
class Extracted:
    """A layer extracted and verified, waiting for its turn to be registered."""

    pending: PendingLayer
    size: int
    registered: bool = False


class LayerExtractor:
    """Extracts the layers of one pull (extraction threads). `decompress_threads`: 1 to
    decompress in a helper thread per layer, 0 to do it in the extracting thread."""

    def __init__(
        self,
        layers: LayerStore,
        cancel: threading.Event,
        events: EventSink,
        decompress_threads: int,
    ) -> None:
        self.layers = layers
        self.cancel = cancel
        self.events = events
        self.decompress_threads = decompress_threads

    def extract(self, job: LayerJob) -> Extracted | None:
        """Decompress, verify and extract one layer into a fresh overlay2 dir as its
        blob arrives. None when the layer is stored already."""
        if not job.spool.wait_open(self.cancel):
            return None
        compression = oci.COMPRESSION_BY_MEDIA_TYPE[job.desc.media_type]
        pending = self.layers.begin()
        try:
            size = self._stream_layer(job, compression, pending)
        except (DigestMismatch, LayerError) as exc:
            # The bytes we kept are wrong, or complete and unusable: never resume
            # from them.
            self.layers.abandon(pending)
            unlink_partial(job.partial)
            if isinstance(exc, LayerError) and str(job.desc.digest) not in str(exc):
                raise LayerError(f"layer {job.desc.digest}: {exc}") from exc
            raise
        except (OSError, DiskError) as exc:
            self.layers.abandon(pending)
            raise in_layer(exc, job.desc.digest, pending.diff, "extracting into") from None
        except BaseException:
            self.layers.abandon(pending)
            raise
        self.events(
            ProgressEvent("Extracting", job.desc.digest.short, job.desc.size, job.desc.size)
        )
        return Extracted(pending, size)

    def _stream_layer(self, job: LayerJob, compression: str, pending: PendingLayer) -> int:
        desc = job.desc
        short = desc.digest.short

        def extracting(done: int) -> None:
            self.events(ProgressEvent("Extracting", short, done, desc.size))

        reader = SpoolReader(job.spool, job.partial, self.cancel, extracting)
        with contextlib.closing(reader) as blob:
            try:
                with contextlib.closing(
                    open_decompressed(blob, compression, threads=self.decompress_threads)
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
                job.spool.wait_done(self.cancel)
                raise
            # The compressed stream may end before the blob does: the rest still counts.
            _drain(blob)
            job.spool.wait_done(self.cancel)
            tar_reader.finish()
        return int(applied.size)


def _drain(reader: BinaryIO | VerifyingReader) -> None:
    """Read a stream to its end (its reader hashes and counts what passes)."""
    while reader.read(1 << 20):
        pass
