"""The values of `run`'s less common flags, read as docker's CLI reads them: -v with volume
names, --mount, --ulimit, --device, --label-file, --add-host, --attach.

Imported only when one of those flags is given: `hood run` without them never loads it."""

from __future__ import annotations

import os
import posixpath

from hood.core.errors import HoodError
from hood.runtime.mount_spec import Bind, VolumeRequest, tmpfs_data
from hood.runtime.spec import ULIMITS

_NAME_FIRST = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_NAME_CHARS = _NAME_FIRST | frozenset("_.-")


def valid_volume_name(name: str) -> bool:
    """The local driver's [a-zA-Z0-9][a-zA-Z0-9_.-]+ (two characters at least)."""
    return len(name) >= 2 and name[0] in _NAME_FIRST and _NAME_CHARS.issuperset(name)


def check_volume_name(name: str) -> None:
    if not valid_volume_name(name):
        raise HoodError(
            f'create {name}: "{name}" includes invalid characters for a local volume name, only'
            ' "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory,'
            " use absolute path"
        )


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
                f'invalid mount config for type "volume": invalid mount path: \'{target}\''
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
            f'invalid mount config for type "volume": invalid mount path: \'{target}\''
            " mount path must be absolute"
        )
    check_volume_name(source)
    return VolumeRequest(
        "volume", source, posixpath.normpath(target), "ro" in modes, "nocopy" in modes
    )


def _bool(key: str, value: str | None) -> bool:
    if value is None:
        return True
    low = value.lower()
    if low in ("1", "true", "t"):
        return True
    if low in ("0", "false", "f"):
        return False
    raise HoodError(f"invalid value for {key}: {value}")


def parse_mount(text: str) -> VolumeRequest:
    """--mount type=bind|volume|tmpfs,source=…,target=…[,readonly][,…] (docker's csv).
    The HostConfig.Mounts entry docker records rides along as `spec`."""
    from hood.cli.flags import ram_in_bytes

    kind, source, target, readonly, nocopy = "volume", "", "", False, False
    size, mode = None, None
    propagation = ""
    labels: dict[str, str] = {}
    for field in filter(None, text.split(",")):
        key, eq, value = field.partition("=")
        key = key.strip().lower()
        val = value if eq else None
        if not eq and key not in ("readonly", "ro", "volume-nocopy", "bind-nonrecursive"):
            raise HoodError(f"invalid field '{field}' must be a key=value pair")
        if key == "type":
            kind = value
        elif key in ("source", "src"):
            source = value
        elif key in ("target", "dst", "destination"):
            target = value
        elif key in ("readonly", "ro"):
            readonly = _bool(key, val)
        elif key == "volume-nocopy":
            nocopy = _bool(key, val)
        elif key == "volume-label":
            k, _, v = value.partition("=")
            labels[k] = v
        elif key == "tmpfs-size":
            try:
                size = ram_in_bytes(value)
            except ValueError as exc:
                raise HoodError(f"invalid value for {key}: {exc}") from None
        elif key == "tmpfs-mode":
            try:
                mode = int(value, 8)
            except ValueError:
                raise HoodError(f"invalid value for {key}: {value}") from None
        elif key == "bind-propagation":
            propagation = value
        elif key in ("consistency", "bind-nonrecursive", "volume-driver", "volume-opt"):
            if key == "volume-driver" and value != "local":
                raise HoodError(f"volume driver {value!r}: only the local driver is supported")
        else:
            raise HoodError(f"unexpected key '{key}' in '{field}'")
    if kind not in ("bind", "volume", "tmpfs"):
        if not kind:
            raise HoodError("type is required")
        raise HoodError(f'invalid mount config for type "{kind}": mount type unknown')
    if not target:
        raise HoodError("target is required")
    where = f'invalid mount config for type "{kind}"'
    if not target.startswith("/"):
        raise HoodError(f"{where}: invalid mount path: '{target}' mount path must be absolute")
    spec: dict = {"Type": kind}
    if source:
        spec["Source"] = source
    spec["Target"] = target
    if readonly:
        spec["ReadOnly"] = True
    data = ""
    if kind == "bind":
        if not source:
            raise HoodError(f"{where}: field Source must not be empty")
        if not source.startswith("/"):
            raise HoodError(f"{where}: invalid mount path: '{source}' mount path must be absolute")
        if not os.path.exists(source):
            raise HoodError(f"{where}: bind source path does not exist: {source}")
        if propagation:
            spec["BindOptions"] = {"Propagation": propagation}
        source = posixpath.normpath(source)
    elif kind == "volume":
        if source:
            check_volume_name(source)
        options = {}
        if nocopy:
            options["NoCopy"] = True
        if labels:
            options["Labels"] = labels
        if options:
            spec["VolumeOptions"] = options
    else:
        if source:
            raise HoodError(f"{where}: field Source must not be specified")
        tmpfs = {}
        if size is not None:
            tmpfs["SizeBytes"] = size
        if mode is not None:
            tmpfs["Mode"] = mode
        if tmpfs:
            spec["TmpfsOptions"] = tmpfs
        data = tmpfs_data(readonly, size, mode)
    return VolumeRequest(kind, source, posixpath.normpath(target), readonly, nocopy, data, spec)


