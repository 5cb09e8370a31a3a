"""What a connection that failed means, told so a user can act on it.

An untrusted certificate names the file to put the registry's CA in; a TLS failure that is
no certificate problem hints at a registry speaking plain HTTP; timeouts (and the guard's
too-slow verdicts) and unreachable hosts are told apart. The scheme probe also asks whether a
failure was a certificate's, to decide whether to try again without verification."""

from __future__ import annotations

import ssl

import httpx

from hood.core.errors import RegistryError
from hood.registry import guard, tls


def ssl_problem(exc: BaseException) -> BaseException | None:
    """The ssl.SSLError behind `exc` (its causes followed), or `exc` if its text says SSL."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, ssl.SSLError):
            return cur
        cur = cur.__cause__ or cur.__context__
    text = str(exc)
    return exc if "SSL" in text or "CERTIFICATE_VERIFY_FAILED" in text else None


def is_cert_error(exc: BaseException) -> bool:
    problem = ssl_problem(exc)
    return problem is not None and (
        isinstance(problem, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY" in str(problem)
    )


def transport_error(
    exc: Exception, url: str | httpx.URL, host: str, tls_of: str | None = None
) -> RegistryError:
    """The RegistryError for a request to `url` (of registry `host`) that failed with `exc`;
    `tls_of`: the registry whose TLS configuration the request used (for a token realm)."""
    shown = str(url)
    netloc = httpx.URL(shown).netloc.decode() if shown else host
    if is_cert_error(exc):
        problem = ssl_problem(exc)
        detail = getattr(problem, "verify_message", "") or str(problem)
        hint_dir = tls.certs_d_base() / (tls_of or netloc)
        return RegistryError(
            f"{netloc}: TLS handshake failed: x509: certificate signed by unknown authority "
            f"({detail}); to trust this registry put its CA certificate in {hint_dir}/ca.crt, "
            f"or, only if you trust the network, use --insecure-registry {netloc}"
        )
    if ssl_problem(exc) is not None:
        return RegistryError(
            f"{netloc}: TLS handshake failed: {exc}; if the registry speaks plain HTTP, "
            f"use --insecure-registry {netloc}"
        )
    if isinstance(exc, httpx.TimeoutException):
        why = f": {exc}" if isinstance(exc.__cause__, guard.TooSlow) else ""
        return RegistryError(f"registry {netloc} timed out ({shown}){why}; try again later")
    if isinstance(exc, httpx.ConnectError):
        return RegistryError(f"cannot reach registry {netloc} ({shown}): {exc}")
    return RegistryError(f"registry {netloc}: connection failed ({shown}): {exc}")
