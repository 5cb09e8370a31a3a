"""What several commands need: the store for --root, a registry client for a reference."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hood.registry.client import RegistryClient
    from hood.store.images import ImageStore


def open_store(args: argparse.Namespace) -> ImageStore:
    from hood.store.images import ImageStore
    from hood.store.layout import Layout

    return ImageStore(Layout(args.root))


def insecure_registries(args: argparse.Namespace) -> list[str]:
    env = os.environ.get("HOOD_INSECURE_REGISTRIES", "")
    return [*args.insecure_registry, *(h.strip() for h in env.split(",") if h.strip())]


def registry_client(args: argparse.Namespace, host: str) -> RegistryClient:
    from hood.registry.client import RegistryClient

    return RegistryClient(host, insecure_registries=insecure_registries(args))
