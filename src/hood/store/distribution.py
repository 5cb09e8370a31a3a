"""Docker's distribution metadata: which compressed blob a layer came from, and where.

    distribution/diffid-by-digest/sha256/BLOB       -> the layer's diff ID
    distribution/v2metadata-by-diffid/sha256/DIFF   -> [{"Digest", "SourceRepository", "HMAC"}]

A pull records both; a push reads them to skip or mount blobs a registry already has, and
records what it pushed, with the HMAC dockerd writes: hex(HMAC-SHA256(key, Digest +
SourceRepository)), the key being `sha256:<hex>` of the Go JSON of the credentials used
(`{}` when anonymous), so docker itself finds hood's pushes and hood finds docker's."""

from __future__ import annotations

import os

from hood.core.digest import Digest, InvalidDigest
from hood.core.fileio import read_bytes, read_text, write_atomic
from hood.core.jsonio import go_json, loads
from hood.core.lean import Frozen, suppress
from hood.store.layout import Layout

MAX_ENTRIES = 50  # per diff ID, as dockerd keeps


class BlobSource(Frozen):
    """A compressed blob of a layer, and a repository (`host/path`) known to hold it."""

    __slots__ = ("digest", "repository", "hmac")
    digest: Digest
    repository: str
    hmac: str

    def __init__(self, digest: Digest, repository: str, hmac: str = "") -> None:
        self._init(digest=digest, repository=repository, hmac=hmac)


def hmac_key(username: str = "", password: str = "", identity_token: str = "") -> bytes:
    """dockerd's ComputeV2MetadataHMACKey over the credentials a push used (the docker
    CLI sends username and password, or an identity token; `auth` is decoded away)."""
    from hood.core.digest import sha256_hex

    doc = {
        k: v
        for k, v in (
            ("username", username),
            ("password", password),
            ("identitytoken", identity_token),
        )
        if v
    }
    return f"sha256:{sha256_hex(go_json(doc, html=True).encode())}".encode()


def metadata_hmac(key: bytes, blob: Digest, repository: str) -> str:
    import hashlib
    import hmac

    return hmac.new(key, (str(blob) + repository).encode(), hashlib.sha256).hexdigest()




class Distribution:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    def record(self, blob: Digest, diff_id: Digest, repository: str, hmac: str = "") -> None:
        """Note that `blob` (compressed) is layer `diff_id` and that `repository` has it.
        Call under the store lock: the list is read, extended and rewritten."""
        path = self.layout.diffid_by_digest(blob)
        if not os.path.exists(path):
            write_atomic(path, str(diff_id))
        entries = self._entries(diff_id)
        entry = {"Digest": str(blob), "SourceRepository": repository, "HMAC": hmac}
        if entry not in entries:
            entries.append(entry)
            write_atomic(
                self.layout.v2metadata_by_diffid(diff_id), go_json(entries, html=True)
            )

    def record_push(self, blob: Digest, diff_id: Digest, repository: str, hmac: str) -> None:
        """A blob pushed, mounted or found in `repository`, as dockerd's TagAndAdd writes
        it: the same entry moves to the end (newest last), at most MAX_ENTRIES kept."""
        path = self.layout.diffid_by_digest(blob)
        if not os.path.exists(path):
            write_atomic(path, str(diff_id))
        entry = {"Digest": str(blob), "SourceRepository": repository, "HMAC": hmac}
        entries = [e for e in self._entries(diff_id) if e != entry]
        entries.append(entry)
        entries = entries[-MAX_ENTRIES:]
        write_atomic(
            self.layout.v2metadata_by_diffid(diff_id), go_json(entries, html=True)
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
                    BlobSource(
                        Digest.parse(entry["Digest"]),
                        str(entry["SourceRepository"]),
                        str(entry.get("HMAC") or ""),
                    )
                )
        return out

    def _entries(self, diff_id: Digest) -> list[dict[str, str]]:
        try:
            loaded = loads(read_bytes(self.layout.v2metadata_by_diffid(diff_id)))
        except (OSError, ValueError, RecursionError):
            return []
        return [e for e in loaded if isinstance(e, dict)] if isinstance(loaded, list) else []
