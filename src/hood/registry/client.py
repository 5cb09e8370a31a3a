"""A client for one registry host (Registry HTTP API v2 / OCI distribution spec).

Thread-safe: share one client between the threads of a pull. Every byte it returns is checked
(manifests against the digest asked for or `Docker-Content-Digest`); blob streams are checked by
the caller with `hood.digest.VerifyingReader`, which sees the blob from byte 0 even when the
download resumes from a partial file or after a dropped connection.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import os
import random
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

import httpx

from hood import oci
from hood.digest import Digest, InvalidDigest
from hood.errors import AuthError, DigestMismatch, ManifestError, NotFound, RegistryError
from hood.registry import credentials as creds_mod
from hood.registry import tls
from hood.registry.auth import (
    MAX_ERROR_BODY,
    SCOPES_EXTENSION,
    Challenge,
    RegistryAuth,
    error_text,
    parse_challenges,
    pick_challenge,
    read_capped,
    repository_scope,
)
from hood.registry.credentials import Credentials

DEFAULT_USER_AGENT = "hood/0.1 (+https://github.com/hood)"
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
CHUNK = 1 << 20
FSYNC_EVERY = 8 << 20
_DOCKER_HUB = {"registry-1.docker.io", "index.docker.io", "docker.io"}
_REPO = re.compile(
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
)
_TAG = re.compile(r"\w[\w.-]{0,127}")
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


class _Lookup:
    def __repr__(self) -> str:
        return "LOOKUP"


LOOKUP: Any = _Lookup()  # credentials=LOOKUP: read them from docker's config when asked for


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: `attempts` tries per request (and per stall of a blob body), waiting
    `base_delay * 2**n` (at most `max_delay`, or what `Retry-After` says up to
    `max_retry_after`) and giving up once `max_total` seconds would be spent waiting."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 20.0
    max_retry_after: float = 60.0
    max_total: float = 120.0
    jitter: float = 0.2
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    def backoff(self, failures: int) -> float:
        delay = min(self.max_delay, self.base_delay * (2 ** max(0, failures - 1)))
        return delay * (1 + random.random() * self.jitter) if self.jitter else delay


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


def retry_after(response: httpx.Response, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date)."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = datetime.now(UTC).timestamp() if now is None else now
    return max(0.0, when.timestamp() - current)


def check_repository(repo: str) -> str:
    if len(repo) > 255 or not _REPO.fullmatch(repo):
        raise RegistryError(f"invalid repository name {repo[:80]!r}")
    return repo


def _ssl_problem(exc: BaseException) -> BaseException | None:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, ssl.SSLError):
            return cur
        cur = cur.__cause__ or cur.__context__
    text = str(exc)
    return exc if "SSL" in text or "CERTIFICATE_VERIFY_FAILED" in text else None


def _is_cert_error(exc: BaseException) -> bool:
    problem = _ssl_problem(exc)
    return problem is not None and (
        isinstance(problem, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY" in str(problem)
    )


class RegistryClient:
    """One registry host: ping, login check, manifests, blobs (resumable), uploads."""

    def __init__(
        self,
        host: str,
        *,
        insecure: bool | None = None,
        insecure_registries: Sequence[str] | None = None,
        credentials: Credentials | None | Any = LOOKUP,
        user_agent: str = DEFAULT_USER_AGENT,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
    ) -> None:
        if not host or "/" in host or any(c.isspace() for c in host):
            raise RegistryError(f"invalid registry host {host!r}")
        self.host = "registry-1.docker.io" if host in ("docker.io", "index.docker.io") else host
        self.display_host = "docker.io" if self.host in _DOCKER_HUB else self.host
        listed = (
            tls.env_insecure_registries() if insecure_registries is None else insecure_registries
        )
        if insecure is None:
            self._allow_http = tls.allows_http(host, listed)
            self._skip_verify = tls.listed_insecure(host, listed)
        else:
            self._allow_http = self._skip_verify = insecure
        self._credentials = credentials
        self.user_agent = user_agent
        self.retry = retry or RetryPolicy()
        self._timeout = httpx.Timeout(timeout, connect=connect_timeout)
        self._lock = threading.Lock()
        self._probe_lock = threading.Lock()
        self._clients: dict[tuple[str, str, bool], httpx.Client] = {}
        self._scheme: str | None = None
        self._verify = True
        self.auth = RegistryAuth(self.host, self._load_credentials, self._fetch_token)
        self.closed = False

    # --- plumbing --------------------------------------------------------------------------
    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
            self.closed = True
        for c in clients:
            c.close()

    def _load_credentials(self) -> Credentials | None:
        if self._credentials is LOOKUP:
            return creds_mod.lookup(self.host)
        return self._credentials

    def _http(self, scheme: str, netloc: str, verify: bool = True) -> httpx.Client:
        key = (scheme, netloc, verify)
        with self._lock:
            client = self._clients.get(key)
            if client is not None:
                return client
        ctx: ssl.SSLContext | bool = (
            tls.ssl_context(netloc, verify=verify) if scheme == "https" else True
        )
        client = httpx.Client(
            verify=ctx,
            timeout=self._timeout,
            headers={"User-Agent": self.user_agent},
            follow_redirects=False,
            trust_env=True,
        )
        with self._lock:
            if self.closed:
                client.close()
                raise RegistryError(f"registry client for {self.host} is closed")
            existing = self._clients.setdefault(key, client)
        if existing is not client:
            client.close()
        return existing

    def _display(self, repo: str) -> str:
        return f"{self.display_host}/{repo}"

    def _transport_error(self, exc: Exception, url: str | httpx.URL) -> RegistryError:
        shown = str(url)
        netloc = httpx.URL(shown).netloc.decode() if shown else self.host
        if _is_cert_error(exc):
            problem = _ssl_problem(exc)
            detail = getattr(problem, "verify_message", "") or str(problem)
            hint_dir = tls.certs_d_base() / netloc
            return RegistryError(
                f"{netloc}: TLS handshake failed: x509: certificate signed by unknown authority "
                f"({detail}); to trust this registry put its CA certificate in {hint_dir}/ca.crt, "
                f"or, only if you trust the network, use --insecure-registry {netloc}"
            )
        if _ssl_problem(exc) is not None:
            return RegistryError(
                f"{netloc}: TLS handshake failed: {exc}; if the registry speaks plain HTTP, "
                f"use --insecure-registry {netloc}"
            )
        if isinstance(exc, httpx.TimeoutException):
            return RegistryError(f"registry {netloc} timed out ({shown}); try again later")
        if isinstance(exc, httpx.ConnectError):
            return RegistryError(f"cannot reach registry {netloc} ({shown}): {exc}")
        return RegistryError(f"registry {netloc}: connection failed ({shown}): {exc}")

    def _wait(self, delay: float, spent: float) -> float:
        """Sleep `delay` unless that would exceed the total budget; returns the new total."""
        if spent + delay > self.retry.max_total:
            raise _OutOfTime
        self.retry.sleep(delay)
        return spent + delay

    def _send_url(
        self,
        method: str,
        url: httpx.URL,
        *,
        scopes: tuple[str, ...] = (),
        headers: dict[str, str] | None = None,
        content: bytes | Iterator[bytes] | None = None,
        use_auth: bool = True,
        retry_transport: bool = True,
        verify: bool | None = None,
    ) -> httpx.Response:
        """Send with retries for 429/5xx and connection errors; returns a streamed response."""
        client = self._http(
            url.scheme, url.netloc.decode(), self._verify if verify is None else verify
        )
        replayable = content is None or isinstance(content, bytes)
        spent = 0.0
        failures = 0
        while True:
            request = client.build_request(
                method, url, headers=headers, content=content, extensions={SCOPES_EXTENSION: scopes}
            )
            try:
                response = client.send(request, auth=self.auth if use_auth else None, stream=True)
            except httpx.TransportError as exc:
                failures += 1
                retryable = replayable and retry_transport
                if not retryable or failures >= self.retry.attempts:
                    raise self._transport_error(exc, url) from None
                try:
                    spent = self._wait(self.retry.backoff(failures), spent)
                except _OutOfTime:
                    raise self._transport_error(exc, url) from None
                continue
            if response.status_code not in RETRY_STATUSES or not replayable:
                return response
            failures += 1
            if failures >= self.retry.attempts:
                return response
            hinted = retry_after(response)
            delay = self.retry.backoff(failures) if hinted is None else hinted
            if hinted is not None and hinted > self.retry.max_retry_after:
                return response  # the registry wants us gone for longer than we wait
            try:
                self._wait_closing(response, delay, spent)
                spent += delay
            except _OutOfTime:
                return response

    def _wait_closing(self, response: httpx.Response, delay: float, spent: float) -> None:
        if spent + delay > self.retry.max_total:
            raise _OutOfTime
        response.close()
        self.retry.sleep(delay)

    def _send(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return self._send_url(method, self._url(path), **kw)

    def _url(self, path: str) -> httpx.URL:
        return httpx.URL(f"{self._base()}{path}")

    def _fetch_token(self, request: httpx.Request) -> httpx.Response:
        """Send a token request (to the realm, any host) with retries; no registry auth."""
        return self._send_url(
            request.method,
            request.url,
            headers=dict(request.headers),
            content=request.content or None,
            use_auth=False,
            verify=True,
        )

    # --- which scheme ----------------------------------------------------------------------
    def _base(self) -> str:
        with self._probe_lock:
            if self._scheme is None:
                self._probe()
            return f"{self._scheme}://{self.host}"

    def _probe(self) -> None:
        """Find how to talk to the host: HTTPS, else (insecure hosts only) plain HTTP."""
        first: Exception | None = None
        attempts: list[tuple[str, bool]] = [("https", True)]
        for scheme, verify in attempts:
            url = httpx.URL(f"{scheme}://{self.host}/v2/")
            try:
                response = self._send_url(
                    "GET", url, use_auth=False, retry_transport=False, verify=verify
                )
            except RegistryError as exc:
                cause = exc.__context__ if isinstance(exc.__context__, Exception) else exc
                if first is None:
                    first = exc
                if scheme == "https" and verify and self._skip_verify and _is_cert_error(cause):
                    attempts.append(("https", False))
                elif scheme == "https" and self._allow_http and ("http", True) not in attempts:
                    attempts.append(("http", True))
                continue
            with contextlib.closing(response):
                if scheme == "http" and not _looks_like_registry(response):
                    continue
                self._accept_ping(response, url)
            self._scheme, self._verify = scheme, verify
            return
        assert first is not None
        raise first

    def _accept_ping(self, response: httpx.Response, url: httpx.URL) -> None:
        if response.status_code == 401:
            self.auth.remember(
                pick_challenge(parse_challenges(response.headers.get_list("www-authenticate")))
            )
            return
        if response.status_code == 200:
            return
        body = _read_error_body(response)
        if response.status_code == 404:
            raise RegistryError(
                f"{self.host} does not speak the registry API v2 ({url} answered 404)"
            )
        raise RegistryError(
            f"registry {self.host}: {url} answered HTTP {response.status_code}: "
            f"{error_text(body) or 'no details'}"
        )

    # --- errors ----------------------------------------------------------------------------
    def _raise_for(
        self, response: httpx.Response, what: str, repo: str, push: bool = False
    ) -> NoReturn:
        body = _read_error_body(response)
        text = error_text(body)
        status = response.status_code
        codes = _error_codes(body)
        if status == 404:
            lead = {
                "MANIFEST_UNKNOWN": "manifest unknown",
                "BLOB_UNKNOWN": "blob unknown",
                "NAME_UNKNOWN": "repository name not known to registry",
            }.get(codes[0] if codes else "", "not found")
            raise NotFound(f"{lead}: {what}" + (f" ({text})" if text and lead != text else ""))
        if status in (401, 403):
            action = "push to" if push else "pull from"
            raise AuthError(
                f"{what}: access denied ({text or ('unauthorized' if status == 401 else 'denied')}): "
                f"the repository may not exist, or you may need to `hood login {self.display_host}` "
                f"with an account allowed to {action} {self._display(repo)}"
            )
        if status == 429:
            after = retry_after(response)
            wait = f" (the registry asks to wait {after:.0f} s)" if after is not None else ""
            raise RegistryError(
                f"{what}: {self.display_host} says too many requests{wait}: "
                f"{text or 'TOOMANYREQUESTS'}; try again later or log in for a higher limit"
            )
        raise RegistryError(
            f"{what}: {self.display_host} answered HTTP {status}" + (f": {text}" if text else "")
        )

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
            body = _read_error_body(response)
            if response.status_code in (401, 403):
                raise AuthError(
                    f"login to {self.display_host} failed: {error_text(body) or 'unauthorized'}: "
                    "incorrect username or password"
                )
            raise RegistryError(
                f"login to {self.display_host}: /v2/ answered HTTP {response.status_code}: "
                f"{error_text(body) or 'no details'}"
            )

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

    def get_manifest(
        self, repo: str, reference: str | Digest, accept: str = oci.ACCEPT
    ) -> FetchedManifest:
        """The manifest or index named by tag or digest, verified.

        By digest the body must hash to it; by tag to `Docker-Content-Digest` when the registry
        sends one (else the digest is the body's sha256)."""
        check_repository(repo)
        ref_text, want = self._manifest_ref(reference)
        shown = f"{self._display(repo)}{'@' if want else ':'}{ref_text}"
        failures = 0
        while True:
            response = self._send(
                "GET",
                f"/v2/{repo}/manifests/{ref_text}",
                scopes=(repository_scope(repo),),
                headers={"Accept": accept},
            )
            with contextlib.closing(response):
                if response.status_code != 200:
                    self._raise_for(response, shown, repo)
                try:
                    raw = read_capped(response, oci.MAX_MANIFEST_SIZE, f"manifest {shown}")
                    break
                except RegistryError as exc:
                    raise ManifestError(str(exc)) from None
                except httpx.TransportError as exc:  # the body broke off: ask again
                    failures += 1
                    if failures >= self.retry.attempts:
                        raise self._transport_error(exc, response.url) from None
            self.retry.sleep(self.retry.backoff(failures))
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
                f"manifest {shown}: the registry sent an invalid Docker-Content-Digest {header[:80]!r}"
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
        response = self._send(
            "HEAD",
            f"/v2/{repo}/manifests/{ref_text}",
            scopes=(repository_scope(repo),),
            headers={"Accept": accept},
        )
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
            int(length) if length.isdigit() else None,
        )

    def _blob_request(
        self, repo: str, digest: Digest, method: str = "GET", headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """GET/HEAD a blob, following redirects; Authorization never leaves the registry host."""
        url = self._url(f"/v2/{repo}/blobs/{digest}")
        origin = (url.scheme, url.host, url.port)
        scopes = (repository_scope(repo),)
        headers = dict(headers or {})
        response = self._send_url(method, url, scopes=scopes, headers=headers)
        for _ in range(MAX_REDIRECTS):
            if response.status_code not in REDIRECT_STATUSES:
                return response
            location = response.headers.get("location", "")
            response.close()
            if not location:
                raise RegistryError(
                    f"blob {self._display(repo)}@{digest}: redirect without a Location"
                )
            url = url.join(location)
            if url.scheme not in ("http", "https") or not url.host:
                raise RegistryError(
                    f"blob {self._display(repo)}@{digest}: redirect to an unusable URL {location[:200]!r}"
                )
            same = (url.scheme, url.host, url.port) == origin
            if url.scheme == "http" and not same and not tls.allows_http(url.netloc.decode()):
                raise RegistryError(
                    f"blob {self._display(repo)}@{digest}: refusing a redirect to plain HTTP "
                    f"{url.host} (allow it with --insecure-registry {url.netloc.decode()})"
                )
            response = self._send_url(
                method,
                url,
                scopes=scopes,
                headers=headers,
                use_auth=same,
                verify=True if not same else None,
            )
        response.close()
        raise RegistryError(f"blob {self._display(repo)}@{digest}: too many redirects")

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
        self, repo: str, digest: Digest, size: int, limit: int = oci.MAX_CONFIG_SIZE
    ) -> Iterator[bytes]:
        """A small blob (a config) in memory, verified against digest and size."""
        check_repository(repo)
        shown = f"blob {self._display(repo)}@{digest}"
        if size > limit:
            raise ManifestError(f"{shown}: {size} bytes is more than the {limit} allowed")
        failures = 0
        while True:
            response = self._blob_request(repo, digest, headers={"Accept-Encoding": "identity"})
            with contextlib.closing(response):
                if response.status_code != 200:
                    self._raise_for(response, shown, repo)
                try:
                    data = _read_exactly_at_most(response, size, shown)
                    break
                except httpx.TransportError as exc:
                    failures += 1
                    if failures >= self.retry.attempts:
                        raise self._transport_error(exc, response.url) from None
            self.retry.sleep(self.retry.backoff(failures))
        if len(data) != size:
            raise DigestMismatch(f"{shown}: size mismatch: expected {size} bytes, got {len(data)}")
        digest.verify_bytes(data, what=shown)
        yield data

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
                raise DigestMismatch(f"{shown}: the registry stored it as {claimed[:80]}")
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
            raise RegistryError(f"{shown}: unusable upload Location {location[:200]!r}")
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
            raise DigestMismatch(f"{shown}: the registry stored it as {claimed[:80]}, not {digest}")
        return digest


