"""What several commands need: the store for --root, a registry client for a reference."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hood.cli.flags import Args
    from hood.registry.client import RegistryClient
    from hood.registry.credentials import Credentials
    from hood.store.images import ImageStore


def open_store(args: Args) -> ImageStore:
    """The store at --root. A root that is a symlink or writable by everyone is refused:
    anyone could swap what hood writes through, or plant layers in it."""
    from hood.core.fileio import check_safe_dir
    from hood.store.images import ImageStore
    from hood.store.layout import Layout

    if os.path.lexists(args.root):
        check_safe_dir(args.root)
    return ImageStore(Layout(args.root))


def insecure_registries(args: Args) -> list[str]:
    from hood.registry.tls import env_insecure_registries

    return [*args.insecure_registry, *env_insecure_registries()]


def registry_client(
    args: Args, host: str, credentials: Credentials | None = None
) -> RegistryClient:
    """A client for `host`, with `credentials` if given, else those docker's config
    holds for it. HOOD_REGISTRY_TIMEOUT (seconds) bounds each network wait,
    so a registry that stalls mid-body is retried, then given up on, that much sooner."""
    from hood.core.errors import HoodError
    from hood.registry.client import RegistryClient

    timeout_text = os.environ.get("HOOD_REGISTRY_TIMEOUT", "30")
    try:
        timeout = float(timeout_text)
    except ValueError:
        raise HoodError(
            f"HOOD_REGISTRY_TIMEOUT={timeout_text!r} is not a number of seconds"
        ) from None
    extra = {} if credentials is None else {"credentials": credentials}
    return RegistryClient(
        host,
        insecure_registries=insecure_registries(args),
        timeout=timeout,
        connect_timeout=min(timeout, 10.0),
        **extra,
    )


class RegistryClients:
    """One registry client per host for a command, closed at its end."""

    def __init__(self, args: Args) -> None:
        self.args = args
        self.clients: dict[str, object] = {}

    def __call__(self, host: str):  # type: ignore[no-untyped-def]
        if host not in self.clients:
            self.clients[host] = registry_client(self.args, host)
        return self.clients[host]

    def close(self) -> None:
        for client in self.clients.values():
            client.close()  # type: ignore[attr-defined]
