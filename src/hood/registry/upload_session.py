"""The requests of one upload session: POST to start it, PATCH a piece, GET how much it
holds, the final PUT, DELETE to cancel, each answer's `Location` the URL for the next; and
the blob's HEAD with a push token (`blob_size`), which also says whether a final PUT whose
answer was lost went in. A PATCH that did not get through is UploadBroken (resume from what
the registry holds), a session the registry no longer knows UploadLost (start over)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import httpx

from hood.core.digest import Digest
from hood.core.errors import AuthError, DigestMismatch, RegistryError
from hood.core.textsafe import quote_untrusted
from hood.registry.auth import repository_scope
from hood.registry.connection import Connection
from hood.registry.names import check_repository
from hood.registry.retry import RETRY_STATUSES

_RANGE = re.compile(r"(?:bytes[ =])?\s*(\d+)-(\d+)")


class UploadBroken(Exception):
    """Internal: a PATCH or PUT that did not get through (transport error, 5xx, 416)."""


class UploadLost(Exception):
    """Internal: the registry no longer knows the upload session."""


class UploadSessions(Connection):
    """Mixed into RegistryClient (by way of BlobUploads)."""

    def blob_size(self, repo: str, digest: Digest) -> int | None:
        """`HEAD` of the blob in `repo` (with a push token, as a push asks): its size, or
        None when the repository does not have it."""
        check_repository(repo)
        url = self._url(f"/v2/{repo}/blobs/{digest}")
        response = self._send_url("HEAD", url, scopes=(repository_scope(repo, "pull,push"),))
        with contextlib.closing(response):
            status = response.status_code
            length = response.headers.get("content-length", "")
        if status in (301, 302, 303, 307, 308):  # stored elsewhere: ask where it leads
            response = self._blob_request(repo, digest, "HEAD")
            with contextlib.closing(response):
                status = response.status_code
                length = response.headers.get("content-length", "")
        if status == 404:
            return None
        if status != 200:
            self._raise_for(response, f"blob {self._display(repo)}@{digest}", repo, push=True)
        return int(length) if length.isdigit() else -1

    def cancel_upload(self, repo: str, location: httpx.URL) -> None:
        """`DELETE` an upload session; a failure to cancel is no error (sessions expire)."""
        with contextlib.suppress(RegistryError):
            response = self._send_url(
                "DELETE",
                location,
                scopes=(repository_scope(repo, "pull,push"),),
                use_auth=self._same_origin(location),
            )
            response.close()

    def _start_upload(self, repo: str, shown: str) -> httpx.URL:
        """The POST that starts an upload session: its Location."""
        location = self._start_or_mount(repo, shown)
        assert location is not None  # nothing to mount: a session or an error
        return location

    def _start_or_mount(
        self,
        repo: str,
        shown: str,
        mount: tuple[Digest, str] | None = None,
        scopes: tuple[str, ...] | None = None,
    ) -> httpx.URL | None:
        """The POST that starts an upload session (its Location) or, given `mount` (a blob
        and the repository it is in), has the registry mount it (None)."""
        url = self._url(f"/v2/{repo}/blobs/uploads/")
        if mount is not None:
            url = url.copy_merge_params({"mount": str(mount[0]), "from": mount[1]})
        scopes = scopes or (repository_scope(repo, "pull,push"),)
        response = self._send_url("POST", url, scopes=scopes, headers={"Content-Length": "0"})
        with contextlib.closing(response):
            if response.status_code == 201 and mount is not None:
                return None
            if response.status_code != 202:
                self._raise_for(response, f"{shown}: starting the upload", repo, push=True)
            return self._upload_location(response, shown)

    def _patch(
        self,
        repo: str,
        location: httpx.URL,
        body: Iterator[bytes],
        offset: int,
        length: int | None,
        shown: str,
    ) -> tuple[httpx.URL, int | None]:
        """One PATCH of `body` at `offset` (`length` bytes, or chunked when None): the new
        Location and how many bytes the registry says it holds (None: it did not say)."""
        headers = {"Content-Type": "application/octet-stream"}
        if length is not None:
            headers["Content-Length"] = str(length)
            headers["Content-Range"] = f"{offset}-{offset + length - 1}"
        try:
            response = self._send_url(
                "PATCH",
                location,
                scopes=(repository_scope(repo, "pull,push"),),
                content=body,
                headers=headers,
                use_auth=self._same_origin(location),
                retry_transport=False,
            )
        except AuthError:
            raise
        except RegistryError as exc:  # the connection broke (the body may be half in)
            raise UploadBroken(str(exc)) from None
        with contextlib.closing(response):
            status = response.status_code
            if status in RETRY_STATUSES or status == 416:
                raise UploadBroken(f"HTTP {status}")
            if status == 404:
                raise UploadLost("upload session unknown")
            if status != 202:
                self._raise_for(response, f"{shown}: uploading at byte {offset}", repo, push=True)
            location = self._upload_location(response, shown)
            return location, _range_end(response.headers.get("range", ""), empty_is_one=True)

    def _upload_status(self, repo: str, location: httpx.URL, shown: str) -> tuple[httpx.URL, int]:
        """How many bytes the session holds (`GET` → 204 + Range), and its fresh Location."""
        response = self._send_url(
            "GET",
            location,
            scopes=(repository_scope(repo, "pull,push"),),
            use_auth=self._same_origin(location),
        )
        with contextlib.closing(response):
            if response.status_code in (404, 400):
                raise UploadLost(f"HTTP {response.status_code} on the upload status")
            if response.status_code not in (200, 204):
                self._raise_for(response, f"{shown}: upload status", repo, push=True)
            have = _range_end(response.headers.get("range", "")) or 0
            fresh = response.headers.get("location", "")
            return (self._upload_location(response, shown) if fresh else location), have

    def _finish_upload(
        self, repo: str, location: httpx.URL, digest: Digest, size: int, shown: str
    ) -> None:
        """`PUT <location>&digest=` with no body. A final PUT whose answer was lost may have
        committed: the blob's HEAD says."""
        final = location.copy_merge_params({"digest": str(digest)})
        try:
            response = self._send_url(
                "PUT",
                final,
                scopes=(repository_scope(repo, "pull,push"),),
                content=b"",
                headers={"Content-Length": "0"},
                use_auth=self._same_origin(final),
            )
        except AuthError:
            raise
        except RegistryError as exc:
            if self.blob_size(repo, digest) == size:
                return
            raise UploadLost(str(exc)) from None
        with contextlib.closing(response):
            status = response.status_code
            if status in (201, 204):
                claimed = response.headers.get("docker-content-digest", "").strip()
                if claimed and claimed != str(digest):
                    raise DigestMismatch(f"{shown}: the registry stored it as {claimed[:80]}")
                return
            if status not in (400, 404, *RETRY_STATUSES):
                self._raise_for(response, f"{shown}: completing the upload", repo, push=True)
        if self.blob_size(repo, digest) == size:
            return
        # 400 (DIGEST_INVALID: the session holds other bytes), 404 (session gone), 5xx.
        raise UploadLost(f"HTTP {status} at the final PUT")

    def _same_origin(self, url: httpx.URL) -> bool:
        base = self._url("/")
        return (url.scheme, url.host, url.port) == (base.scheme, base.host, base.port)

    def _upload_location(self, response: httpx.Response, shown: str) -> httpx.URL:
        location = response.headers.get("location", "")
        if not location:
            raise RegistryError(f"{shown}: the registry gave no upload Location")
        url = response.url.join(location)
        if url.scheme not in ("http", "https"):
            raise RegistryError(
                f"{shown}: unusable upload Location {quote_untrusted(location, 200)}"
            )
        return url


def _range_end(text: str, empty_is_one: bool = False) -> int | None:
    """The byte count a `Range: 0-N` (or `bytes=0-N`) reply says the registry holds: N+1,
    except `0-0`, which distribution sends for an empty session too: 0 unless the caller
    knows at least one byte went in (`empty_is_one`)."""
    match = _RANGE.fullmatch(text.strip())
    if match is None:
        return None
    last = int(match.group(2))
    return last + 1 if last or empty_is_one else 0