class _OutOfTime(Exception):
    pass


class _Reopen(Exception):
    """Internal: open the blob again (without Range)."""


def _looks_like_registry(response: httpx.Response) -> bool:
    return "docker-distribution-api-version" in response.headers or response.status_code in (
        200,
        401,
    )


def _read_error_body(response: httpx.Response) -> bytes:
    try:
        return read_capped(response, MAX_ERROR_BODY, "error body")
    except (RegistryError, httpx.HTTPError, httpx.StreamError):
        return b""


def _error_codes(body: bytes) -> list[str]:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return []
    errors = doc.get("errors") if isinstance(doc, dict) else None
    if not isinstance(errors, list):
        return []
    return [str(e.get("code", "")) for e in errors if isinstance(e, dict)]


def _read_exactly_at_most(response: httpx.Response, size: int, shown: str) -> bytes:
    chunks: list[bytes] = []
    total = 0
    for chunk in response.iter_raw():
        total += len(chunk)
        if total > size:
            raise DigestMismatch(f"{shown}: more than the {size} bytes its descriptor promises")
        chunks.append(chunk)
    return b"".join(chunks)


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


class BlobReader:
    """Reads one blob from byte 0: first what `partial` already holds, then the network.

    What comes from the network is appended to `partial` (fsync'd every 8 MiB and on close). A
    dropped connection or a stall resumes with `Range: bytes=N-`; a server that ignores Range
    (200) has its first N bytes skipped; a wrong Content-Range makes it start over without
    Range. Failures without progress are bounded by the client's RetryPolicy."""

    def __init__(
        self,
        client: RegistryClient,
        repo: str,
        digest: Digest,
        size: int,
        partial: Path,
        urls: tuple[str, ...] = (),
    ) -> None:
        self.urls = urls
        if size < 0:
            raise ValueError("negative blob size")
        self._client = client
        self.repo = repo
        self.digest = digest
        self.size = size
        self.partial = partial
        self.shown = f"blob {client._display(repo)}@{digest}"
        partial.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(partial, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        have = os.fstat(self._fd).st_size
        if have > size:  # not this blob's prefix: start over
            os.ftruncate(self._fd, 0)
            have = 0
        self.resumed_from = have  # bytes replayed from an earlier attempt
        self._have = have  # bytes in the partial file == network offset
        self._pos = 0  # bytes handed to the caller
        self._response: httpx.Response | None = None
        self._iter: Iterator[bytes] | None = None
        self._buf = b""
        self._skip = 0
        self._range_broken = False
        self._unsynced = 0
        self._failures = 0
        self._spent = 0.0
        self.reconnects = 0
        self.closed = False

    # file-like surface
    def readable(self) -> bool:
        return True

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def readinto(self, buf: bytearray | memoryview) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def read(self, n: int = -1) -> bytes:
        if self.closed:
            raise ValueError("read from a closed blob stream")
        if n is None or n < 0:
            parts = []
            while chunk := self.read(CHUNK):
                parts.append(chunk)
            return b"".join(parts)
        if n == 0:
            return b""
        if self._pos < self._have:
            data = os.pread(self._fd, min(n, self._have - self._pos), self._pos)
            if not data:
                raise RegistryError(f"{self.shown}: partial file {self.partial} shrank while read")
            self._pos += len(data)
            return data
        if self._pos >= self.size:
            self._check_end()
            return b""
        data = self._from_network(min(n, self.size - self._pos))
        os.pwrite(self._fd, data, self._pos)
        self._pos += len(data)
        self._have = self._pos
        self._unsynced += len(data)
        if self._unsynced >= FSYNC_EVERY:
            os.fsync(self._fd)
            self._unsynced = 0
        return data

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._drop_response()
        try:
            if self._unsynced:
                os.fsync(self._fd)
        finally:
            os.close(self._fd)

    # network side
    def _drop_response(self) -> None:
        if self._response is not None:
            self._response.close()
        self._response, self._iter, self._buf = None, None, b""

    def _check_end(self) -> None:
        """At `size` bytes: a body that goes on is not this blob."""
        if self._iter is None:
            return
        try:
            extra = self._next_chunk_raw()
        except (httpx.TransportError, httpx.StreamError):
            extra = b""
        self._drop_response()
        if extra:
            raise DigestMismatch(
                f"{self.shown}: the registry sent more than the {self.size} bytes its descriptor promises"
            )

    def _next_chunk_raw(self) -> bytes:
        if self._buf:
            data, self._buf = self._buf, b""
            return data
        assert self._iter is not None
        for chunk in self._iter:
            if chunk:
                return chunk
        return b""

    def _from_network(self, n: int) -> bytes:
        while True:
            try:
                if self._iter is None:
                    self._open()
                data = self._next_chunk_raw()
                while data and self._skip:
                    cut = min(self._skip, len(data))
                    data, self._skip = data[cut:], self._skip - cut
                    if not data:
                        data = self._next_chunk_raw()
                if not data:
                    raise _Premature
            except _Reopen:
                continue
            except (httpx.TransportError, httpx.StreamError, _Premature) as exc:
                self._drop_response()
                self._failed(exc)
                continue
            self._failures = 0
            if len(data) > n:
                data, self._buf = data[:n], data[n:]
            return data

    def _failed(self, exc: Exception) -> None:
        self._failures += 1
        self.reconnects += 1
        retry = self._client.retry
        if self._failures >= retry.attempts:
            if isinstance(exc, _Premature):
                raise RegistryError(
                    f"{self.shown}: the registry kept ending the body early, at byte {self._have} "
                    f"of {self.size}; try again later"
                )
            raise self._client._transport_error(
                exc, self._client._url(f"/v2/{self.repo}/blobs/{self.digest}")
            ) from None
        delay = retry.backoff(self._failures)
        if self._spent + delay > retry.max_total:
            raise RegistryError(f"{self.shown}: download failed at byte {self._have}: {exc}")
        self._spent += delay
        retry.sleep(delay)

    def _open(self) -> None:
        offset = self._have
        headers = {"Accept-Encoding": "identity"}
        ranged = offset > 0 and not self._range_broken
        if ranged:
            headers["Range"] = f"bytes={offset}-"
        response = self._client._blob_request(self.repo, self.digest, headers=headers)
        status = response.status_code
        if status == 404 and self.urls:
            response.close()
            shown_urls = ", ".join(u[:200] for u in self.urls[:3])
            raise NotFound(
                f"{self.shown} is a foreign layer the registry does not have; its descriptor "
                f"points to {shown_urls}, which hood does not fetch (non-distributable content: "
                "pull it with a tool licensed to, or push the image with the layer included)"
            )
        if ranged and status == 206:
            match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
            if (
                match is None
                or int(match.group(1)) != offset
                or int(match.group(2)) != self.size - 1
                or match.group(3) not in ("*", str(self.size))
            ):
                response.close()
                self._range_broken = True
                raise _Reopen
            self._skip = 0
        elif status == 200:
            self._skip = offset
            length = response.headers.get("content-length", "")
            if length.isdigit() and int(length) > self.size:
                response.close()
                raise DigestMismatch(
                    f"{self.shown}: the registry announces {length} bytes, the descriptor {self.size}"
                )
        elif ranged and status == 416:
            response.close()
            self._range_broken = True
            raise _Reopen
        else:
            with contextlib.closing(response):
                self._client._raise_for(response, self.shown, self.repo)
        self._response = response
        self._iter = response.iter_raw()  # as received: a chunk buffer would lose bytes on error


class _Premature(Exception):
    def __str__(self) -> str:
        return "the body ended early"
