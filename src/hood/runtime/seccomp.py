"""A container's seccomp: the profile its spec names (docker's default, unconfined, or a
profile in docker's JSON format), the rules of it that apply to the container (its
bounding capabilities, the host's architecture and kernel) as docker hands them to runc
in the runtime spec's `linux.seccomp` (`oci_seccomp`, for hood's bundles too), and, for
the built-in runtime, that compiled into a BPF program, cached per profile.

The profile's types are in `seccomp_profile`, docker's default profile in
`seccomp_default`, the JSON reader in `seccomp_json`, the compiler and `load` in
`seccomp_bpf`."""

from __future__ import annotations

import os

from hood.core.errors import HoodError
from hood.runtime.seccomp_bpf import compile_filter
from hood.runtime.seccomp_default import DEFAULT
from hood.runtime.seccomp_profile import Profile

# --- what applies to one container, as runc's config.json says it --------------------------

_GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "armv6l": "arm",
           "i686": "x86", "i386": "x86", "ppc64le": "ppc64le", "s390x": "s390x",
           "mips64": "mips64", "riscv64": "riscv64"}  # fmt: skip
_NATIVE = {"amd64": "SCMP_ARCH_X86_64", "arm64": "SCMP_ARCH_AARCH64", "arm": "SCMP_ARCH_ARM",
           "x86": "SCMP_ARCH_X86", "ppc64le": "SCMP_ARCH_PPC64LE", "s390x": "SCMP_ARCH_S390X",
           "mips64": "SCMP_ARCH_MIPS64", "riscv64": "SCMP_ARCH_RISCV64"}  # fmt: skip


def host_arch() -> str:
    """The host's architecture in docker's (Go's) words: amd64, arm64, ..."""
    machine = os.uname().machine
    return _GOARCH.get(machine, machine)


def host_kernel() -> tuple[int, int]:
    release = os.uname().release
    nums = []
    for part in release.split(".")[:2]:
        digits = "".join(ch for ch in part if ch.isdigit()) if part else ""
        nums.append(int(digits) if digits else 0)
    return (nums + [0, 0])[0], (nums + [0, 0])[1]


def oci_seccomp(
    profile: Profile, caps: set[str], arch: str | None = None, kernel: tuple[int, int] | None = None
) -> dict:
    """The runtime spec's `linux.seccomp` for a container with bounding set `caps`: the
    rules that apply to it, as docker hands them to runc."""
    arch = arch or host_arch()
    kernel = kernel or host_kernel()
    architectures = list(profile.architectures)
    native = _NATIVE.get(arch)
    if native in profile.arch_map:
        architectures += [native, *profile.arch_map[native]]
    out: dict = {"defaultAction": profile.default_action}
    if profile.default_errno is not None:
        out["defaultErrnoRet"] = profile.default_errno
    if architectures:
        out["architectures"] = architectures
    syscalls = []
    for rule in profile.rules:
        if not rule.applies(caps, arch, kernel):
            continue
        call: dict = {"names": rule.names, "action": rule.action}
        if rule.errno is not None:
            call["errnoRet"] = rule.errno
        if rule.args:
            call["args"] = [a.to_oci() for a in rule.args]
        syscalls.append(call)
    out["syscalls"] = syscalls
    return out


# --- a container's filter -----------------------------------------------------------------


def profile_of(setting: str) -> Profile | None:
    """The profile a spec's `seccomp` names: None for "unconfined"."""
    if setting == "unconfined":
        return None
    if not setting:
        return DEFAULT
    from hood.runtime.seccomp_json import parse_profile

    return parse_profile(setting)


def container_seccomp(setting: str, caps: set[str]) -> dict | None:
    """`linux.seccomp` for a container (None: unconfined)."""
    profile = profile_of(setting)
    return None if profile is None else oci_seccomp(profile, caps)


def container_filter(setting: str, caps: set[str], cache_dir: str | None = None) -> bytes | None:
    """The BPF program for a container, compiled once per profile and kept in `cache_dir`
    (compiling costs libseccomp ~15 ms; reading it back, well under one)."""
    oci = container_seccomp(setting, caps)
    if oci is None:
        return None
    if cache_dir is None:
        return compile_filter(oci)
    from hood.core.digest import sha256_hex
    from hood.core.jsonio import dumps

    key = sha256_hex(dumps([oci, os.uname().machine, _CACHE_FORMAT]).encode())
    path = os.path.join(cache_dir, f"{key}.bpf")
    try:
        with open(path, "rb") as f:
            program = f.read()
        if program and len(program) % 8 == 0:
            return program
    except OSError:
        pass
    program = compile_filter(oci)
    try:
        from hood.core.fileio import write_atomic

        os.makedirs(cache_dir, 0o700, exist_ok=True)
        write_atomic(path, program, 0o600, durable=False)
    except (OSError, HoodError):
        pass  # a read-only root: compile again next time
    return program


_CACHE_FORMAT = 1  # bump when compile_filter's output changes for the same rules
