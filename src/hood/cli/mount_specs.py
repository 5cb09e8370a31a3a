"""-v and --mount read as docker's CLI reads them: HOST-DIR:DIR binds, named and anonymous
volumes, and --mount's csv (bind, volume or tmpfs) with the HostConfig.Mounts entry docker
records for it.

Imported only when -v names a volume or --mount is given: `hood run` without them never
loads it."""

from __future__ import annotations

import os
import posixpath

from hood.cli.flag_values import ram_in_bytes
from hood.core.errors import HoodError
from hood.runtime.mount_spec import Bind, VolumeRequest, tmpfs_data
from hood.store.volumes import check_name

_VOLUME_MODES = {"ro", "rw", "z", "Z", "nocopy", "private", "rprivate", "shared", "rshared",
                 "slave", "rslave"}  # fmt: skip


def parse_volume(text: str) -> Bind | VolumeRequest:
    """-v: HOST-DIR:DIR[:MODE] (a bind), NAME:DIR[:MODE] (a named volume) or DIR (an
    anonymous volume), as docker's Linux parser splits them."""
    parts = text.split(":")
    if len(parts) == 1:
        target = parts[0]
        if not target.startswith("/"):
            raise HoodError(
                f"invalid mount config for type \"volume\": invalid mount path: '{target}'"
                " mount path must be absolute"
            )
        return VolumeRequest("volume", "", posixpath.normpath(target))
    if len(parts) > 3 or not parts[0] or not parts[1]:
        raise HoodError(f"invalid volume specification: '{text}'")
    source, target = parts[0], parts[1]
    mode = parts[2] if len(parts) == 3 else ""
    if source.startswith("/"):
        return Bind.parse(text)
    modes = set(filter(None, mode.split(",")))
    if modes - _VOLUME_MODES or ({"ro", "rw"} <= modes):
        raise HoodError(f"invalid mode: {mode}")
    if not target.startswith("/"):
        raise HoodError(
            f"invalid mount config for type \"volume\": invalid mount path: '{target}'"
            " mount path must be absolute"
        )
    check_name(source)
    return VolumeRequest(
        "volume", source, posixpath.normpath(target), "ro" in modes, "nocopy" in modes
    )


# --- --mount ---------------------------------------------------------------------------------


def parse_mount(text: str) -> VolumeRequest:
    """--mount type=bind|volume|tmpfs,source=…,target=…[,readonly][,…] (docker's csv).
    The HostConfig.Mounts entry docker records rides along as `spec`."""
    m = _MountFields()
    for field in filter(None, text.split(",")):
        m.read(field)
    where = _check_type_and_target(m.kind, m.target)
    spec: dict = {"Type": m.kind}
    if m.source:
        spec["Source"] = m.source
    spec["Target"] = m.target
    if m.readonly:
        spec["ReadOnly"] = True
    source, data = m.source, ""
    if m.kind == "bind":
        source = _bind_source(m, spec, where)
    elif m.kind == "volume":
        _volume_options(m, spec)
    else:
        data = _tmpfs_options(m, spec, where)
    return VolumeRequest(
        m.kind, source, posixpath.normpath(m.target), m.readonly, m.nocopy, data, spec
    )


# The fields that may come without a value (a bool's true).
_BARE_FIELDS = ("readonly", "ro", "volume-nocopy", "bind-nonrecursive")


class _MountFields:
    """--mount's fields as read so far: docker's defaults until a field says otherwise."""

    def __init__(self) -> None:
        self.kind, self.source, self.target = "volume", "", ""
        self.readonly, self.nocopy = False, False
        self.size: int | None = None
        self.mode: int | None = None
        self.propagation = ""
        self.labels: dict[str, str] = {}

    def read(self, field: str) -> None:
        """One KEY=VALUE (or bare KEY) field of the csv."""
        key, eq, value = field.partition("=")
        key = key.strip().lower()
        if not eq and key not in _BARE_FIELDS:
            raise HoodError(f"invalid field '{field}' must be a key=value pair")
        if key == "type":
            self.kind = value
        elif key in ("source", "src"):
            self.source = value
        elif key in ("target", "dst", "destination"):
            self.target = value
        elif key in ("readonly", "ro"):
            self.readonly = _bool(key, value if eq else None)
        elif key == "volume-nocopy":
            self.nocopy = _bool(key, value if eq else None)
        elif key == "volume-label":
            k, _, v = value.partition("=")
            self.labels[k] = v
        elif key == "tmpfs-size":
            try:
                self.size = ram_in_bytes(value)
            except ValueError as exc:
                raise HoodError(f"invalid value for {key}: {exc}") from None
        elif key == "tmpfs-mode":
            try:
                self.mode = int(value, 8)
            except ValueError:
                raise HoodError(f"invalid value for {key}: {value}") from None
        elif key == "bind-propagation":
            self.propagation = value
        elif key in ("consistency", "bind-nonrecursive", "volume-driver", "volume-opt"):
            if key == "volume-driver" and value != "local":
                raise HoodError(f"volume driver {value!r}: only the local driver is supported")
        else:
            raise HoodError(f"unexpected key '{key}' in '{field}'")


def _bool(key: str, value: str | None) -> bool:
    if value is None:
        return True
    low = value.lower()
    if low in ("1", "true", "t"):
        return True
    if low in ("0", "false", "f"):
        return False
    raise HoodError(f"invalid value for {key}: {value}")


def _check_type_and_target(kind: str, target: str) -> str:
    """A known type and an absolute target; the prefix of the type's errors."""
    if kind not in ("bind", "volume", "tmpfs"):
        if not kind:
            raise HoodError("type is required")
        raise HoodError(f'invalid mount config for type "{kind}": mount type unknown')
    if not target:
        raise HoodError("target is required")
    where = f'invalid mount config for type "{kind}"'
    if not target.startswith("/"):
        raise HoodError(f"{where}: invalid mount path: '{target}' mount path must be absolute")
    return where


def _bind_source(m: _MountFields, spec: dict, where: str) -> str:
    """A bind's source, which must exist; its propagation in the spec."""
    source = m.source
    if not source:
        raise HoodError(f"{where}: field Source must not be empty")
    if not source.startswith("/"):
        raise HoodError(f"{where}: invalid mount path: '{source}' mount path must be absolute")
    if not os.path.exists(source):
        raise HoodError(f"{where}: bind source path does not exist: {source}")
    if m.propagation:
        spec["BindOptions"] = {"Propagation": m.propagation}
    return posixpath.normpath(source)


def _volume_options(m: _MountFields, spec: dict) -> None:
    """A volume's name checked; its NoCopy and Labels in the spec."""
    if m.source:
        check_name(m.source)
    options: dict = {}
    if m.nocopy:
        options["NoCopy"] = True
    if m.labels:
        options["Labels"] = m.labels
    if options:
        spec["VolumeOptions"] = options


def _tmpfs_options(m: _MountFields, spec: dict, where: str) -> str:
    """A tmpfs's size and mode in the spec; the mount data they make."""
    if m.source:
        raise HoodError(f"{where}: field Source must not be specified")
    tmpfs: dict = {}
    if m.size is not None:
        tmpfs["SizeBytes"] = m.size
    if m.mode is not None:
        tmpfs["Mode"] = m.mode
    if tmpfs:
        spec["TmpfsOptions"] = tmpfs
    return tmpfs_data(m.readonly, m.size, m.mode)
