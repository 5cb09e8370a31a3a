"""The push side of a registry client: blob uploads (mount, monolithic, chunked), manifests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO, NoReturn

import httpx

from hood.core.digest import Digest
from hood.core.errors import DigestMismatch, RegistryError
from hood.core.textsafe import quote_untrusted
from hood.registry.auth import repository_scope
from hood.registry.blobs import CHUNK
from hood.registry.names import check_repository


class BlobUploads:
    """Mixed into RegistryClient, whose plumbing it uses (declared below for type checkers)."""

    if TYPE_CHECKING:

        def _send(self, method: str, path: str, **kw: Any) -> httpx.Response: ...
        def _send_url(self, method: str, url: httpx.URL, **kw: Any) -> httpx.Response: ...
        def _url(self, path: str) -> httpx.URL: ...
        def _display(self, repo: str) -> str: ...
        def _manifest_ref(self, reference: str | Digest) -> tuple[str, Digest | None]: ...
        def _raise_for(
            self, response: httpx.Response, what: str, repo: str, push: bool = False
        ) -> NoReturn: ...

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

    def put_manifest(
        self, repo: str, reference: str | Digest, raw: bytes, media_type: str
    ) -> Digest:
        """Upload a manifest under a tag or its digest; returns its digest."""
        check_repository(repo)
        ref_text, want = self._manifest_ref(reference)
        shown = f"manifest {self._display(repo)}{'@' if want else ':'}{ref_text}"
        digest = Digest.of_bytes(raw, want.algorithm if want else "sha256")
        if want is not None and digest != want:
            raise DigestMismatch(f"{shown}: the bytes to push hash to {digest}")
        response = self._send(
            "PUT",
            f"/v2/{repo}/manifests/{ref_text}",
            scopes=(repository_scope(repo, "pull,push"),),
            content=raw,
            headers={"Content-Type": media_type},
        )
        with contextlib.closing(response):
            if response.status_code not in (200, 201, 202):
                self._raise_for(response, shown, repo, push=True)
            claimed = response.headers.get("docker-content-digest", "").strip()
        if claimed and claimed != str(digest):
            raise DigestMismatch(
                f"{shown}: the registry stored it as {quote_untrusted(claimed, 80)}, not {digest}"
            )
        return digest


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
