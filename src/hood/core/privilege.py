"""What this process may do on the host, which `os.geteuid() == 0` alone no longer says once
a rootless hood has entered its user namespace (where it is uid 0 too).

A rootless user with subordinate ids (/etc/subuid, /etc/subgid) has every hood command run
inside a user namespace mapping 0 to the user and 1..N to those ids, as podman does: layers
are extracted there with their owners, and every later command reads, checks and removes
them there. Inside, hood may chown to any mapped id, and nothing more: no trusted.*
xattrs, no device nodes, no cgroups, no /var/lib/hood."""

from __future__ import annotations

import os

_mapped_ids = 0  # ids the user namespace we entered maps (0: we entered none)
_host_uid = -1  # our uid on the host, once we are uid 0 of that namespace


def entered_user_namespace(mapped_ids: int, host_uid: int) -> None:
    """This process now lives in a user namespace that maps `mapped_ids` ids from 0, 0
    being `host_uid` on the host."""
    global _mapped_ids, _host_uid
    _mapped_ids, _host_uid = mapped_ids, host_uid


def host_uid() -> int:
    """Our uid as the host sees it (for messages about host files and cgroups)."""
    return _host_uid if _mapped_ids else os.geteuid()


def mapped_ids() -> int:
    """How many ids our user namespace maps (0: we entered none)."""
    return _mapped_ids


def host_root() -> bool:
    """Root on the host: trusted.* xattrs, device nodes, cgroups, the system data root."""
    return _mapped_ids == 0 and os.geteuid() == 0


def can_chown() -> bool:
    """Files can be given the owners a layer names: as host root, or in a user namespace
    that maps more than our own id (owners beyond its range are refused, one by one)."""
    return host_root() or _mapped_ids > 1
