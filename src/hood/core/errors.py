"""Typed errors. The library raises these; only the CLI turns them into one line on stderr."""


class HoodError(Exception):
    """Base of every error hood reports to a user."""


class InvalidReference(HoodError):
    """An image reference that does not parse."""


class DigestMismatch(HoodError):
    """Bytes whose sha256 or size is not what they were promised to be."""


class RegistryError(HoodError):
    """A registry refused, failed, or answered with something unusable."""


class NotFound(HoodError):
    """An image, tag, blob or container that does not exist."""


class AuthError(RegistryError):
    """Credentials missing or rejected."""


class LayerError(HoodError):
    """A layer that cannot be applied safely (names the entry)."""


class StoreError(HoodError):
    """The data root is inconsistent or cannot be written."""


class ManifestError(HoodError):
    """A manifest, index or config that is malformed or unsupported."""


class PlatformError(ManifestError):
    """No manifest in an index matches the requested platform."""


class Conflict(HoodError):
    """Refused because of what exists: a name in use, an image a container needs, a running
    container asked to do what only a stopped one can (docker's 409)."""


class Cancelled(HoodError):
    """A layer's work stopped because another layer of the same transfer failed (that
    failure is the one reported)."""
