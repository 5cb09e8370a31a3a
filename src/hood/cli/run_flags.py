"""The values of `run`'s less common flags, read as docker's CLI reads them, and the
RunOptions fields they make: -v with volume names and --mount (by mount_specs), --ulimit,
--device, --label(-file), --add-host, --attach.

Imported only when one of those flags is given: `hood run` without them never loads it."""

from __future__ import annotations

from hood.cli.flags import UsageError
from hood.cli.mount_specs import parse_mount, parse_volume
from hood.core.errors import HoodError
from hood.runtime.mount_spec import Bind
from hood.runtime.spec import ULIMITS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from hood.cli.flags import Args


def rare_options(args: Args) -> tuple[list[Bind], dict[str, Any]]:
    """-v's binds, and the RunOptions fields the rare flags set: volumes (-v NAME:DIR, -v DIR,
    --mount), ulimits, devices, labels, extra hosts and the streams to attach."""
    binds: list[Bind] = []
    volumes = []
    for text in args.volume:
        item = parse_volume(text)
        (binds if isinstance(item, Bind) else volumes).append(item)
    volumes += [parse_mount(m) for m in args.mount]
    ulimits = {}
    for text in args.ulimit:
        u = parse_ulimit(text)
        ulimits[u[0]] = u
    extra = {
        "volumes": volumes,
        "ulimits": [ulimits[k] for k in sorted(ulimits)],
        "devices": [parse_device(d) for d in args.device],
        "labels": labels(args.label_file, args.label),
        "extra_hosts": [parse_host(h) for h in args.add_host],
    }
    if args.attach:
        if "detach" in args.given_flags:
            raise UsageError("conflicting options: cannot specify both --attach and --detach", 1)
        extra["attach"] = parse_attach(args.attach)
    return binds, extra


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