def parse_ulimit(text: str) -> tuple[str, int, int]:
    """go-units ParseUlimit: NAME=SOFT[:HARD], HARD defaulting to SOFT, -1 unlimited."""
    name, eq, values = text.partition("=")
    if not eq:
        raise HoodError(f"invalid ulimit argument: {text}")
    if name not in ULIMITS:
        raise HoodError(f"invalid ulimit type: {name}")
    parts = values.split(":")
    if len(parts) > 2:
        raise HoodError(
            f"too many limit value arguments - {values}, can only have up to two, `soft[:hard]`"
        )
    try:
        soft = int(parts[0], 10)
        hard = int(parts[1], 10) if len(parts) == 2 else soft
    except ValueError as exc:
        raise HoodError(f'strconv.ParseInt: parsing "{exc}": invalid syntax') from None
    if hard != -1 and soft > hard:
        raise HoodError(
            f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        )
    return name, soft, hard


def _device_mode(text: str) -> bool:
    return bool(text) and len(text) <= 3 and set(text) <= set("rwm") and len(set(text)) == len(text)


def parse_device(text: str) -> tuple[str, str, str]:
    """--device HOST[:CONTAINER][:PERMISSIONS] (cgroup permissions, rwm by default)."""
    parts = text.split(":", 3)
    if len(parts) > 3:
        raise HoodError(f"invalid device specification: {text}")
    src, dst, perms = parts[0], "", "rwm"
    if len(parts) == 3:
        perms = parts[2]
    if len(parts) >= 2:
        if _device_mode(parts[1]):
            perms = parts[1]
        else:
            dst = parts[1]
    dst = dst or src
    if not _device_mode(perms):
        raise HoodError(f"bad mode specified: {perms}")
    if not dst.startswith("/"):
        raise HoodError(f"{dst} is not an absolute path")
    return src, dst, perms


def read_kv_files(paths: list[str]) -> list[str]:
    """--label-file (and --env-file's format): one KEY=VALUE a line, # comments."""
    items = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except OSError as exc:
            raise HoodError(f"open {path}: {exc.strerror.lower()}") from None
        for line in lines:
            line = line.lstrip()
            if line and not line.startswith("#"):
                items.append(line)
    return items


def labels(files: list[str], given: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in [*read_kv_files(files), *given]:
        key, _, value = item.partition("=")
        out[key] = value
    return out


def parse_host(text: str) -> str:
    """--add-host HOST:IP (host-gateway is the bridge's, which hood has not)."""
    host, sep, ip = text.partition(":")
    if not sep or not host or not ip:
        raise HoodError(f"bad format for add-host: {text!r}")
    if ip == "host-gateway":
        raise HoodError("--add-host HOST:host-gateway needs a bridge network, which hood has not")
    if not _is_ip(ip.strip("[]")):
        raise HoodError(f"invalid IP address in add-host: {ip!r}")
    return text


def _is_ip(text: str) -> bool:
    import socket

    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, text)
            return True
        except OSError:
            continue
    return False


STREAMS = ("stdin", "stdout", "stderr")


def parse_attach(values: list[str]) -> list[str]:
    out = []
    for value in values:
        low = value.lower()
        if low not in STREAMS:
            raise HoodError(
                f'invalid argument "{value}" for "-a, --attach" flag: valid streams are STDIN,'
                " STDOUT and STDERR"
            )
        if low not in out:
            out.append(low)
    return out
