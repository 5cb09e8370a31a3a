"""`hood pull`: a copy from a registry into the store, in this order:

1. the registry read as `hood copy` reads it (places.registry.RegistrySource: the
   reference resolved, an index's platform picked, the config fetched and checked);
2. unfinished layers swept, this image's leased, the disk space checked;
3. the layers (pull_layers): downloads that resume what a killed pull kept, each layer
   extracted while it downloads and registered in chain order, so every layer that
   completes stays in the store even if a later one fails;
4. the config into imagedb only after all its layers, the manifests, and the tag last."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hood.core.digest import Digest, chain_ids
from hood.core.errors import StoreError
from hood.core.fileio import disk_error, is_disk_error
from hood.core.imageconfig import ImageConfig
from hood.core.oci import Index, Manifest
from hood.core.platform import Platform
from hood.core.reference import Reference
from hood.places.registry import RegistrySource
from hood.services.events import EventSink, ProgressEvent
from hood.services.pull_failures import Kept
from hood.services.pull_layers import LayerPull
from hood.store.images import ImageStore, ManifestSource
from hood.store.layers import MAX_DEPTH

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
        self.client = client
        self.max_concurrent = max(1, max_concurrent_downloads)
        self.events = events
        self._kept = Kept(0)

    def pull(self, ref: Reference, platform: Platform | None = None) -> PullResult:
        """Raises DiskError, naming the file and the layer where it can, when the disk
        is full or fails; what was registered stays and the next pull resumes.
        Interrupted (Ctrl-C), it stops within pull_layers.INTERRUPT_GRACE and raises
        PullInterrupted, which says what it kept."""
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
            self._pull_layers(ref, manifest, config, chains, quiet=existed)
            manifest_digest, previous = self._store_image(
                ref, source.digest, manifest, config, index, chains
            )
        updated = not existed or (ref.tag is not None and previous != config.id)
        self.events(PullEvent(f"Digest: {source.digest}"))
        return PullResult(ref, config.id, source.digest, manifest_digest, updated)

    def _pull_layers(
        self,
        ref: Reference,
        manifest: Manifest,
        config: ImageConfig,
        chains: list[Digest],
        *,
        quiet: bool,
    ) -> None:
        self._kept = Kept(len(manifest.layers))
        layers = LayerPull(
            self.store,
            self.client,
            ref,
            max_concurrent=self.max_concurrent,
            events=self.events,
            kept=self._kept,
        )
        layers.run(manifest.layers, list(config.diff_ids), chains, quiet=quiet)

    def _store_image(
        self,
        ref: Reference,
        digest: Digest,
        manifest: Manifest,
        config: ImageConfig,
        index: Index | None,
        chains: list[Digest],
    ) -> tuple[Digest, Digest | None]:
        """Once every layer is in: the config into imagedb, the manifests and where they
        came from, then the names (`digest`: what the reference resolved to). Returns the
        manifest's digest and the image the tag named before."""
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
            names = [ref.with_digest(digest).familiar()]
            if ref.tag and ref.digest is None:
                names.insert(0, ref.with_tag(ref.tag).familiar())
            self.store.update_references(add=[(name, config.id) for name in names])
        return manifest_digest, previous

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


class PullInterrupted(KeyboardInterrupt):
    """Ctrl-C during a pull; the message says what was kept for the next pull."""


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
