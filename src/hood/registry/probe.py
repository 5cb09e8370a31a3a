"""How to talk to a registry host: HTTPS, else (hosts listed insecure only) HTTPS without
verifying the certificate, or plain HTTP.

`GET /v2/` is asked of each in turn; a 200 or 401 (whose challenge the auth flow
remembers) settles it. What answered plain HTTP without being a registry, or a host that
does not speak the API v2, is said so rather than as a connection failure."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import httpx

from hood.core.errors import RegistryError
from hood.core.textsafe import quote_untrusted
from hood.registry.auth import RegistryAuth, error_text, parse_challenges, pick_challenge
from hood.registry.error_replies import read_error_body
from hood.registry.transport_errors import is_cert_error

Send = Callable[..., httpx.Response]  # the client's _send_url


def find_scheme(
    host: str, send: Send, auth: RegistryAuth, *, allow_http: bool, skip_verify: bool
) -> tuple[str, bool]:
    """The scheme for `host` and whether to verify its certificate; raises the failure
    that says most when none works."""
    first: Exception | None = None
    first_was_tls = False  # HTTPS got as far as a certificate: the host speaks TLS
    not_registry: RegistryError | None = None  # what answered over HTTP, if not a registry
    attempts: list[tuple[str, bool]] = [("https", True)]
    for scheme, verify in attempts:
        url = httpx.URL(f"{scheme}://{host}/v2/")
        try:
            response = send("GET", url, use_auth=False, retry_transport=False, verify=verify)
        except RegistryError as exc:
            cause = exc.__context__ if isinstance(exc.__context__, Exception) else exc
            if first is None:
                first, first_was_tls = exc, is_cert_error(cause)
            if scheme == "https" and verify and skip_verify and is_cert_error(cause):
                attempts.append(("https", False))
            elif scheme == "https" and allow_http and ("http", True) not in attempts:
                attempts.append(("http", True))
            continue
        with contextlib.closing(response):
            if scheme == "http" and not _looks_like_registry(response):
                not_registry = _not_a_registry(host, response, url)
                continue
            _accept_ping(host, auth, response, url)
        return scheme, verify
    # HTTPS failed short of a certificate (no TLS there) and something answered plain
    # HTTP: that says more than the TLS failure. A TLS server's answer to plain HTTP (a
    # 400) says nothing the certificate error does not.
    if not_registry is not None and not first_was_tls:
        raise not_registry
    assert first is not None
    raise first


def _looks_like_registry(response: httpx.Response) -> bool:
    return "docker-distribution-api-version" in response.headers or response.status_code in (
        200,
        401,
    )


def _not_a_registry(host: str, response: httpx.Response, url: httpx.URL) -> RegistryError:
    body = read_error_body(response)
    server = response.headers.get("server", "")
    said = []
    if server:
        said.append(f"Server {quote_untrusted(server, 80)}")
    if body:
        said.append(f"body {error_text(body)}")
    return RegistryError(
        f"{host} does not look like a registry: {url} answered HTTP "
        f"{response.status_code} without the Docker-Distribution-API-Version header"
        + (f" ({', '.join(said)})" if said else "")
        + "; check the host and port"
    )


def _accept_ping(host: str, auth: RegistryAuth, response: httpx.Response, url: httpx.URL) -> None:
    if response.status_code == 401:
        auth.remember(
            pick_challenge(parse_challenges(response.headers.get_list("www-authenticate")))
        )
        return
    if response.status_code == 200:
        return
    body = read_error_body(response)
    if response.status_code == 404:
        raise RegistryError(
            f"{host} does not speak the registry API v2 ({url} answered 404"
            + (f": {text}" if (text := error_text(body)) else "")
            + ")"
        )
    raise RegistryError(
        f"registry {host}: {url} answered HTTP {response.status_code}: "
        f"{error_text(body) or 'no details'}"
    )
