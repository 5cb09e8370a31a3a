"""Capabilities as docker gives them: its default set, every capability by number, and
--cap-add/--cap-drop applied to the default set (the bounding set of a container that is
not privileged)."""

from __future__ import annotations

from hood.runtime.spec_errors import SpecError

# Docker's default capability set (CapEff of a root container: 0x00000000a80425fb).
DEFAULT_CAPS: dict[str, int] = {
    "CAP_CHOWN": 0,
    "CAP_DAC_OVERRIDE": 1,
    "CAP_FOWNER": 3,
    "CAP_FSETID": 4,
    "CAP_KILL": 5,
    "CAP_SETGID": 6,
    "CAP_SETUID": 7,
    "CAP_SETPCAP": 8,
    "CAP_NET_BIND_SERVICE": 10,
    "CAP_NET_RAW": 13,
    "CAP_SYS_CHROOT": 18,
    "CAP_MKNOD": 27,
    "CAP_AUDIT_WRITE": 29,
    "CAP_SETFCAP": 31,
}
DEFAULT_CAP_MASK = sum(1 << bit for bit in DEFAULT_CAPS.values())

# Every capability by its number (linux/capability.h), for --cap-add/--cap-drop names.
ALL_CAPS = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE"
)  # fmt: skip


def cap_number(name: str) -> int:
    return ALL_CAPS.index(name.removeprefix("CAP_"))


def normalize_caps(names: list[str], what: str = "CapAdd") -> list[str]:
    """docker's NormalizeLegacyCapabilities: upper case, CAP_ prefixed, ALL kept; an
    unknown name is an error."""
    out = []
    for name in names:
        cap = name.upper()
        if cap != "ALL":
            cap = cap if cap.startswith("CAP_") else "CAP_" + cap
            if cap[4:] not in ALL_CAPS:
                raise SpecError(f'invalid {what}: unknown capability: "{cap}"')
        if cap not in out:
            out.append(cap)
    return out


def effective_caps(cap_add: list[str], cap_drop: list[str]) -> list[str] | None:
    """docker's TweakCapabilities for a container that is not privileged: the default set
    less --cap-drop plus --cap-add (ALL in either: everything, or nothing but the adds).
    None: docker's default set, untouched."""
    if not cap_add and not cap_drop:
        return None
    adds, drops = normalize_caps(cap_add), normalize_caps(cap_drop, "CapDrop")
    if "ALL" in adds:
        return ["CAP_" + c for c in ALL_CAPS if "CAP_" + c not in drops]
    if "ALL" in drops:
        return adds
    caps = [c for c in sorted(DEFAULT_CAPS, key=DEFAULT_CAPS.__getitem__) if c not in drops]
    return caps + [c for c in adds if c not in caps]


def cap_mask(names: list[str] | None) -> int:
    if names is None:
        return DEFAULT_CAP_MASK
    return sum(1 << cap_number(n) for n in names)
