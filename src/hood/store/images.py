"""imagedb, repositories.json and hood's record of the manifests each image came from."""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from hood import reference
from hood.digest import Digest, InvalidDigest, chain_ids
from hood.errors import HoodError, InvalidReference, NotFound, StoreError
from hood.oci import ImageConfig
from hood.store.atomic import remove_tree, write_atomic, write_text_atomic
from hood.store.layers import LayerRecord, LayerStore
from hood.store.layout import Layout
from hood.store.lock import file_lock

_HEX_PREFIX = re.compile(r"(?:sha256:)?([0-9a-f]{1,64})")


class Conflict(HoodError):
    """An operation refused because something still depends on the target (docker's 409)."""


@dataclass(frozen=True)
class ManifestSource:
    """Where an image came from: the manifest (and index) digests per repository."""

    repository: str
    manifest: Digest
    index: Digest | None = None
    media_type: str = ""


@dataclass
class ImageRecord:
    id: Digest
    config: ImageConfig
    repo_tags: list[str] = field(default_factory=list)
    repo_digests: list[str] = field(default_factory=list)
    last_tag_time: datetime | None = None
    sources: list[ManifestSource] = field(default_factory=list)


class ImageStore:
    """Images of one data root. Mutations take the store lock; reads need none."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.layers = LayerStore(layout)

    # --- the lock ---------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        with file_lock(self.layout.lock_file):
            yield

    # --- repositories.json ------------------------------------------------------------
    def _load_repositories(self) -> dict[str, dict[str, str]]:
        try:
            raw = self.layout.repositories_json.read_bytes()
        except FileNotFoundError:
            return {}
        try:
            doc = json.loads(raw)
            repos = doc.get("Repositories") or {}
            if not isinstance(repos, dict):
                raise ValueError("Repositories is not an object")
            return {str(k): dict(v) for k, v in repos.items() if isinstance(v, dict)}
        except (ValueError, AttributeError) as exc:
            raise StoreError(
                f"{self.layout.repositories_json} is corrupt ({exc}); run 'hood fsck'"
            ) from None

    def _save_repositories(self, repos: dict[str, dict[str, str]]) -> None:
        cleaned = {k: v for k, v in repos.items() if v}
        data = json.dumps({"Repositories": cleaned}, separators=(",", ":")).encode()
        write_atomic(self.layout.repositories_json, data, 0o600)

    def references(self) -> dict[str, Digest]:
        """Every `name:tag` / `name@digest` key with the image ID it points to."""
        out: dict[str, Digest] = {}
        for entries in self._load_repositories().values():
            for key, value in entries.items():
                with contextlib.suppress(InvalidDigest):
                    out[key] = Digest.parse(value, sha256_only=True)
        return out

    def add_reference(self, ref: reference.Reference, image_id: Digest) -> None:
        """Point `ref` (tag or digest) at an image. Call under the lock."""
        repos = self._load_repositories()
        repos.setdefault(ref.familiar_name, {})[ref.familiar()] = str(image_id)
        self._save_repositories(repos)

    def remove_reference(self, key: str) -> None:
        repos = self._load_repositories()
        for entries in repos.values():
            entries.pop(key, None)
        self._save_repositories(repos)

    # --- imagedb ----------------------------------------------------------------------
    def has_image(self, image_id: Digest) -> bool:
        return self.layout.imagedb_content(image_id).exists()

    def put_config(self, config: ImageConfig) -> Digest:
        image_id = config.id
        path = self.layout.imagedb_content(image_id)
        if not path.exists():
            write_atomic(path, config.raw, 0o600)
        return image_id

    def load_config(self, image_id: Digest) -> ImageConfig:
        path = self.layout.imagedb_content(image_id)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise NotFound(f"No such image: {image_id}") from None
        return ImageConfig.parse(raw, what=f"image config {path}")

    def set_last_tag_time(self, image_id: Digest, when: datetime | None = None) -> None:
        when = when or datetime.now(UTC)
        text = when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        write_text_atomic(self.layout.imagedb_metadata(image_id) / "lastUpdated", text, 0o600)

    def last_tag_time(self, image_id: Digest) -> datetime | None:
        path = self.layout.imagedb_metadata(image_id) / "lastUpdated"
        try:
            text = path.read_text().strip()
        except FileNotFoundError:
            return None
        from hood.timefmt import parse_rfc3339

        return parse_rfc3339(text)

    def image_ids(self) -> list[Digest]:
        base = self.layout.imagedb_content_dir
        if not base.is_dir():
            return []
        out = []
        for entry in base.iterdir():
            with contextlib.suppress(InvalidDigest):
                out.append(Digest.parse("sha256:" + entry.name))
        return out

    # --- hood's manifest records ------------------------------------------------------
    def _sources_path(self, image_id: Digest) -> Path:
        return self.layout.hood_dir / "images" / image_id.hex / "sources.json"

    def put_manifest(self, raw: bytes) -> Digest:
        digest = Digest.of_bytes(raw)
        path = self.layout.manifest_blob(digest)
        if not path.exists():
            write_atomic(path, raw, 0o644)
        return digest

    def load_manifest(self, digest: Digest) -> bytes | None:
        try:
            return self.layout.manifest_blob(digest).read_bytes()
        except FileNotFoundError:
            return None

    def sources(self, image_id: Digest) -> list[ManifestSource]:
        try:
            doc = json.loads(self._sources_path(image_id).read_bytes())
        except (FileNotFoundError, ValueError):
            return []
        out = []
        for item in doc if isinstance(doc, list) else []:
            with contextlib.suppress(KeyError, InvalidDigest, TypeError):
                out.append(
                    ManifestSource(
                        item["repository"],
                        Digest.parse(item["manifest"]),
                        Digest.parse(item["index"]) if item.get("index") else None,
                        item.get("mediaType", ""),
                    )
                )
        return out

    def add_source(self, image_id: Digest, source: ManifestSource) -> None:
        current = [s for s in self.sources(image_id) if s.repository != source.repository]
        current.append(source)
        doc = [
            {
                "repository": s.repository,
                "manifest": str(s.manifest),
                "index": str(s.index) if s.index else None,
                "mediaType": s.media_type,
            }
            for s in current
        ]
        write_atomic(self._sources_path(image_id), json.dumps(doc, indent=1).encode())

    # --- lookups ----------------------------------------------------------------------
    def get(self, image_id: Digest) -> ImageRecord:
        config = self.load_config(image_id)
        tags, digests = [], []
        for key, target in self.references().items():
            if target == image_id:
                (digests if "@" in key else tags).append(key)
        return ImageRecord(
            image_id,
            config,
            sorted(tags),
            sorted(digests),
            self.last_tag_time(image_id),
            self.sources(image_id),
        )

    def list(self) -> list[ImageRecord]:
        refs = self.references()
        by_id: dict[Digest, tuple[list[str], list[str]]] = {}
        for key, target in refs.items():
            tags, digests = by_id.setdefault(target, ([], []))
            (digests if "@" in key else tags).append(key)
        out = []
        for image_id in self.image_ids():
            try:
                config = self.load_config(image_id)
            except HoodError:
                continue
            tags, digests = by_id.get(image_id, ([], []))
            out.append(
                ImageRecord(
                    image_id,
                    config,
                    sorted(tags),
                    sorted(digests),
                    self.last_tag_time(image_id),
                )
            )
        return out

    def resolve(self, name: str) -> ImageRecord:
        """An image by reference, full ID, or unambiguous ID prefix, as docker resolves them."""
        return self.get(self.resolve_id(name))

    def resolve_id(self, name: str) -> Digest:
        if name.startswith("sha256:") and len(name) == 71:
            try:
                image_id = Digest.parse(name)
            except InvalidDigest:
                raise NotFound(f"No such image: {name}") from None
            if self.has_image(image_id):
                return image_id
            raise NotFound(f"No such image: {name}")
        ref: reference.Reference | None = None
        with contextlib.suppress(InvalidReference):
            ref = reference.parse(name)
        if ref is not None:
            refs = self.references()
            found = refs.get(ref.familiar())
            if found is None and ref.digest is not None and ref.tag is not None:
                found = refs.get(ref.with_digest(ref.digest).familiar())
            if found is not None and self.has_image(found):
                return found
        match = _HEX_PREFIX.fullmatch(name)
        if match:
            prefix = match.group(1)
            hits = [i for i in self.image_ids() if i.hex.startswith(prefix)]
            if len(hits) == 1:
                return hits[0]
            if len(hits) > 1:
                raise NotFound(f"ambiguous image ID prefix {name!r} matches {len(hits)} images")
        raise NotFound(f"No such image: {name}")

    def image_layers(self, image_id: Digest) -> list[LayerRecord]:
        """The image's layers, lowest first."""
        return self.layers_of(self.load_config(image_id))

    def layers_of(self, config: ImageConfig) -> list[LayerRecord]:
        """The layers of an already loaded config, lowest first."""
        chains = chain_ids(list(config.diff_ids))
        return self.layers.chain(chains[-1]) if chains else []

    # --- removal ----------------------------------------------------------------------
    def delete_image(self, image_id: Digest) -> list[Digest]:
        """Remove an image with no references left, and every layer no other image uses.

        Returns the deleted layer chain IDs (top first), as docker reports them. Call
        under the lock."""
        config = self.load_config(image_id)
        chains = chain_ids(list(config.diff_ids))
        still_used: set[Digest] = set()
        for other in self.image_ids():
            if other == image_id:
                continue
            with contextlib.suppress(HoodError):
                still_used.update(chain_ids(list(self.load_config(other).diff_ids)))
        still_used.update(self._container_parents())
        still_used.update(self.layers.leased())  # pulls in progress count on these
        content = self.layout.imagedb_content(image_id)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(content)
        remove_tree(self.layout.imagedb_metadata(image_id))
        remove_tree(self._sources_path(image_id).parent)
        deleted = []
        for chain in reversed(chains):
            if chain in still_used or chain in deleted:
                break
            self.layers.remove(chain)
            deleted.append(chain)
        return deleted

    def _container_parents(self) -> set[Digest]:
        """Chain IDs that containers' read-write layers sit on (layerdb/mounts/ID/parent)."""
        mounts = self.layout.image_dir / "layerdb" / "mounts"
        out: set[Digest] = set()
        if not mounts.is_dir():
            return out
        for entry in mounts.iterdir():
            with contextlib.suppress(OSError, InvalidDigest):
                chain = Digest.parse((entry / "parent").read_text().strip())
                # every layer it can reach, even when a broken chain stops the walk early
                out.update(self.layers.ancestors(chain))
        return out

    def containers_using(self, image_id: Digest) -> list[str]:
        """IDs of containers created from this image (their config.v2.json names it)."""
        out = []
        base = self.layout.containers
        if not base.is_dir():
            return out
        for entry in base.iterdir():
            try:
                doc = json.loads((entry / "config.v2.json").read_bytes())
            except (OSError, ValueError):
                continue
            if isinstance(doc, dict) and doc.get("Image") == str(image_id):
                out.append(entry.name)
        return out
