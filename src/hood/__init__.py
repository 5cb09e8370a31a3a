"""hood: Docker's image machinery without the daemon.

The Python API (see README, "Python API"): `hood.Store(root)` with pull, images, image,
tag, remove, inspect, digests, unpack and run; typed errors below `hood.HoodError`.
`Store` and its value types load on first use: `hood run` imports this package too."""

from hood.core.errors import (
    AuthError,
    Conflict,
    DigestMismatch,
    HoodError,
    InvalidReference,
    LayerError,
    ManifestError,
    NotFound,
    PlatformError,
    RegistryError,
    StoreError,
)
from hood.core.version import VERSION as __version__  # noqa: E402

__all__ = [
    "AuthError",
    "Conflict",
    "DigestMismatch",
    "HoodError",
    "Image",
    "InvalidReference",
    "Layer",
    "LayerError",
    "ManifestError",
    "NotFound",
    "PlatformError",
    "PullEvent",
    "RegistryError",
    "RunResult",
    "Store",
    "StoreError",
    "__version__",
]

_API = ("Image", "Layer", "PullEvent", "RunResult", "Store")


def __getattr__(name: str) -> object:
    if name in _API:
        from hood import api

        return getattr(api, name)
    raise AttributeError(f"module 'hood' has no attribute {name!r}")
