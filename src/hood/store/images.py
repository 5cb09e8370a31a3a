"""imagedb, repositories.json and hood's record of the manifests each image came from.

The one image loader: `hood run` resolves its image here too, so this module imports only
the core's light parts (no json, re, pathlib or dataclasses at module level)."""

from __future__ import annotations

import os

from hood.core import reference
from hood.core.digest import Digest, InvalidDigest, chain_ids
from hood.core.errors import HoodError, InvalidReference, NotFound, StoreError
from hood.core.fileio import read_bytes, remove_tree, write_atomic
from hood.core.imageconfig import ImageConfig
from hood.core.jsonio import dumps, loads
from hood.core.lean import Frozen, Record, suppress
from hood.store.layers import LayerRecord, LayerStore
from hood.store.layout import Layout
from hood.store.lock import FileLock

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

_HEX = frozenset("0123456789abcdef")


class ManifestSource(Frozen):
    """Where an image came from: the manifest (and index) digests per repository."""

    __slots__ = ("repository", "manifest", "index", "media_type")
    repository: str
    manifest: Digest
    index: Digest | None
    media_type: str

    def __init__(
        self, repository: str, manifest: Digest, index: Digest | None = None, media_type: str = ""
    ) -> None:
        self._init(repository=repository, manifest=manifest, index=index, media_type=media_type)


class ImageRecord(Record):
    """A stored image: its ID, config and names (`repo:tag`, `repo@sha256:...`)."""

    __slots__ = ("id", "config", "repo_tags", "repo_digests", "_last_updated")

    def __init__(
        self,
        id: Digest,  # noqa: A002 - docker's name for it
        config: ImageConfig,
        repo_tags: list[str] | None = None,
        repo_digests: list[str] | None = None,
        last_updated: str = "",
    ) -> None:
        self.id = id
        self.config = config
        self.repo_tags = repo_tags or []
        self.repo_digests = repo_digests or []
        self._last_updated = last_updated

    @property
    def names(self) -> list[str]:
        return self.repo_tags + self.repo_digests

    @property
    def last_tag_time(self) -> datetime | None:
        """When a name last pointed here (imagedb/metadata/.../lastUpdated)."""
        if not self._last_updated:
            return None
        from hood.core.timefmt import parse_rfc3339

        return parse_rfc3339(self._last_updated)


