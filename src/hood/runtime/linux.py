"""Thin wrappers for the Linux calls Python 3.11's os module lacks, on `_ctypes`, the C
half of ctypes: the `ctypes` package costs `hood run` ~3.5 ms to import and nothing here
needs it. A module of its own keeps that C half in one place.

Every wrapper raises OSError with the errno, as os.* functions do."""

from __future__ import annotations

import _ctypes
import os
import sys


class _Int(_ctypes._SimpleCData):
    _type_ = "i"


class _ULong(_ctypes._SimpleCData):
    _type_ = "L"


class _CharPointer(_ctypes._SimpleCData):
    _type_ = "z"


class _Pointer(_ctypes._SimpleCData):
    _type_ = "P"


class _Function(_ctypes.CFuncPtr):
    """A libc function: C calling convention, errno kept for get_errno, an int back."""

    _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
    _restype_ = _Int


class _Libc:
    """This process's C library (dlopen(NULL)); its functions by name, looked up once."""

    def __init__(self) -> None:
        self._handle = _ctypes.dlopen(None, _ctypes.RTLD_LOCAL)

    def __getattr__(self, name: str) -> _Function:
        function = _Function((name, self))
        setattr(self, name, function)
        return function


_libc = _Libc()

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWCGROUP = 0x02000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MNT_DETACH = 2

PR_SET_PDEATHSIG = 1
PR_SET_KEEPCAPS = 8
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
PR_SET_DUMPABLE = 4
PR_SET_NAME = 15
PR_SET_MM = 35
PR_SET_MM_ARG_START = 8
PR_SET_MM_ARG_END = 9
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2

_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}.get(os.uname().machine, 155)


def _check(result: int, what: str, path: str | None = None) -> int:
    if result < 0:
        err = _ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}", path)
    return result


def _b(value: str | bytes | None) -> bytes | None:
    if value is None:
        return None
    return value if isinstance(value, bytes) else value.encode()


def mount(
    source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None
) -> None:
    _check(
        _libc.mount(_b(source), _b(target), _b(fstype), _ULong(flags), _b(data)),
        f"mount {fstype or source} on {target}",
        target,
    )


def umount(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(_b(target), flags), f"umount {target}", target)


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def setns(fd: int, nstype: int) -> None:
    _check(_libc.setns(fd, nstype), "setns")


def pivot_root(new_root: str, put_old: str) -> None:
    _check(_libc.syscall(_SYS_PIVOT_ROOT, _b(new_root), _b(put_old)), "pivot_root")


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc.sethostname(raw, len(raw)), "sethostname")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    return _check(
        _libc.prctl(
            option,
            _ULong(arg2),
            _ULong(arg3),
            _ULong(arg4),
            _ULong(arg5),
        ),
        "prctl",
    )


_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def capset(effective: int, permitted: int, inheritable: int) -> None:
    header = _u32(_LINUX_CAPABILITY_VERSION_3) + _u32(0)  # pid 0: this process
    data = b"".join(  # version 3: the low 32 capabilities' sets, then the high ones'
        _u32(value >> shift)
        for shift in (0, 32)
        for value in (effective, permitted, inheritable)
    )
    _check(_libc.capset(header, data), "capset")


def _u32(value: int) -> bytes:
    return (value & 0xFFFFFFFF).to_bytes(4, sys.byteorder)


def address(data: bytes) -> int:
    """Where `data`'s bytes are in memory, for a call that takes a pointer inside a
    structure (valid while `data` lives; the kernel must only read it)."""
    pointer = _CharPointer(data)
    return _Pointer.from_address(_ctypes.addressof(pointer)).value or 0


def load_seccomp(program: bytes) -> None:
    """Install a classic BPF seccomp filter in this thread (it needs no_new_privs or
    CAP_SYS_ADMIN)."""
    # struct sock_fprog: the count (unsigned short), padding up to the pointer, the pointer
    size = _ctypes.sizeof(_Pointer)
    count = (len(program) // 8).to_bytes(2, sys.byteorder)
    fprog = count + bytes(size - 2) + address(program).to_bytes(size, sys.byteorder)
    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, address(fprog))


def write_memory(at: int, data: bytes) -> None:
    """Copy `data` to address `at` of this process (memmove)."""
    _libc.memmove(_Pointer(at), data, _ULong(len(data)))


def last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return 40
