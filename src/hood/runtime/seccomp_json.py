"""Docker's JSON seccomp profile format (`--security-opt seccomp=PROFILE.json`) read into
a `Profile`, with docker's errors for what it refuses. Only a custom profile needs it:
`hood run` with docker's default profile does not load this module."""

from __future__ import annotations

from hood.runtime.seccomp_profile import (
    ALLOW,
    EQ,
    ERRNO,
    GE,
    GT,
    LE,
    LT,
    MASKED_EQ,
    NE,
    Arg,
    Profile,
    ProfileError,
    Rule,
)

_OPS = {f"SCMP_CMP_{op}": op for op in (EQ, NE, LT, LE, GE, GT, MASKED_EQ)}
_ACTIONS = ("SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
            ERRNO, "SCMP_ACT_TRACE", ALLOW, "SCMP_ACT_LOG")  # fmt: skip


def _kernel_version(text: str) -> tuple[int, int]:
    parts = text.split(".")
    try:
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        raise ProfileError(f"seccomp profile: invalid minKernel {text!r}") from None


def _field(d: dict, key: str, kind: type, default):  # type: ignore[no-untyped-def]
    value = d.get(key, default)
    if value is None:
        return default
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProfileError(f"seccomp profile: {key} must be a {kind.__name__}")
    return value


def _action(value: object) -> str:
    if value not in _ACTIONS:
        raise ProfileError(f"seccomp profile: unknown action {value!r}")
    return str(value)


def parse_profile(text: str | bytes) -> Profile:
    """A profile in docker's JSON format (the one `--security-opt seccomp=FILE` reads)."""
    from hood.core.jsonio import loads

    try:
        doc = loads(text)
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise ProfileError(f"Error parsing seccomp profile: {exc}") from None
    if not isinstance(doc, dict):
        raise ProfileError("Error parsing seccomp profile: not a JSON object")
    arch_map, architectures = _architectures(doc)
    rules = [_rule(call) for call in _field(doc, "syscalls", list, [])]
    default_action = doc.get("defaultAction")
    if not default_action and not rules:
        raise ProfileError("seccomp profile: no defaultAction and no syscalls")
    return Profile(
        _action(default_action),
        rules,
        default_errno=_field(doc, "defaultErrnoRet", int, None),
        arch_map=arch_map,
        architectures=architectures,
    )


def _architectures(doc: dict) -> tuple[dict[str, list[str]], list[str]]:
    """The profile's archMap or its architectures (docker refuses both)."""
    arch_map: dict[str, list[str]] = {}
    for entry in _field(doc, "archMap", list, []):
        if isinstance(entry, dict):
            arch_map[str(entry.get("architecture", ""))] = [
                str(a) for a in entry.get("subArchitectures") or []
            ]
    architectures = [str(a) for a in _field(doc, "architectures", list, [])]
    if architectures and arch_map:
        raise ProfileError(
            "'architectures' and 'archMap' were specified in the seccomp profile, use either"
            " 'architectures' or 'archMap'"
        )
    return arch_map, architectures


def _rule(call: object) -> Rule:
    """One entry of the profile's syscalls."""
    if not isinstance(call, dict):
        raise ProfileError("seccomp profile: each of syscalls must be an object")
    name, names = _field(call, "name", str, ""), _field(call, "names", list, [])
    if name and names:
        raise ProfileError(
            "'name' and 'names' were specified in the seccomp profile, use either 'name' or 'names'"
        )
    args = [_arg(a) for a in _field(call, "args", list, [])]
    inc, exc = _field(call, "includes", dict, {}), _field(call, "excludes", dict, {})
    min_kernel = inc.get("minKernel")
    return Rule(
        [name] if name else [str(n) for n in names],
        _action(call.get("action")),
        errno=_field(call, "errnoRet", int, None),
        args=tuple(args),
        caps=tuple(_field(inc, "caps", list, [])),
        not_caps=tuple(_field(exc, "caps", list, [])),
        arches=tuple(_field(inc, "arches", list, [])),
        not_arches=tuple(_field(exc, "arches", list, [])),
        min_kernel=_kernel_version(str(min_kernel)) if min_kernel else None,
    )


def _arg(a: object) -> Arg:
    """One argument check of a syscalls entry."""
    if not isinstance(a, dict) or a.get("op") not in _OPS:
        raise ProfileError(f"seccomp profile: bad argument {a!r}")
    return Arg(
        _field(a, "index", int, 0),
        _OPS[a["op"]],
        _field(a, "value", int, 0),
        _field(a, "valueTwo", int, 0),
    )
