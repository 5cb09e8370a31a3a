"""A client for one registry host (Registry HTTP API v2 / OCI distribution spec).

Thread-safe: share one client between the threads of a pull. Every byte it returns is checked
(manifests against the digest asked for or `Docker-Content-Digest`); blob streams are checked by
the caller with `hood.core.digest.VerifyingReader`, which sees the blob from byte 0 even when the
download resumes from a partial file or after a dropped connection.

RegistryClient is its parts put together: the plumbing (hood.registry.connection), manifests
(hood.registry.manifests), blob reads (hood.registry.blob_reads) and uploads
(hood.registry.upload); here are what concerns the host itself: ping and the login check.
"""

from __future__ import annotations

import contextlib

from hood.core.errors import AuthError, RegistryError
from hood.registry.auth import Challenge, error_text
from hood.registry.blob_reads import BlobReads
from hood.registry.error_replies import read_error_body
from hood.registry.manifests import ManifestRequests
from hood.registry.upload import BlobUploads


class RegistryClient(ManifestRequests, BlobReads, BlobUploads):
    """One registry host: ping, login check, manifests, blobs (resumable), uploads."""

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
