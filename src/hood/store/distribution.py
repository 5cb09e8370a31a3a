"""Docker's distribution metadata: which compressed blob a layer came from, and where.

    distribution/diffid-by-digest/sha256/BLOB       -> the layer's diff ID
    distribution/v2metadata-by-diffid/sha256/DIFF   -> [{"Digest", "SourceRepository", "HMAC"}]

A pull records both; a push reads them to skip or mount blobs a registry already has."""

from __future__ import annotations

import os

from hood.core.digest import Digest, InvalidDigest
from hood.core.fileio import read_bytes, read_text, write_atomic
from hood.core.jsonio import dumps, loads
from hood.core.lean import Frozen, suppress
from hood.store.layout import Layout


class BlobSource(Frozen):
    """A compressed blob of a layer, and a repository (`host/path`) known to hold it."""

    __slots__ = ("digest", "repository")
    digest: Digest
    repository: str

    def __init__(self, digest: Digest, repository: str) -> None:
        self._init(digest=digest, repository=repository)


class Distribution:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    def record(self, blob: Digest, diff_id: Digest, repository: str) -> None:
        """Note that `blob` (compressed) is layer `diff_id` and that `repository` has it.
        Call under the store lock: the list is read, extended and rewritten."""
        path = self.layout.diffid_by_digest(blob)
        if not os.path.exists(path):
            write_atomic(path, str(diff_id))
        entries = self._entries(diff_id)
        entry = {"Digest": str(blob), "SourceRepository": repository, "HMAC": ""}
        if entry not in entries:
            entries.append(entry)
            write_atomic(
                self.layout.v2metadata_by_diffid(diff_id), dumps(entries, separators=(",", ":"))
            )

    def diff_id_of(self, blob: Digest) -> Digest | None:
        try:
            return Digest.parse(read_text(self.layout.diffid_by_digest(blob)), sha256_only=True)
        except (OSError, InvalidDigest):
            return None

    def sources(self, diff_id: Digest) -> list[BlobSource]:
        """The compressed blobs this layer is known as, and where, oldest first."""
        out = []
        for entry in self._entries(diff_id):
            with suppress(KeyError, TypeError, InvalidDigest, AttributeError):
                out.append(
                    BlobSource(Digest.parse(entry["Digest"]), str(entry["SourceRepository"]))
                )
        return out

    def _entries(self, diff_id: Digest) -> list[dict[str, str]]:
        try:
            loaded = loads(read_bytes(self.layout.v2metadata_by_diffid(diff_id)))
        except (OSError, ValueError, RecursionError):
            return []
        return [e for e in loaded if isinstance(e, dict)] if isinstance(loaded, list) else []
