"""What a container mounts, as asked for and as stored in its spec: -v host binds (`Bind`),
volumes and --mount (`VolumeRequest` before the store places them, `MountPoint` after),
--tmpfs options, and the order mounts go in."""

from __future__ import annotations

import posixpath

from hood.core.lean import Frozen, Record
from hood.runtime.spec_errors import SpecError


class Bind(Frozen):
    __slots__ = ("source", "target", "readonly")

    def __init__(self, source: str, target: str, readonly: bool = False) -> None:
        self._init(source=source, target=target, readonly=readonly)

    @classmethod
    def parse(cls, text: str) -> Bind:
        parts = text.split(":")
        if len(parts) == 2:
            src, dst, mode = parts[0], parts[1], ""
        elif len(parts) == 3:
            src, dst, mode = parts
        else:
            raise SpecError(f"invalid volume specification: '{text}'")
        if not src.startswith("/"):
            raise SpecError(
                f"invalid volume specification: '{text}': named volumes are not supported,"
                " give an absolute host path"
            )
        if not dst.startswith("/"):
            raise SpecError(f"invalid volume specification: '{text}'")
        modes = set(filter(None, mode.split(",")))
        if modes - {"ro", "rw", "z", "Z", "rprivate", "private"}:
            raise SpecError(f"invalid mode: {mode}")
        return cls(posixpath.normpath(src), posixpath.normpath(dst), "ro" in modes)


class MountPoint(Frozen):
    """A volume or a --mount in the container: `kind` bind|volume|tmpfs; `source` the host
    path (a volume's _data); `copy`: a volume the image's content at `target` fills when it
    is empty, as docker's; `data`: a tmpfs's mount options."""

    __slots__ = ("kind", "source", "target", "readonly", "copy", "data")

    def __init__(
        self,
        kind: str,
        source: str,
        target: str,
        readonly: bool = False,
        copy: bool = False,
        data: str = "",
    ) -> None:
        self._init(kind=kind, source=source, target=target, readonly=readonly, copy=copy, data=data)

    def to_json(self) -> list:
        return [self.kind, self.source, self.target, self.readonly, self.copy, self.data]


class VolumeRequest(Record):
    """A volume or mount the command line asks for, before the store gives it a place:
    `kind` volume|bind|tmpfs; `source` a volume's name ("" for an anonymous one) or a host
    path; `spec` the HostConfig.Mounts entry of a --mount (None for -v)."""

    __slots__ = ("kind", "source", "target", "readonly", "nocopy", "data", "spec")

    def __init__(
        self,
        kind: str,
        source: str,
        target: str,
        readonly: bool = False,
        nocopy: bool = False,
        data: str = "",
        spec: dict | None = None,
    ) -> None:
        self.kind = kind
        self.source = source
        self.target = target
        self.readonly = readonly
        self.nocopy = nocopy
        self.data = data
        self.spec = spec


def tmpfs_data(readonly: bool, size: int | None, mode: int | None) -> str:
    """docker's ConvertTmpfsOptions: ro, mode=OCTAL, size with the largest exact suffix."""
    opts = ["ro"] if readonly else []
    if mode:
        opts.append(f"mode={mode:o}")
    if size:
        suffix = ""
        for letter, divisor in (("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)):
            if size % divisor == 0:
                size, suffix = size // divisor, letter
                break
        opts.append(f"size={size}{suffix}")
    return ",".join(opts)


def depth(path: str) -> int:
    """How deep a mount's target is: docker mounts parents before what goes inside them."""
    return len([p for p in path.split("/") if p])
