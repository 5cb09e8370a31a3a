"""TLS settings per registry host, as docker reads them, and which hosts may use plain HTTP.

CAs and client certificates come from `/etc/docker/certs.d/HOST[:PORT]/`: every `*.crt` is a
CA trusted (in addition to the system's) for that host only, and each `NAME.cert` with its
`NAME.key` is a client certificate. The environment variable `HOOD_CERTS_D` replaces the
`/etc/docker/certs.d` base directory (tests use it; so can users without root).

Plain HTTP is allowed only for loopback hosts (127.0.0.0/8, ::1, localhost) and for hosts in
`--insecure-registry` / `HOOD_INSECURE_REGISTRIES` (comma-separated `HOST[:PORT]` or CIDR). For
those, as docker does, HTTPS is tried first and HTTP is the fallback.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
import threading
from collections.abc import Iterable
from pathlib import Path

from hood.core.errors import RegistryError

DEFAULT_CERTS_D = "/etc/docker/certs.d"
_cache: dict[tuple[str, bool], ssl.SSLContext] = {}
_cache_lock = threading.Lock()


def certs_d_base() -> Path:
    return Path(os.environ.get("HOOD_CERTS_D") or DEFAULT_CERTS_D)


def certs_dir(host: str) -> Path:
    """`/etc/docker/certs.d/HOST[:PORT]` for `host` (the name as the user wrote it)."""
    if "/" in host or host in ("", ".", ".."):
        raise RegistryError(f"invalid registry host {host!r}")
    return certs_d_base() / host


def split_host(host: str) -> tuple[str, int | None]:
    """`[::1]:5000` → ("::1", 5000); `example.com` → ("example.com", None)."""
    if host.startswith("["):
        end = host.find("]")
        name, rest = host[1:end], host[end + 1 :]
        port = rest[1:] if rest.startswith(":") else ""
    else:
        name, _, port = host.rpartition(":") if host.count(":") == 1 else (host, "", "")
    return name, int(port) if port.isdigit() else None


def is_loopback(host: str) -> bool:
    name, _ = split_host(host)
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def env_insecure_registries() -> list[str]:
    return [
        h.strip() for h in os.environ.get("HOOD_INSECURE_REGISTRIES", "").split(",") if h.strip()
    ]


def listed_insecure(host: str, insecure_registries: Iterable[str]) -> bool:
    """Is `host` named in the list (exactly, by its name without port, or by a CIDR)?"""
    name, _ = split_host(host)
    try:
        addr = ipaddress.ip_address(name)
    except ValueError:
        addr = None
    for entry in insecure_registries:
        entry = entry.strip().removeprefix("http://").removeprefix("https://").rstrip("/")
        if not entry:
            continue
        if entry in (host, name):
            return True
        if addr is not None and "/" in entry:
            try:
                if addr in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
    return False


def allows_http(host: str, insecure_registries: Iterable[str] | None = None) -> bool:
    """May `host` be reached over plain HTTP (after HTTPS failed)?"""
    listed = env_insecure_registries() if insecure_registries is None else insecure_registries
    return is_loopback(host) or listed_insecure(host, listed)


def ssl_context(host: str, *, verify: bool = True, registry: str | None = None) -> ssl.SSLContext:
    """A client context for `host`: system CAs plus the host's certs.d CAs and client cert.

    With `registry` (`host` is that registry's token realm), the registry's certs.d is
    loaded too, its client certificate first: as docker does, the realm is reached with the
    registry's TLS configuration, so a CA put in certs.d/REGISTRY/ serves its token
    service on another host or port as well."""
    key = (f"{certs_d_base()}|{host}|{registry or ''}", verify)
    with _cache_lock:
        ctx = _cache.get(key)
    if ctx is not None:
        return ctx
    ctx = ssl.create_default_context()
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    # The last client certificate loaded is the one used: the registry's wins.
    _load_certs_d(ctx, host)
    if registry and registry != host:
        _load_certs_d(ctx, registry)
    with _cache_lock:
        _cache.setdefault(key, ctx)
        return _cache[key]


def _load_certs_d(ctx: ssl.SSLContext, host: str) -> None:
    directory = certs_dir(host)
    try:
        names = sorted(os.listdir(directory))
    except (FileNotFoundError, NotADirectoryError):
        names = []
    except OSError as exc:
        raise RegistryError(f"cannot read {directory}: {exc.strerror}") from None
    for name in names:
        path = directory / name
        if name.endswith(".crt"):
            try:
                ctx.load_verify_locations(cafile=str(path))
            except (ssl.SSLError, OSError) as exc:
                raise RegistryError(f"{host}: cannot load CA certificate {path}: {exc}") from None
        elif name.endswith(".cert"):
            keyfile = directory / (name[: -len(".cert")] + ".key")
            if not keyfile.exists():
                raise RegistryError(
                    f"{host}: client certificate {path} has no matching key {keyfile.name}"
                )
            try:
                ctx.load_cert_chain(str(path), str(keyfile))
            except (ssl.SSLError, OSError) as exc:
                raise RegistryError(
                    f"{host}: cannot load client certificate {path}: {exc}"
                ) from None
        elif name.endswith(".key"):
            certfile = directory / (name[: -len(".key")] + ".cert")
            if not certfile.exists():
                raise RegistryError(
                    f"{host}: client key {path} has no matching certificate {certfile.name}"
                )


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()
