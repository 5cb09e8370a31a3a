"""A container's seccomp rules (a runtime spec's `linux.seccomp`) as a classic BPF program.

libseccomp (through ctypes) compiles the rules for every architecture they name, and, as
runc does, a short prologue answers ENOSYS, not the default errno, to syscalls newer than
any the rules know, so a C library falls back to their older forms. `linux.load_seccomp`
installs the program. Apart from the profiles: this is the part that talks to
libseccomp."""

from __future__ import annotations

import errno
import os

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
    ProfileError,
)

_SCMP_ACT = {
    "SCMP_ACT_KILL": 0x00000000,
    "SCMP_ACT_KILL_THREAD": 0x00000000,
    "SCMP_ACT_KILL_PROCESS": 0x80000000,
    "SCMP_ACT_TRAP": 0x00030000,
    ERRNO: 0x00050000,
    "SCMP_ACT_TRACE": 0x7FF00000,
    "SCMP_ACT_LOG": 0x7FFC0000,
    ALLOW: 0x7FFF0000,
}
_SCMP_CMP = {NE: 1, LT: 2, LE: 3, EQ: 4, GE: 5, GT: 6, MASKED_EQ: 7}
_SCMP_FLTATR_CTL_NNP = 3
_AUDIT_ARCH = {"x86_64": 0xC000003E, "x86": 0x40000003, "aarch64": 0xC00000B7, "arm": 0x40000028}
_X32_BIT = 0x40000000


def _action(name: str, ret: int | None) -> int:
    code = _SCMP_ACT[name]
    if name in (ERRNO, "SCMP_ACT_TRACE"):
        code |= (errno.EPERM if ret is None else ret) & 0xFFFF
    return code


def _libseccomp():  # type: ignore[no-untyped-def]
    import ctypes

    for name in ("libseccomp.so.2", "libseccomp.so"):
        try:
            lib = ctypes.CDLL(name, use_errno=True)
            break
        except OSError:
            continue
    else:
        raise ProfileError(
            "seccomp: libseccomp is not installed (Debian: libseccomp2); "
            "run with --security-opt seccomp=unconfined to go without"
        )
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
    lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_arch_native.restype = ctypes.c_uint32
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_syscall_resolve_name_arch.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
    lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint, ctypes.c_void_p
    ]  # fmt: skip
    return lib


def compile_filter(oci: dict) -> bytes:
    """A `linux.seccomp` (see `seccomp.oci_seccomp`) as a classic BPF program (struct
    sock_filter records), ready for `linux.load_seccomp`."""
    lib = _libseccomp()
    default = _action(oci["defaultAction"], oci.get("defaultErrnoRet"))
    ctx = lib.seccomp_init(default)
    if not ctx:
        raise ProfileError("seccomp: cannot initialise libseccomp")
    try:
        lib.seccomp_attr_set(ctx, _SCMP_FLTATR_CTL_NNP, 0)  # no_new_privs is hood's to set
        arches = _add_arches(lib, ctx, oci.get("architectures") or [])
        last = _add_rules(lib, ctx, oci.get("syscalls") or [], default, arches)
        program = _export(lib, ctx)
    finally:
        lib.seccomp_release(ctx)
    if (default >> 16) == (_SCMP_ACT[ALLOW] >> 16):
        return program
    return _enosys_prologue(last) + program


def _add_arches(lib, ctx, names: list[str]) -> list[tuple[str, int]]:  # type: ignore[no-untyped-def]
    """The architectures the filter is for, as (name, libseccomp token): those of `names`
    this libseccomp knows, or the native one."""
    arches = []
    for name in names:
        token = lib.seccomp_arch_resolve_name(name.removeprefix("SCMP_ARCH_").lower().encode())
        if not token:
            continue  # an architecture this libseccomp does not know: runc skips it too
        rc = lib.seccomp_arch_add(ctx, token)
        if rc not in (0, -errno.EEXIST):
            raise ProfileError(f"seccomp: cannot add architecture {name}: {os.strerror(-rc)}")
        arches.append((name.removeprefix("SCMP_ARCH_").lower(), token))
    if not arches:
        arches.append((os.uname().machine, lib.seccomp_arch_native()))
    return arches


