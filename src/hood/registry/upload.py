"""The push side of a registry client: blob existence (HEAD), cross-repository mounts,
uploads (monolithic, chunked, and resumable streams of unknown length), manifests.

A resumable upload streams its bytes straight into PATCH requests (one per blob, or
pieces of a given size; `Content-Length` and `Content-Range` when the size is known,
chunked otherwise), hashing them on the way and buffering none. When a PATCH breaks off
(connection lost, 5xx, 416) it asks the upload URL how much the registry holds (`GET` →
204, `Range: 0-N` with or without `bytes=`), has the stream produced again (a registry
blob read again, a layer compressed again: the same bytes), hashes without sending what
the registry holds and sends the rest, always to the latest `Location`. A registry that
dropped the session (distribution 2.8 cancels one whose file grew past its state after a
PATCH cut mid-body) gets a new session and the whole stream. Both are bounded by the
client's RetryPolicy. (Measured against distribution 2.8: PATCH pieces of 1 MiB made a
push 45% slower than 16 MiB, each PATCH being a round trip and a hash-state save; and a
16 MiB buffer per concurrent upload cost more memory than the rest of a push.)"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO

import httpx

from hood.core.digest import Digest, new_hasher
from hood.core.errors import AuthError, DigestMismatch, RegistryError
from hood.core.textsafe import quote_untrusted
from hood.registry.auth import repository_scope
from hood.registry.blobs import CHUNK
from hood.registry.connection import Connection
from hood.registry.names import check_repository
from hood.registry.retry import RETRY_STATUSES, OutOfTime

SEND = 1 << 20  # bytes handed to the socket at a time
_RANGE = re.compile(r"(?:bytes[ =])?\s*(\d+)-(\d+)")


class UploadBroken(Exception):
    """Internal: a PATCH or PUT that did not get through (transport error, 5xx, 416)."""


class UploadLost(Exception):
    """Internal: the registry no longer knows the upload session."""


class BlobUploads(Connection):
    """Mixed into RegistryClient."""


    # --- existence and mounts ------------------------------------------------------------
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

    # --- resumable uploads ---------------------------------------------------------------
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
                return _Upload(self, repo, open_stream, digest, size, piece, progress, shown).run()
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
                    raise RegistryError(f"{shown}: the registry dropped the upload ({exc})") from None

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
                            raise DigestMismatch(f"{shown}: the registry stored it as {claimed[:80]}")
                        return
                    if status not in (400, 404, *RETRY_STATUSES):
                        self._raise_for(response, f"{shown}: uploading", repo, push=True)
            if self.blob_size(repo, digest) == len(data):
                return  # an earlier try went in; its answer was lost
            failures += 1
            if failures >= self.retry.attempts:
                raise RegistryError(f"{shown}: the upload kept failing (last: HTTP {status or 'none'})")
            self.cancel_upload(repo, location)

    def _start_upload(self, repo: str, shown: str) -> httpx.URL:
        response = self._send(
            "POST",
            f"/v2/{repo}/blobs/uploads/",
            scopes=(repository_scope(repo, "pull,push"),),
            headers={"Content-Length": "0"},
        )
        with contextlib.closing(response):
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
        path = f"/v2/{repo}/blobs/uploads/"
        if mount_from:
            check_repository(mount_from)
            scopes += (repository_scope(mount_from, "pull"),)
            url = self._url(path).copy_merge_params({"mount": str(digest), "from": mount_from})
        else:
            url = self._url(path)
        response = self._send_url("POST", url, scopes=scopes, headers={"Content-Length": "0"})
        with contextlib.closing(response):
            if response.status_code == 201 and mount_from:
                return "mounted"
            if response.status_code != 202:
                self._raise_for(response, f"{shown}: starting the upload", repo, push=True)
            location = self._upload_location(response, shown)
        if chunk_size is None:
            body = _counted(stream, size, shown)
            final = location.copy_merge_params({"digest": str(digest)})
            response = self._send_url(
                "PUT",
                final,
                scopes=scopes,
                content=body,
                headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
                use_auth=self._same_origin(final),
            )
        else:
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
                        self._raise_for(
                            response, f"{shown}: uploading at {offset}", repo, push=True
                        )
                    location = self._upload_location(response, shown)
                offset += len(chunk)
            if stream.read(1):
                raise DigestMismatch(f"{shown}: the source has more than {size} bytes")
            final = location.copy_merge_params({"digest": str(digest)})
            response = self._send_url(
                "PUT", final, scopes=scopes, content=b"", use_auth=self._same_origin(final)
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



class _Upload:
    """One upload session of a stream (see BlobUploads.upload_stream). Bytes are hashed as
    they are sent (or skipped as held by the registry), never as they are read ahead: the
    hash state saved at each acknowledged offset is that offset's."""

    def __init__(
        self,
        client: BlobUploads,
        repo: str,
        open_stream: Callable[[], Iterable[bytes]],
        digest: Digest | None,
        size: int | None,
        piece: int | None,
        progress: Callable[[int], None] | None,
        shown: str,
    ) -> None:
        self.client = client
        self.repo = repo
        self.open_stream = open_stream
        self.digest = digest
        self.size = size
        self.piece = piece
        self.progress = progress
        self.shown = shown
        self.hasher = digest.hasher() if digest is not None else new_hasher("sha256")
        self.count = 0  # bytes hashed: sent, or held by the registry
        self.stream: Iterator[bytes] = iter(())
        self.carry = b""  # read from the stream, not yet sent nor hashed

    def _raw(self) -> bytes:
        for data in self.stream:
            if data:
                return bytes(data)
        return b""

    def _take(self, data: bytes) -> None:
        self.hasher.update(data)
        self.count += len(data)
        if self.size is not None and self.count > self.size:
            raise DigestMismatch(f"{self.shown}: the source has more than {self.size} bytes")

    def _close_stream(self) -> None:
        close = getattr(self.stream, "close", None)
        if close is not None:
            close()

    def _body(self, limit: int | None, sent: list[int]) -> Iterator[bytes]:
        """Up to `limit` bytes of the stream (all when None), `sent[0]` counting them."""
        while limit is None or sent[0] < limit:
            data = self.carry or self._raw()
            self.carry = b""
            if not data:
                return
            if limit is not None and sent[0] + len(data) > limit:
                data, self.carry = data[: limit - sent[0]], data[limit - sent[0] :]
            for i in range(0, len(data), SEND):
                part = data[i : i + SEND]
                self._take(part)
                sent[0] += len(part)
                yield part

    def _reopen_at(self, start: int, target: int, hasher: Any) -> None:
        """The stream again from byte 0: the first `start` bytes are dropped (`hasher` is
        their hash), those up to `target` (what the registry holds) hashed, not sent."""
        self._close_stream()
        self.stream = iter(self.open_stream())
        self.carry = b""
        pos, rest = 0, b""
        while pos < start:
            data = self._raw()
            if not data:
                raise DigestMismatch(f"{self.shown}: the source ended at byte {pos}, before {start}")
            if pos + len(data) > start:
                rest, pos = data[start - pos :], start
                break
            pos += len(data)
        self.hasher, self.count = hasher, start
        while self.count < target:
            data, rest = rest or self._raw(), b""
            if not data:
                raise DigestMismatch(
                    f"{self.shown}: the source ended at byte {self.count}, before {target}"
                )
            need = target - self.count
            self._take(data[:need])
            rest = data[need:]
        self.carry = rest

    def run(self) -> tuple[Digest, int]:
        client, shown = self.client, self.shown
        location = client._start_upload(self.repo, shown)
        done = False
        try:
            self.stream = iter(self.open_stream())
            have = 0  # bytes the registry acknowledged
            checkpoint = self.hasher.copy()  # the hash of those bytes
            failures = 0
            spent = 0.0
            while True:
                if not self.carry:
                    self.carry = self._raw()
                if not self.carry:
                    break
                length = None
                limit = self.piece
                if self.size is not None:
                    length = self.size - have if limit is None else min(limit, self.size - have)
                    limit = length
                    if length <= 0:
                        raise DigestMismatch(f"{shown}: the source has more than {self.size} bytes")
                sent = [0]
                try:
                    location, said = client._patch(
                        self.repo, location, self._body(limit, sent), have, length, shown
                    )
                except UploadBroken as exc:
                    failures += 1
                    if failures >= client.retry.attempts:
                        raise RegistryError(
                            f"{shown}: upload failed at byte {have} after {failures} tries: {exc}"
                        ) from None
                    try:
                        spent = client.retry.wait(client.retry.backoff(failures), spent)
                    except OutOfTime:
                        raise RegistryError(f"{shown}: upload failed at byte {have}: {exc}") from None
                    location, holds = client._upload_status(self.repo, location, shown)
                    if not have <= holds <= have + sent[0]:
                        raise UploadLost(
                            f"the registry holds {holds} bytes, expected {have} to {have + sent[0]}"
                        ) from None
                    # The same bytes again: what the registry holds is hashed, not sent.
                    self._reopen_at(have, holds, checkpoint.copy())
                    have = holds
                    checkpoint = self.hasher.copy()
                    continue
                failures = 0
                if said is not None and said != have + sent[0]:
                    raise UploadLost(f"the registry holds {said} bytes, {have + sent[0]} were sent")
                have += sent[0]
                checkpoint = self.hasher.copy()
                if self.progress is not None:
                    self.progress(have)
            total = self.count
            actual = Digest.from_hasher(self.hasher)
            if self.size is not None and total != self.size:
                raise DigestMismatch(f"{shown}: the source has {total} bytes, not {self.size}")
            if self.digest is not None and actual != self.digest:
                raise DigestMismatch(f"{shown}: the bytes sent hash to {actual}")
            shown = f"blob {client._display(self.repo)}@{actual}"
            client._finish_upload(self.repo, location, actual, total, shown)
            done = True
            return actual, total
        finally:
            self._close_stream()
            if not done:
                client.cancel_upload(self.repo, location)




def _range_end(text: str, empty_is_one: bool = False) -> int | None:
    """The byte count a `Range: 0-N` (or `bytes=0-N`) reply says the registry holds: N+1,
    except `0-0`, which distribution sends for an empty session too: 0 unless the caller
    knows at least one byte went in (`empty_is_one`)."""
    match = _RANGE.fullmatch(text.strip())
    if match is None:
        return None
    last = int(match.group(2))
    return last + 1 if last or empty_is_one else 0


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
