"""Blob uploads, the push side of RegistryClient: cross-repository mounts; a stream, resumably
and buffering none of it (hood.registry.stream_upload); a small blob (a config) in one PUT,
sent again when it fails; a file in one PUT or in PATCH chunks.

A registry that dropped a stream's session (distribution 2.8 cancels one whose file grew
past its state after a PATCH cut mid-body) gets a new session and the whole stream, as
often as the client's RetryPolicy allows."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

import httpx

from hood.core.digest import Digest
from hood.core.errors import AuthError, DigestMismatch, RegistryError
from hood.core.textsafe import quote_untrusted
from hood.registry.auth import repository_scope
from hood.registry.blobs import CHUNK
from hood.registry.names import check_repository
from hood.registry.retry import RETRY_STATUSES, OutOfTime
from hood.registry.stream_upload import StreamUpload
from hood.registry.upload_session import UploadLost, UploadSessions


class BlobUploads(UploadSessions):
    """Mixed into RegistryClient."""

    def mount_blob(self, repo: str, digest: Digest, from_repo: str) -> bool:
        """Ask the registry to link blob `digest` of `from_repo` (same registry) into `repo`:
        True when it did (201). A registry that will not mount answers 202 with an upload
        session instead (or refuses the token scope); that session is cancelled: False."""
        check_repository(repo)
        check_repository(from_repo)
        scopes = (repository_scope(repo, "pull,push"), repository_scope(from_repo, "pull"))
        url = self._url(f"/v2/{repo}/blobs/uploads/").copy_merge_params(
            {"from": from_repo, "mount": str(digest)}
        )
        response = self._send_url("POST", url, scopes=scopes, headers={"Content-Length": "0"})
        with contextlib.closing(response):
            if response.status_code == 201:
                return True
            if response.status_code in (401, 403, 404):
                return False  # not allowed to read `from_repo`, or it is gone: upload instead
            if response.status_code != 202:
                self._raise_for(response, f"mount of {digest} from {from_repo}", repo, push=True)
            location = self._upload_location(response, f"blob {self._display(repo)}@{digest}")
        self.cancel_upload(repo, location)
        return False

    def upload_stream(
        self,
        repo: str,
        open_stream: Callable[[], Iterable[bytes]],
        *,
        digest: Digest | None = None,
        size: int | None = None,
        piece: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> tuple[Digest, int]:
        """Upload what `open_stream()` yields as one blob; returns its digest and size.

        The bytes stream straight into PATCH requests, `piece` bytes each (None: one PATCH
        for the whole blob, as docker sends it); with `size` known each PATCH carries
        Content-Length and Content-Range, else it is sent chunked. Nothing is buffered: when
        a PATCH breaks off, the registry is asked how much it holds and `open_stream()` is
        called again to produce the same bytes, those the registry has are skipped (hashed,
        not sent) and the rest follows. With `digest`/`size` the stream must match them, or
        nothing is committed (DigestMismatch)."""
        check_repository(repo)
        shown = f"blob {self._display(repo)}@{digest or 'upload'}"
        restarts = 0
        spent = 0.0
        while True:
            try:
                return StreamUpload(
                    self, repo, open_stream, digest, size, piece, progress, shown
                ).run()
            except UploadLost as exc:
                restarts += 1
                if restarts >= self.retry.attempts:
                    raise RegistryError(
                        f"{shown}: the registry dropped the upload {restarts} times ({exc}); "
                        "try again later"
                    ) from None
                try:
                    spent = self.retry.wait(self.retry.backoff(restarts), spent)
                except OutOfTime:
                    raise RegistryError(
                        f"{shown}: the registry dropped the upload ({exc})"
                    ) from None

    def upload_bytes(self, repo: str, digest: Digest, data: bytes) -> None:
        """A small blob (a config) in one PUT after the POST. A PUT that fails is sent
        again (its body is at hand), in a new session if the registry dropped the first."""
        check_repository(repo)
        shown = f"blob {self._display(repo)}@{digest}"
        digest.verify_bytes(data, shown)
        failures = 0
        while True:
            location = self._start_upload(repo, shown)
            final = location.copy_merge_params({"digest": str(digest)})
            try:
                response = self._send_url(
                    "PUT",
                    final,
                    scopes=(repository_scope(repo, "pull,push"),),
                    content=data,
                    headers={"Content-Type": "application/octet-stream"},
                    use_auth=self._same_origin(final),
                )
            except AuthError:
                raise
            except RegistryError:
                status = 0  # the connection kept failing
            else:
                with contextlib.closing(response):
                    status = response.status_code
                    if status in (201, 204):
                        claimed = response.headers.get("docker-content-digest", "").strip()
                        if claimed and claimed != str(digest):
                            raise DigestMismatch(
                                f"{shown}: the registry stored it as {claimed[:80]}"
                            )
                        return
                    if status not in (400, 404, *RETRY_STATUSES):
                        self._raise_for(response, f"{shown}: uploading", repo, push=True)
            if self.blob_size(repo, digest) == len(data):
                return  # an earlier try went in; its answer was lost
            failures += 1
            if failures >= self.retry.attempts:
                raise RegistryError(
                    f"{shown}: the upload kept failing (last: HTTP {status or 'none'})"
                )
            self.cancel_upload(repo, location)

    def upload_blob(
        self,
        repo: str,
        digest: Digest,
        size: int,
        stream: BinaryIO,
        *,
        mount_from: str | None = None,
        chunk_size: int | None = None,
    ) -> str:
        """Upload a blob: cross-repo mount when `mount_from` allows, else one PUT (monolithic)
        or PATCH chunks of `chunk_size` then PUT. Returns "mounted" or "uploaded"."""
        check_repository(repo)
        shown = f"blob {self._display(repo)}@{digest}"
        scopes: tuple[str, ...] = (repository_scope(repo, "pull,push"),)
        if mount_from:
            check_repository(mount_from)
            scopes += (repository_scope(mount_from, "pull"),)
        mount = (digest, mount_from) if mount_from else None
        location = self._start_or_mount(repo, shown, mount, scopes)
        if location is None:
            return "mounted"
        body: bytes | Iterator[bytes]
        headers: dict[str, str] | None
        if chunk_size is None:
            body = _counted(stream, size, shown)
            headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        else:
            location = self._patch_chunks(repo, location, size, stream, chunk_size, scopes, shown)
            body, headers = b"", None
        final = location.copy_merge_params({"digest": str(digest)})
        response = self._send_url(
            "PUT",
            final,
            scopes=scopes,
            content=body,
            headers=headers,
            use_auth=self._same_origin(final),
        )
        with contextlib.closing(response):
            if response.status_code not in (201, 204):
                self._raise_for(response, f"{shown}: completing the upload", repo, push=True)
            claimed = response.headers.get("docker-content-digest", "").strip()
            if claimed and claimed != str(digest):
                raise DigestMismatch(
                    f"{shown}: the registry stored it as {quote_untrusted(claimed, 80)}"
                )
        return "uploaded"

    def _patch_chunks(
        self,
        repo: str,
        location: httpx.URL,
        size: int,
        stream: BinaryIO,
        chunk_size: int,
        scopes: tuple[str, ...],
        shown: str,
    ) -> httpx.URL:
        """`size` bytes of `stream` in PATCHes of `chunk_size`; returns the last Location."""
        offset = 0
        while offset < size:
            chunk = stream.read(min(chunk_size, size - offset))
            if not chunk:
                raise RegistryError(f"{shown}: the source ended at {offset} of {size} bytes")
            response = self._send_url(
                "PATCH",
                location,
                scopes=scopes,
                content=chunk,
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
                    "Content-Length": str(len(chunk)),
                },
                use_auth=self._same_origin(location),
            )
            with contextlib.closing(response):
                if response.status_code != 202:
                    self._raise_for(response, f"{shown}: uploading at {offset}", repo, push=True)
                location = self._upload_location(response, shown)
            offset += len(chunk)
        if stream.read(1):
            raise DigestMismatch(f"{shown}: the source has more than {size} bytes")
        return location


def _counted(stream: BinaryIO, size: int, shown: str) -> Iterator[bytes]:
    sent = 0
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            break
        sent += len(chunk)
        if sent > size:
            raise DigestMismatch(f"{shown}: the source has more than {size} bytes")
        yield chunk
    if sent != size:
        raise DigestMismatch(f"{shown}: the source has {sent} bytes, not {size}")