def _add_rules(lib, ctx, syscalls: list, default: int, arches: list) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """The rules of `syscalls` that differ from the default action (libseccomp refuses
    one that repeats it); returns the highest syscall number each architecture knows."""
    import ctypes

    class ArgCmp(ctypes.Structure):
        _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                    ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]  # fmt: skip

    last: dict[str, int] = {}
    for call in syscalls:
        action = _action(call["action"], call.get("errnoRet"))
        if action == default:
            continue
        groups = _arg_groups(call.get("args") or [])
        for name in call["names"]:
            nr = lib.seccomp_syscall_resolve_name(name.encode())
            if nr < 0:
                continue  # a syscall this libseccomp (or architecture) does not know
            for arch, token in arches:
                n = lib.seccomp_syscall_resolve_name_arch(token, name.encode())
                if n >= 0:
                    last[arch] = max(last.get(arch, -1), n & ~_X32_BIT)
            for group in groups:
                cmps = (ArgCmp * max(1, len(group)))(*[ArgCmp(*a) for a in group])
                rc = lib.seccomp_rule_add_array(ctx, action, nr, len(group), ctypes.addressof(cmps))
                if rc < 0:
                    raise ProfileError(
                        f"seccomp: cannot add the rule for {name}: {os.strerror(-rc)}"
                    )
    return last


def _arg_groups(args: list[dict]) -> list[list[tuple]]:
    """A call's argument checks, one rule's worth per group: all of them together, or, for
    several checks of one argument, any of them (runc adds a rule for each)."""
    checks = [
        (a.get("index", 0), _SCMP_CMP[a["op"].removeprefix("SCMP_CMP_")],
         a.get("value", 0), a.get("valueTwo", 0))
        for a in args
    ]  # fmt: skip
    if len(checks) > 1 and len({a[0] for a in checks}) == 1:
        return [[a] for a in checks]
    return [checks]


def _export(lib, ctx) -> bytes:  # type: ignore[no-untyped-def]
    """The compiled program. Into a memory file, read back at once: no pipe whose reader
    would need a thread."""
    out = os.memfd_create("hood-seccomp", os.MFD_CLOEXEC)
    try:
        rc = lib.seccomp_export_bpf(ctx, out)
        size = os.lseek(out, 0, os.SEEK_CUR)
        program = os.pread(out, size, 0) if rc >= 0 else b""
    finally:
        os.close(out)
    if rc < 0:
        raise ProfileError(f"seccomp: cannot build the filter: {os.strerror(-rc)}")
    return program


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    import struct

    return struct.pack("=HBBI", code, jt, jf, k & 0xFFFFFFFF)


_LD_W_ABS, _JA, _JEQ, _JGT, _JSET, _RET = 0x20, 0x05, 0x15, 0x25, 0x45, 0x06


def _enosys_prologue(last: dict[str, int]) -> bytes:
    """As runc: a syscall numbered above every one the profile names (newer than the
    profile) gets ENOSYS, not the default action, so the C library falls back to an
    older call. Anything else goes on to libseccomp's program, which follows."""
    out: list[tuple] = []

    def block(audit: int, checks: list[tuple]) -> None:
        out.extend([("ld", 4), ("jeq_arch", audit), ("ld", 0), *checks, ("ja_filter",)])

    if "x86_64" in last or "x32" in last:
        checks: list[tuple] = []
        if "x32" in last:  # x32 calls are x86_64's with a bit set
            checks.append(("jset_x32", _X32_BIT + last["x32"]))
        if "x86_64" in last:
            checks.append(("jgt", last["x86_64"]))
        block(_AUDIT_ARCH["x86_64"], checks)
    for arch in ("x86", "aarch64", "arm"):
        if arch in last:
            block(_AUDIT_ARCH[arch], [("jgt", last[arch])])
    if not out:
        return b""
    flat: list[tuple] = []
    for ins in out:
        if ins[0] == "jset_x32":  # x32: above its last -> ENOSYS, else the filter
            flat += [("jset", _X32_BIT), ("jgt_or_filter", ins[1])]
        else:
            flat.append(ins)
    enosys_at = len(flat)
    filter_at = enosys_at + 1
    code = []
    for i, ins in enumerate(flat):
        kind = ins[0]
        if kind == "ld":
            code.append(_insn(_LD_W_ABS, 0, 0, ins[1]))
        elif kind == "jeq_arch":  # another architecture: past this one's block
            end = next(j for j in range(i, len(flat)) if flat[j][0] == "ja_filter")
            nxt = end + 1 if end + 1 < enosys_at else end  # the next block, or the filter
            code.append(_insn(_JEQ, 0, nxt - i - 1, ins[1]))
        elif kind == "jset":  # not x32: skip its check
            code.append(_insn(_JSET, 0, 1, ins[1]))
        elif kind == "jgt":
            code.append(_insn(_JGT, enosys_at - i - 1, 0, ins[1]))
        elif kind == "jgt_or_filter":
            code.append(_insn(_JGT, enosys_at - i - 1, filter_at - i - 1, ins[1]))
        else:  # ja_filter
            code.append(_insn(_JA, 0, 0, filter_at - i - 1))
    code.append(_insn(_RET, 0, 0, _SCMP_ACT[ERRNO] | errno.ENOSYS))
    return b"".join(code)
