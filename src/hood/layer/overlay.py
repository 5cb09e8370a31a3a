"""How overlay2 layers mark what they delete: whiteouts and opaque directories."""

from __future__ import annotations

WHITEOUT_PREFIX = b".wh."
WHITEOUT_META_PREFIX = b".wh..wh."
WHITEOUT_OPAQUE = b".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
# Without root, trusted.* cannot be set: the opaque marker goes in the user namespace,
# which overlayfs reads instead when mounted with `userxattr` (Linux 5.11+).
USER_OPAQUE_XATTR = "user.overlay.opaque"
OPAQUE_XATTRS = (OPAQUE_XATTR, USER_OPAQUE_XATTR)
# overlayfs' own xattrs (opaque, redirect, metacopy...): never taken from a tar.
OVERLAY_XATTR_PREFIXES = ("trusted.overlay.", "user.overlay.")
