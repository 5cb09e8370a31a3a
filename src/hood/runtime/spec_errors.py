"""The errors of a container's spec, in a module of their own because every part of the
spec raises them: its options (spec), capabilities, mounts and user (exec_user)."""

from __future__ import annotations

from hood.core.errors import HoodError


class SpecError(HoodError):
    """The image config and options do not make a runnable container."""


class UserError(SpecError):
    """A --user / image User that the container's /etc/passwd or /etc/group cannot resolve."""
