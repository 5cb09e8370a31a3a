"""One registry host's HTTP plumbing, the base of RegistryClient's parts.

A connection pool per origin (the registry, its token realm, where blobs redirect), the
scheme found by the probe, every request sent with the auth flow and retried as the client's
RetryPolicy allows (429/5xx, connection errors), within the guard's deadlines; a failed
connection or an error answer becomes the HoodError that says what to do. Blob GETs and HEADs
follow redirects here too (uploads ask a blob's size, downloads its bytes), never taking
Authorization off the registry host."""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NoReturn, Self

import httpx

from hood.core.digest import Digest
from hood.core.errors import RegistryError
from hood.core.textsafe import quote_untrusted
from hood.registry import credentials as creds_mod
from hood.registry import guard, tls
from hood.registry.auth import SCOPES_EXTENSION, RegistryAuth, repository_scope
from hood.registry.bodies import ACCEPT_ENCODING, DEADLINE_EXTENSION
from hood.registry.credentials import Credentials
from hood.registry.error_replies import answer_error
from hood.registry.probe import find_scheme
from hood.registry.retry import RETRY_STATUSES, OutOfTime, RetryPolicy, retry_after
from hood.registry.transport_errors import transport_error

DEFAULT_USER_AGENT = "hood/0.1 (+https://github.com/hood)"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
_DOCKER_HUB = {"registry-1.docker.io", "index.docker.io", "docker.io"}


class _Lookup:
    def __repr__(self) -> str:
        return "LOOKUP"


LOOKUP: Any = _Lookup()  # credentials=LOOKUP: read them from docker's config when asked for


class Connection:
    """The plumbing of a RegistryClient (see hood.registry.client); thread-safe."""

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
        deadline: float | None = None,
        min_rate: float | None = None,
    ) -> None:
        """`timeout` bounds each network wait; `deadline` (seconds, per request) and
        `min_rate` (bytes per second, averaged over `timeout` seconds of waiting) default to
        HOOD_REGISTRY_DEADLINE and HOOD_REGISTRY_MIN_RATE (see hood.registry.guard)."""
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
        self._limits = guard.Limits.from_env(timeout, deadline, min_rate)
        self._lock = threading.Lock()
        self._probe_lock = threading.Lock()
        self._clients: dict[tuple[str, str, bool, str | None], httpx.Client] = {}
        self._scheme: str | None = None
        self._verify = True
        self.auth = RegistryAuth(self.host, self._load_credentials, self._fetch_token)
        self.closed = False

    # --- plumbing --------------------------------------------------------------------------
    def __enter__(self) -> Self:
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

    def _http(
        self, scheme: str, netloc: str, verify: bool = True, tls_of: str | None = None
    ) -> httpx.Client:
        """The connection pool for one origin; `tls_of`: also trust that registry's
        TLS configuration (for its token realm)."""
        key = (scheme, netloc, verify, tls_of)
        with self._lock:
            client = self._clients.get(key)
            if client is not None:
                return client
        ctx: ssl.SSLContext | bool = (
            tls.ssl_context(netloc, verify=verify, registry=tls_of) if scheme == "https" else True
        )
        client = httpx.Client(
            verify=ctx,
            timeout=self._timeout,
            headers={"User-Agent": self.user_agent, "Accept-Encoding": ACCEPT_ENCODING},
            follow_redirects=False,
            trust_env=True,
        )
        guard.guard(client, self._limits)
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

    def _transport_error(
        self, exc: Exception, url: str | httpx.URL, tls_of: str | None = None
    ) -> RegistryError:
        return transport_error(exc, url, self.host, tls_of)

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
        tls_of: str | None = None,
    ) -> httpx.Response:
        """Send with retries for 429/5xx and connection errors; returns a streamed response.

        Each try has the deadline of the client's limits for its response headers, and
        keeps it (in the response's extensions) for a body read whole with read_capped; a
        request streaming its body (an upload) has none."""
        client = self._http(
            url.scheme, url.netloc.decode(), self._verify if verify is None else verify, tls_of
        )
        replayable = content is None or isinstance(content, bytes)
        seconds = self._limits.deadline if replayable else None
        spent = 0.0
        failures = 0
        while True:
            request = client.build_request(
                method, url, headers=headers, content=content, extensions={SCOPES_EXTENSION: scopes}
            )
            at = time.monotonic() + seconds if seconds else None
            try:
                with guard.deadline(at, seconds):
                    response = client.send(
                        request, auth=self.auth if use_auth else None, stream=True
                    )
            except httpx.TransportError as exc:
                failures += 1
                retryable = replayable and retry_transport
                if not retryable or failures >= self.retry.attempts:
                    raise self._transport_error(exc, url, tls_of) from None
                try:
                    spent = self.retry.wait(self.retry.backoff(failures), spent)
                except OutOfTime:
                    raise self._transport_error(exc, url, tls_of) from None
                continue
            response.extensions[DEADLINE_EXTENSION] = (at, seconds)
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
                spent = self.retry.wait(delay, spent, before=response.close)
            except OutOfTime:
                return response

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
            tls_of=self.host,
        )

    # --- which scheme ----------------------------------------------------------------------
    def _base(self) -> str:
        with self._probe_lock:
            if self._scheme is None:
                self._scheme, self._verify = find_scheme(
                    self.host,
                    self._send_url,
                    self.auth,
                    allow_http=self._allow_http,
                    skip_verify=self._skip_verify,
                )
            return f"{self._scheme}://{self.host}"

    # --- errors ----------------------------------------------------------------------------
    def _raise_for(
        self, response: httpx.Response, what: str, repo: str, push: bool = False
    ) -> NoReturn:
        raise answer_error(response, what, self.display_host, self._display(repo), push)

    # --- bodies read whole, blob redirects -------------------------------------------------
    def _get_whole(
        self,
        send: Callable[[], httpx.Response],
        read: Callable[[httpx.Response], bytes],
        shown: str,
        repo: str,
    ) -> tuple[httpx.Response, bytes]:
        """GET something read whole (a manifest, a config): `send()` it, `read` its body,
        and when the body breaks off, ask again, as the retry policy allows (tries and total
        wait). A status other than 200 is raised as the registry's error."""
        failures = 0
        spent = 0.0
        while True:
            response = send()
            with contextlib.closing(response):
                if response.status_code != 200:
                    self._raise_for(response, shown, repo)
                try:
                    return response, read(response)
                except httpx.TransportError as exc:  # the body broke off: ask again
                    failures += 1
                    error, url = exc, response.url
            if failures >= self.retry.attempts:
                raise self._transport_error(error, url) from None
            try:
                spent = self.retry.wait(self.retry.backoff(failures), spent)
            except OutOfTime:
                raise self._transport_error(error, url) from None

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
                    f"blob {self._display(repo)}@{digest}: redirect to an unusable URL "
                    f"{quote_untrusted(location, 200)}"
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
