"""Registry clients as hood's commands and API open them: credentials from docker's config
(or given), TLS from certs.d, plain HTTP for loopback and the insecure registries listed,
HOOD_REGISTRY_TIMEOUT for each network wait."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from hood.core.errors import HoodError

if TYPE_CHECKING:
    from hood.registry.client import RegistryClient
    from hood.registry.credentials import Credentials


def registry_timeout() -> float:
    """HOOD_REGISTRY_TIMEOUT (seconds, default 30)."""
    text = os.environ.get("HOOD_REGISTRY_TIMEOUT", "30")
    try:
        return float(text)
    except ValueError:
        raise HoodError(f"HOOD_REGISTRY_TIMEOUT={text!r} is not a number of seconds") from None


def open_registry(
    host: str,
    *,
    insecure_registries: Iterable[str] = (),
    credentials: Credentials | None = None,
    timeout: float | None = None,
) -> RegistryClient:
    """A client for `host` (a context manager), with `credentials` if given, else those
    docker's config holds for it."""
    from hood.registry.client import RegistryClient
    from hood.registry.tls import env_insecure_registries

    wait = registry_timeout() if timeout is None else timeout
    extra = {} if credentials is None else {"credentials": credentials}
    return RegistryClient(
        host,
        insecure_registries=[*insecure_registries, *env_insecure_registries()],
        timeout=wait,
        connect_timeout=min(wait, 10.0),
        **extra,
    )
