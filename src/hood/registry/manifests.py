"""Manifests: GET (verified against the digest asked for, or `Docker-Content-Digest`),
HEAD, and PUT under a tag or a digest; the part of RegistryClient that speaks
/v2/<repo>/manifests/."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass

import httpx

from hood.core import oci
from hood.core.digest import Digest, InvalidDigest
from hood.core.errors import DigestMismatch, ManifestError, RegistryError
from hood.core.textsafe import quote_untrusted
from hood.registry.auth import repository_scope
from hood.registry.bodies import read_capped
from hood.registry.connection import Connection
from hood.registry.names import check_repository

_TAG = re.compile(r"\w[\w.-]{0,127}")


@dataclass(frozen=True)
class FetchedManifest:
    raw: bytes
    content_type: str
    digest: Digest


@dataclass(frozen=True)
class ManifestHead:
    content_type: str
    digest: Digest | None
    size: int | None


class ManifestRequests(Connection):
    """Mixed into RegistryClient."""

    def _manifest_ref(self, reference: str | Digest) -> tuple[str, Digest | None]:
        if isinstance(reference, Digest):
            return str(reference), reference
        if ":" in reference:
            try:
                d = Digest.parse(reference)
            except InvalidDigest as exc:
                raise RegistryError(str(exc)) from None
            return str(d), d
        if not _TAG.fullmatch(reference):
            raise RegistryError(f"invalid tag {reference[:80]!r}")
        return reference, None

    def _send_manifest_request(
        self, method: str, repo: str, ref_text: str, accept: str
    ) -> httpx.Response:
        """One GET or HEAD of /v2/<repo>/manifests/<ref>, pull-scoped, accepting `accept`."""
        return self._send(
            method,
            f"/v2/{repo}/manifests/{ref_text}",
            scopes=(repository_scope(repo),),
            headers={"Accept": accept},
        )

    def get_manifest(
        self, repo: str, reference: str | Digest, accept: str = oci.ACCEPT
    ) -> FetchedManifest:
        """The manifest or index named by tag or digest, verified.

        By digest the body must hash to it; by tag to `Docker-Content-Digest` when the registry
        sends one (else the digest is the body's sha256)."""
        check_repository(repo)
        ref_text, want = self._manifest_ref(reference)
        shown = f"{self._display(repo)}{'@' if want else ':'}{ref_text}"

        def read(response: httpx.Response) -> bytes:
            try:
                return read_capped(response, oci.MAX_MANIFEST_SIZE, f"manifest {shown}")
            except httpx.TransportError:
                raise
            except RegistryError as exc:
                raise ManifestError(str(exc)) from None

        response, raw = self._get_whole(
            lambda: self._send_manifest_request("GET", repo, ref_text, accept), read, shown, repo
        )
        content_type = response.headers.get("content-type", "")
        if want is not None:
            want.verify_bytes(raw, what=f"manifest {shown}")
            return FetchedManifest(raw, content_type, want)
        header = response.headers.get("docker-content-digest", "").strip()
        if not header:
            return FetchedManifest(raw, content_type, Digest.of_bytes(raw))
        try:
            claimed = Digest.parse(header)
        except InvalidDigest:
            raise DigestMismatch(
                f"manifest {shown}: the registry sent an invalid Docker-Content-Digest "
                f"{quote_untrusted(header, 80)}"
            ) from None
        claimed.verify_bytes(raw, what=f"manifest {shown} (against Docker-Content-Digest)")
        return FetchedManifest(raw, content_type, claimed)

    def head_manifest(
        self, repo: str, reference: str | Digest, accept: str = oci.ACCEPT
    ) -> ManifestHead:
        """What the registry says about a manifest without fetching it; NotFound if absent."""
        check_repository(repo)
        ref_text, want = self._manifest_ref(reference)
        shown = f"{self._display(repo)}{'@' if want else ':'}{ref_text}"
        response = self._send_manifest_request("HEAD", repo, ref_text, accept)
        with contextlib.closing(response):
            if response.status_code != 200:
                self._raise_for(response, shown, repo)
        digest: Digest | None = None
        with contextlib.suppress(InvalidDigest):
            digest = Digest.parse(response.headers.get("docker-content-digest", "").strip())
        if want is not None and digest is not None and digest != want:
            raise DigestMismatch(f"manifest {shown}: the registry names it {digest}")
        length = response.headers.get("content-length", "")
        return ManifestHead(
            response.headers.get("content-type", ""),
            digest or want,
            int(length) if length.isascii() and length.isdigit() else None,
        )

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