class ImageStore:
    """Images of one data root. Mutations take the store lock; reads need none."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.layers = LayerStore(layout)

    def locked(self) -> FileLock:
        """`with store.locked():` the data root's one writer lock."""
        return FileLock(self.layout.lock_file)

    # --- repositories.json ------------------------------------------------------------
    def _load_repositories(self) -> dict[str, dict[str, str]]:
        path = self.layout.repositories_json
        try:
            raw = read_bytes(path)
        except FileNotFoundError:
            return {}
        except PermissionError:
            raise StoreError(
                f"cannot read {path}: permission denied (the data root belongs to another "
                "user: run as that user, or give --root a data root of your own)"
            ) from None
        try:
            doc = loads(raw)
            repos = doc.get("Repositories") or {}
            if not isinstance(repos, dict):
                raise ValueError("Repositories is not an object")
            return {str(k): dict(v) for k, v in repos.items() if isinstance(v, dict)}
        except (ValueError, AttributeError, RecursionError) as exc:
            raise StoreError(f"{path} is corrupt ({exc}); run 'hood fsck'") from None

    def references(self) -> dict[str, Digest]:
        """Every `name:tag` / `name@digest` key with the image ID it points to."""
        out: dict[str, Digest] = {}
        for entries in self._load_repositories().values():
            for key, value in entries.items():
                with suppress(InvalidDigest, AttributeError):
                    out[key] = Digest.parse(value, sha256_only=True)
        return out

    def update_references(
        self, *, remove: Iterable[str] = (), add: Iterable[tuple[str, Digest]] = ()
    ) -> None:
        """Drop the `remove` keys and point each `add` key at its image, in one rewrite of
        repositories.json. Call under the lock."""
        repos = self._load_repositories()
        for key in remove:
            for entries in repos.values():
                entries.pop(key, None)
        for key, image_id in add:
            repos.setdefault(_repository_of(key), {})[key] = str(image_id)
        cleaned = {k: v for k, v in repos.items() if v}
        data = dumps({"Repositories": cleaned}, separators=(",", ":"))
        write_atomic(self.layout.repositories_json, data, 0o600)

    def add_reference(self, ref: reference.Reference, image_id: Digest) -> None:
        """Point `ref` (tag or digest) at an image. Call under the lock."""
        self.update_references(add=[(ref.familiar(), image_id)])

    def remove_reference(self, key: str) -> None:
        self.update_references(remove=[key])

    # --- imagedb ----------------------------------------------------------------------
    def has_image(self, image_id: Digest) -> bool:
        return os.path.exists(self.layout.imagedb_content(image_id))

    def put_config(self, config: ImageConfig) -> Digest:
        image_id = config.id
        path = self.layout.imagedb_content(image_id)
        if not os.path.exists(path):
            write_atomic(path, config.raw, 0o600)
        return image_id

    def load_config(self, image_id: Digest) -> ImageConfig:
        """The config stored under `image_id`, checked against it."""
        path = self.layout.imagedb_content(image_id)
        try:
            raw = read_bytes(path)
        except FileNotFoundError:
            raise NotFound(f"No such image: {image_id}") from None
        if Digest.of_bytes(raw) != image_id:
            raise StoreError(
                f"image {image_id}: its config does not match its ID; run 'hood fsck'"
            )
        return ImageConfig.parse(raw, what=f"image config {path}", bounded=False)

    def set_last_tag_time(self, image_id: Digest, when: datetime | None = None) -> None:
        from datetime import UTC, datetime

        when = when or datetime.now(UTC)
        text = when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        path = os.path.join(self.layout.imagedb_metadata(image_id), "lastUpdated")
        write_atomic(path, text, 0o600)

    def _last_updated(self, image_id: Digest) -> str:
        path = os.path.join(self.layout.imagedb_metadata(image_id), "lastUpdated")
        try:
            return read_bytes(path).decode().strip()
        except (OSError, UnicodeDecodeError):
            return ""

    def image_ids(self) -> list[Digest]:
        try:
            names = os.listdir(self.layout.imagedb_content_dir)
        except (FileNotFoundError, NotADirectoryError):
            return []
        out = []
        for name in names:
            with suppress(InvalidDigest):
                out.append(Digest.parse("sha256:" + name))
        return out

    # --- hood's manifest records ------------------------------------------------------
    def put_manifest(self, raw: bytes) -> Digest:
        digest = Digest.of_bytes(raw)
        path = self.layout.manifest_blob(digest)
        if not os.path.exists(path):
            write_atomic(path, raw, 0o644)
        return digest

    def load_manifest(self, digest: Digest) -> bytes | None:
        try:
            return read_bytes(self.layout.manifest_blob(digest))
        except FileNotFoundError:
            return None

    def sources(self, image_id: Digest) -> list[ManifestSource]:
        try:
            doc = loads(read_bytes(self.layout.image_sources(image_id)))
        except (OSError, ValueError, RecursionError):
            return []
        out = []
        for item in doc if isinstance(doc, list) else []:
            with suppress(KeyError, InvalidDigest, TypeError, AttributeError):
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
        write_atomic(self.layout.image_sources(image_id), dumps(doc))

    # --- lookups ----------------------------------------------------------------------
    def _names(self) -> dict[Digest, tuple[list[str], list[str]]]:
        by_id: dict[Digest, tuple[list[str], list[str]]] = {}
        for key, target in self.references().items():
            tags, digests = by_id.setdefault(target, ([], []))
            (digests if "@" in key else tags).append(key)
        return by_id

    def get(self, image_id: Digest) -> ImageRecord:
        config = self.load_config(image_id)
        tags, digests = self._names().get(image_id, ([], []))
        return ImageRecord(
            image_id, config, sorted(tags), sorted(digests), self._last_updated(image_id)
        )

    def list(self) -> list[ImageRecord]:
        """Every image whose config loads; one that does not is fsck's to report."""
        by_id = self._names()
        out = []
        for image_id in self.image_ids():
            try:
                config = self.load_config(image_id)
            except HoodError:
                continue
            tags, digests = by_id.get(image_id, ([], []))
            out.append(
                ImageRecord(
                    image_id, config, sorted(tags), sorted(digests), self._last_updated(image_id)
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
        with suppress(InvalidReference):
            ref = reference.parse(name)
        if ref is not None:
            refs = self.references()
            found = refs.get(ref.familiar())
            if found is None and ref.digest is not None and ref.tag is not None:
                found = refs.get(ref.with_digest(ref.digest).familiar())
            if found is not None and self.has_image(found):
                return found
        prefix = name[7:] if name.startswith("sha256:") else name
        if 0 < len(prefix) <= 64 and _HEX.issuperset(prefix):
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
        """The layers of an already loaded config, lowest first; NotFound naming the first
        one missing (the image's own problem: `hood pull` it again), StoreError when a
        layer's parent file names another layer than the one below it (docker follows
        those files: an image whose chain they break or loop cannot be used)."""
        out: list[LayerRecord] = []
        parent = None
        for chain in chain_ids(list(config.diff_ids)):
            record = self.layers.get(chain)
            if record is None:
                raise NotFound(
                    f"image {config.id}: layer {chain} is missing from the store; pull it again"
                )
            if record.parent != parent:
                if record.parent == chain or any(r.chain_id == record.parent for r in out):
                    problem = f"parent chain loops (at {record.parent.short})"
                else:
                    problem = f"parent is {record.parent}, not {parent}"
                raise StoreError(f"layer {chain}: {problem}; run hood fsck")
            out.append(record)
            parent = chain
        return out

    # --- removal ----------------------------------------------------------------------
    def delete_image(self, image_id: Digest, keep: set[Digest] | None = None) -> list[Digest]:
        """Remove an image with no references left, and every layer no other image uses
        and that is not in `keep` (the layers containers sit on). Returns the deleted
        layer chain IDs (top first), as docker reports them. Call under the lock."""
        config = self.load_config(image_id)
        chains = chain_ids(list(config.diff_ids))
        still_used: set[Digest] = set(keep or ())
        for other in self.image_ids():
            if other == image_id:
                continue
            with suppress(HoodError):
                still_used.update(chain_ids(list(self.load_config(other).diff_ids)))
        still_used.update(self.layers.leased())  # pulls in progress count on these
        with suppress(FileNotFoundError):
            os.unlink(self.layout.imagedb_content(image_id))
        remove_tree(self.layout.imagedb_metadata(image_id))
        remove_tree(os.path.dirname(self.layout.image_sources(image_id)))
        deleted = []
        for chain in reversed(chains):
            if chain in still_used or chain in deleted:
                break
            self.layers.remove(chain)
            deleted.append(chain)
        return deleted


def _repository_of(key: str) -> str:
    """The repositories.json group of a `name:tag` or `name@digest` key: the name."""
    if "@" in key:
        return key.split("@", 1)[0]
    slash = key.rfind("/")
    colon = key.rfind(":")
    return key[:colon] if colon > slash else key
