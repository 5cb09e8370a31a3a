"""Platforms (os/arch[/variant]) as containerd normalises and matches them: the one matcher
that pull (an index's entries) and run (a stored image's config) both use."""

from __future__ import annotations

import os

from hood.core.errors import PlatformError
from hood.core.lean import Frozen

# What `uname -m` says, as a Go GOARCH (and variant).
_MACHINE = {
    "x86_64": ("amd64", ""),
    "amd64": ("amd64", ""),
    "aarch64": ("arm64", ""),
    "arm64": ("arm64", ""),
    "i386": ("386", ""),
    "i686": ("386", ""),
    "armv7l": ("arm", "v7"),
    "armv6l": ("arm", "v6"),
    "ppc64le": ("ppc64le", ""),
    "s390x": ("s390x", ""),
    "riscv64": ("riscv64", ""),
}


class Platform(Frozen):
    __slots__ = ("os", "architecture", "variant", "os_version")
    os: str
    architecture: str
    variant: str
    os_version: str

    def __init__(
        self, os: str, architecture: str, variant: str = "", os_version: str = ""  # noqa: A002
    ) -> None:
        self._init(os=os, architecture=architecture, variant=variant, os_version=os_version)

    @classmethod
    def parse(cls, text: str) -> Platform:
        parts = text.lower().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise PlatformError(f"invalid platform {text!r}: expected os/arch[/variant]")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else "").normalized()

    @classmethod
    def host(cls) -> Platform:
        machine = os.uname().machine.lower()
        arch, variant = _MACHINE.get(machine, (machine, ""))
        return cls("linux", arch, variant).normalized()

    def normalized(self) -> Platform:
        """containerd's platforms.Normalize: aarch64→arm64(v8), x86_64→amd64, armhf→arm/v7."""
        arch, variant = self.architecture.lower(), self.variant.lower()
        if arch in ("aarch64", "arm64"):
            arch = "arm64"
            variant = "" if variant in ("8", "v8") else variant
        elif arch in ("x86_64", "x86-64", "amd64"):
            arch = "amd64"
            variant = "" if variant == "v1" else variant
        elif arch in ("i386", "i686"):
            arch = "386"
        elif arch == "armhf":
            arch, variant = "arm", "v7"
        elif arch == "armel":
            arch, variant = "arm", "v6"
        elif arch == "arm":
            if variant in ("", "7"):
                variant = "v7"
            elif variant in ("5", "6", "8"):
                variant = "v" + variant
        return Platform(self.os.lower(), arch, variant, self.os_version)

    def matches(self, other: Platform) -> bool:
        """Does `other` (an index entry's, or an image's) satisfy this requested platform?
        A request without a variant takes any variant."""
        want, have = self.normalized(), other.normalized()
        if want.os != have.os or want.architecture != have.architecture:
            return False
        return not want.variant or want.variant == have.variant

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)
