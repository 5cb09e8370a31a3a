"""What a seccomp profile is: `Rule`s (syscall names, an action, argument checks, and when
the rule applies: capabilities, architectures, kernel version) and a default action.

The types alone, apart from where profiles come from (docker's default in
`seccomp_default`, docker's JSON format in `seccomp_json`) and what is made of them
(`seccomp` picks a container's rules, `seccomp_bpf` compiles them)."""

from __future__ import annotations

from hood.core.errors import HoodError

EQ, NE, LT, LE, GE, GT, MASKED_EQ = "EQ", "NE", "LT", "LE", "GE", "GT", "MASKED_EQ"
ALLOW = "SCMP_ACT_ALLOW"
ERRNO = "SCMP_ACT_ERRNO"


class ProfileError(HoodError):
    """A seccomp profile hood cannot read or apply."""


class Arg:
    """Argument `index` compared with `value` (for MASKED_EQ: (arg & value) == value_two)."""

    __slots__ = ("index", "op", "value", "value_two")

    def __init__(self, index: int, op: str, value: int, value_two: int = 0) -> None:
        self.index, self.op, self.value, self.value_two = index, op, value, value_two

    def to_oci(self) -> dict:
        doc = {"index": self.index, "value": self.value, "op": f"SCMP_CMP_{self.op}"}
        if self.value_two:
            doc["valueTwo"] = self.value_two
        return doc


class Rule:
    """`names` get `action` (with `errno` for SCMP_ACT_ERRNO) when their `args` match, for
    containers that have every capability in `caps` and none in `not_caps`, on the
    architectures `arches` (empty: any) but `not_arches`, on kernels >= `min_kernel`."""

    __slots__ = ("names", "action", "errno", "args", "caps", "not_caps", "arches",
                 "not_arches", "min_kernel")  # fmt: skip

    def __init__(
        self,
        names: str | list[str],
        action: str = ALLOW,
        *,
        errno: int | None = None,  # noqa: A002 - the errno the action returns
        args: tuple[Arg, ...] = (),
        caps: tuple[str, ...] = (),
        not_caps: tuple[str, ...] = (),
        arches: tuple[str, ...] = (),
        not_arches: tuple[str, ...] = (),
        min_kernel: tuple[int, int] | None = None,
    ) -> None:
        self.names = names.split() if isinstance(names, str) else list(names)
        self.action = action
        self.errno = errno
        self.args = args
        self.caps, self.not_caps = caps, not_caps
        self.arches, self.not_arches = arches, not_arches
        self.min_kernel = min_kernel

    def applies(self, caps: set[str], arch: str, kernel: tuple[int, int]) -> bool:
        if arch in self.not_arches or any(c in caps for c in self.not_caps):
            return False
        if self.arches and arch not in self.arches:
            return False
        if any(c not in caps for c in self.caps):
            return False
        return self.min_kernel is None or kernel >= self.min_kernel


class Profile:
    __slots__ = ("default_action", "default_errno", "arch_map", "architectures", "rules")

    def __init__(
        self,
        default_action: str,
        rules: list[Rule],
        *,
        default_errno: int | None = None,
        arch_map: dict[str, list[str]] | None = None,
        architectures: list[str] | None = None,
    ) -> None:
        self.default_action = default_action
        self.default_errno = default_errno
        self.rules = rules
        self.arch_map = arch_map or {}  # native SCMP_ARCH_* -> its sub-architectures
        self.architectures = architectures or []
