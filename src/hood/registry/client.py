"""A client for one registry host (Registry HTTP API v2 / OCI distribution spec).

Thread-safe: share one client between the threads of a pull. Every byte it returns is checked
(manifests against the digest asked for or `Docker-Content-Digest`); blob streams are checked by
the caller with `hood.core.digest.VerifyingReader`, which sees the blob from byte 0 even when the
download resumes from a partial file or after a dropped connection.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx

from hood.core.digest import Digest
from hood.core.errors import AuthError, DigestMismatch, ManifestError, RegistryError
from hood.core.imageconfig import MAX_CONFIG_SIZE
from hood.registry import guard
from hood.registry.auth import Challenge, error_text
from hood.registry.blobs import BlobReader
from hood.registry.bodies import DEADLINE_EXTENSION, decoded_pieces
from hood.registry.error_replies import read_error_body
from hood.registry.manifests import ManifestRequests
from hood.registry.names import check_repository
from hood.registry.upload import BlobUploads


class RegistryClient(ManifestRequests, BlobUploads):
    """One registry host: ping, login check, manifests, blobs (resumable), uploads."""

    # --- public API ------------------------------------------------------------------------
    def ping(self) -> str:
        """Reach /v2/ (HTTPS, or HTTP for insecure hosts); returns the base URL in use."""
        return self._base()

    def check_login(self) -> None:
        """Verify the client's credentials against /v2/ and the token service (for login)."""
        self._base()
        creds = self.auth.credentials()
        if creds is None:
            raise AuthError(f"no credentials for {self.display_host}: give a username and password")
        challenge = self.auth.challenge
        if challenge is not None and challenge.scheme == "bearer":
            self.auth.forget_tokens()
            self.auth.token(Challenge("bearer", dict(challenge.params)), ())
        response = self._send("GET", "/v2/")
        with contextlib.closing(response):
            if response.status_code == 200:
                return
            body = read_error_body(response)
            if response.status_code in (401, 403):
                raise AuthError(
                    f"login to {self.display_host} failed: {error_text(body) or 'unauthorized'}: "
                    "incorrect username or password"
                )
            raise RegistryError(
                f"login to {self.display_host}: /v2/ answered HTTP {response.status_code}: "
                f"{error_text(body) or 'no details'}"
            )

    def blob_exists(self, repo: str, digest: Digest) -> bool:
        check_repository(repo)
        response = self._blob_request(repo, digest, "HEAD")
        with contextlib.closing(response):
            if response.status_code == 200:
                return True
            if response.status_code == 404:
                return False
            self._raise_for(response, f"blob {self._display(repo)}@{digest}", repo)

    def fetch_blob(
        self,
        repo: str,
        digest: Digest,
        size: int,
        partial_path: Path | str,
        *,
        urls: Sequence[str] = (),
    ) -> BlobReader:
        """A stream of the whole blob from byte 0, resumable, teed into `partial_path`.

        The caller hashes what it reads (VerifyingReader), deletes the partial file when the
        blob verified — or when it did not — and closes the reader. A foreign layer (its
        descriptor has `urls`) is taken from the registry when it has it; hood never fetches
        the `urls` themselves."""
        check_repository(repo)
        return BlobReader(self, repo, digest, size, Path(partial_path), tuple(urls))

    @contextlib.contextmanager
    def fetch_blob_bytes(
        self, repo: str, digest: Digest, size: int, limit: int = MAX_CONFIG_SIZE
    ) -> Iterator[bytes]:
        """A small blob (a config) in memory, verified against digest and size."""
        check_repository(repo)
        shown = f"blob {self._display(repo)}@{digest}"
        if size > limit:
            raise ManifestError(f"{shown}: {size} bytes is more than the {limit} allowed")
        _, data = self._get_whole(
            lambda: self._blob_request(repo, digest, headers={"Accept-Encoding": "identity"}),
            lambda response: _read_exactly_at_most(response, size, shown),
            shown,
            repo,
        )
        if len(data) != size:
            raise DigestMismatch(f"{shown}: size mismatch: expected {size} bytes, got {len(data)}")
        digest.verify_bytes(data, what=shown)
        yield data


def _read_exactly_at_most(response: httpx.Response, size: int, shown: str) -> bytes:
    """The body (decoded if the registry encoded it anyway), within the request's deadline,
    refused as soon as it is longer than `size`."""
    chunks: list[bytes] = []
    total = 0
    at, seconds = response.extensions.get(DEADLINE_EXTENSION) or (None, None)
    with guard.deadline(at, seconds):
        for chunk in decoded_pieces(response, shown):
            total += len(chunk)
            if total > size:
                raise DigestMismatch(f"{shown}: more than the {size} bytes its descriptor promises")
            chunks.append(chunk)
    return b"".join(chunks)
