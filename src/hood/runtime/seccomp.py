"""seccomp for containers: docker's default profile (as of docker 20.10), profiles in
docker's JSON format (`--security-opt seccomp=PROFILE.json`), and the filter itself.

A profile is a list of `Rule`s (syscall names, an action, argument checks, and when the
rule applies: capabilities, architectures, kernel version) and a default action. Docker
picks the rules that apply to the container (its bounding capabilities, the host's
architecture and kernel) and hands the rest to runc as the runtime spec's
`linux.seccomp`; `oci_seccomp` does the same for hood's bundles. The built-in runtime
turns that into a BPF program (`compile_filter`): libseccomp (through ctypes) compiles the
rules for every architecture the profile names, and, as runc does, a short prologue
answers ENOSYS, not the default errno, to syscalls newer than any the profile knows, so
a C library falls back to their older forms. `load` installs it in the calling thread."""

from __future__ import annotations

import errno
import os

from hood.core.errors import HoodError

# --- the rules ---------------------------------------------------------------------------

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


# Every architecture docker's default profile knows, with the ones its kernel also runs.
_ARCH_MAP = {
    "SCMP_ARCH_X86_64": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "SCMP_ARCH_AARCH64": ["SCMP_ARCH_ARM"],
    "SCMP_ARCH_MIPS64": ["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"],
    "SCMP_ARCH_MIPS64N32": ["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64"],
    "SCMP_ARCH_MIPSEL64": ["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"],
    "SCMP_ARCH_MIPSEL64N32": ["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64"],
    "SCMP_ARCH_S390X": ["SCMP_ARCH_S390"],
}

# What any container may call, whatever its capabilities (grouped by what they do).
_EVERYONE = """
    accept accept4 bind connect getpeername getsockname getsockopt listen recv recvfrom
    recvmmsg recvmmsg_time64 recvmsg send sendmmsg sendmsg sendto setsockopt shutdown
    socket socketcall socketpair

    access chdir chmod chown chown32 close close_range copy_file_range creat dup dup2 dup3
    faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark fchdir fchmod
    fchmodat fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock
    fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate
    ftruncate64 futimesat getcwd getdents getdents64 getxattr inotify_add_watch inotify_init
    inotify_init1 inotify_rm_watch lchown lchown32 lgetxattr link linkat listxattr
    llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 mkdir mkdirat mknod
    mknodat newfstatat open openat openat2 pread64 preadv preadv2 pwrite64 pwritev pwritev2
    read readahead readlink readlinkat readv removexattr rename renameat renameat2 rmdir
    sendfile sendfile64 setxattr splice stat stat64 statfs statfs64 statx symlink
    symlinkat sync sync_file_range syncfs tee truncate truncate64 umask unlink unlinkat
    utime utimensat utimensat_time64 utimes vmsplice write writev

    epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait
    epoll_wait_old eventfd eventfd2 io_cancel io_destroy io_getevents io_pgetevents
    io_pgetevents_time64 io_setup io_submit io_uring_enter io_uring_register io_uring_setup
    _newselect pause pipe pipe2 poll ppoll ppoll_time64 pselect6 pselect6_time64 select signalfd
    signalfd4 timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime
    timerfd_settime64

    brk madvise membarrier memfd_create memfd_secret mincore mlock mlock2 mlockall mmap
    mmap2 mprotect mremap msync munlock munlockall munmap remap_file_pages

    execve execveat exit exit_group fork vfork wait4 waitid waitpid kill tgkill tkill
    pidfd_open pidfd_send_signal process_mrelease restart_syscall rseq rt_sigaction
    rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait
    rt_sigtimedwait_time64 rt_tgsigqueueinfo sigaltstack sigprocmask sigreturn
    set_robust_list get_robust_list set_tid_address get_thread_area set_thread_area
    futex futex_time64 futex_waitv prctl seccomp landlock_add_rule landlock_create_ruleset
    landlock_restrict_self

    capget capset getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups
    getgroups32 getpgid getpgrp getpid getppid getresgid getresgid32 getresuid getresuid32
    getsid gettid getuid getuid32 setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32
    setgroups setgroups32 setpgid setregid setregid32 setresgid setresgid32 setresuid
    setresuid32 setreuid setreuid32 setsid setuid setuid32

    alarm clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime
    clock_gettime64 clock_nanosleep clock_nanosleep_time64 getitimer gettimeofday
    nanosleep setitimer time timer_create timer_delete timer_getoverrun timer_gettime
    timer_gettime64 timer_settime timer_settime64 times adjtimex

    getcpu getpriority getrandom getrlimit getrusage ioctl ioprio_get ioprio_set ipc
    mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend
    mq_timedsend_time64 mq_unlink msgctl msgget msgrcv msgsnd prlimit64
    sched_getaffinity sched_getattr sched_getparam sched_get_priority_max
    sched_get_priority_min sched_getscheduler sched_rr_get_interval
    sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam
    sched_setscheduler sched_yield semctl semget semop semtimedop semtimedop_time64
    setpriority setrlimit shmat shmctl shmdt shmget sysinfo ugetrlimit uname
"""

# CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET: clone may make none of them
# without CAP_SYS_ADMIN.
_CLONE_NAMESPACES = 0x7E020000


def _personality(value: int) -> Rule:
    return Rule("personality", args=(Arg(0, EQ, value),))


DEFAULT = Profile(
    ERRNO,
    [
        Rule(_EVERYONE),
        Rule("ptrace", min_kernel=(4, 8)),  # ptrace can leave seccomp behind before 4.8
        # PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and the query
        *(_personality(v) for v in (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)),
        Rule("sync_file_range2", arches=("ppc64le",)),
        Rule("arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush"
             " set_tls", arches=("arm", "arm64")),  # fmt: skip
        Rule("arch_prctl", arches=("amd64", "x32")),
        Rule("modify_ldt", arches=("amd64", "x32", "x86")),
        Rule("s390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr",
             arches=("s390", "s390x")),  # fmt: skip
        Rule("open_by_handle_at", caps=("CAP_DAC_READ_SEARCH",)),
        Rule("bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie"
             " mount mount_setattr move_mount name_to_handle_at open_tree perf_event_open"
             " quotactl quotactl_fd setdomainname sethostname setns syslog umount umount2"
             " unshare", caps=("CAP_SYS_ADMIN",)),  # fmt: skip
        Rule("clone", args=(Arg(0, MASKED_EQ, _CLONE_NAMESPACES),),
             not_caps=("CAP_SYS_ADMIN",), not_arches=("s390", "s390x")),  # fmt: skip
        Rule("clone", args=(Arg(1, MASKED_EQ, _CLONE_NAMESPACES),),  # s390: flags second
             arches=("s390", "s390x"), not_caps=("CAP_SYS_ADMIN",)),  # fmt: skip
        # clone3's flags are behind a pointer seccomp cannot read: ENOSYS makes the C
        # library fall back to clone, whose flags it can.
        Rule("clone3", ERRNO, errno=errno.ENOSYS, not_caps=("CAP_SYS_ADMIN",)),
        Rule("reboot", caps=("CAP_SYS_BOOT",)),
        Rule("chroot", caps=("CAP_SYS_CHROOT",)),
        Rule("delete_module init_module finit_module", caps=("CAP_SYS_MODULE",)),
        Rule("acct", caps=("CAP_SYS_PACCT",)),
        Rule("kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace",
             caps=("CAP_SYS_PTRACE",)),  # fmt: skip
        Rule("iopl ioperm", caps=("CAP_SYS_RAWIO",)),
        Rule("settimeofday stime clock_settime", caps=("CAP_SYS_TIME",)),
        Rule("vhangup", caps=("CAP_SYS_TTY_CONFIG",)),
        Rule("get_mempolicy mbind set_mempolicy", caps=("CAP_SYS_NICE",)),
        Rule("syslog", caps=("CAP_SYSLOG",)),
    ],
    arch_map=_ARCH_MAP,
)


# --- docker's JSON profile format ------------------------------------------------------------

_OPS = {f"SCMP_CMP_{op}": op for op in (EQ, NE, LT, LE, GE, GT, MASKED_EQ)}
_ACTIONS = ("SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
            ERRNO, "SCMP_ACT_TRACE", ALLOW, "SCMP_ACT_LOG")  # fmt: skip


def _kernel_version(text: str) -> tuple[int, int]:
    parts = text.split(".")
    try:
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        raise ProfileError(f"seccomp profile: invalid minKernel {text!r}") from None


def parse_profile(text: str | bytes) -> Profile:
    """A profile in docker's JSON format (the one `--security-opt seccomp=FILE` reads)."""
    from hood.core.jsonio import loads

    try:
        doc = loads(text)
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise ProfileError(f"Error parsing seccomp profile: {exc}") from None
    if not isinstance(doc, dict):
        raise ProfileError("Error parsing seccomp profile: not a JSON object")

    def field(d: dict, key: str, kind: type, default):  # type: ignore[no-untyped-def]
        value = d.get(key, default)
        if value is None:
            return default
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ProfileError(f"seccomp profile: {key} must be a {kind.__name__}")
        return value

    def action(value: object) -> str:
        if value not in _ACTIONS:
            raise ProfileError(f"seccomp profile: unknown action {value!r}")
        return str(value)

    arch_map: dict[str, list[str]] = {}
    for entry in field(doc, "archMap", list, []):
        if isinstance(entry, dict):
            arch_map[str(entry.get("architecture", ""))] = [
                str(a) for a in entry.get("subArchitectures") or []
            ]
    architectures = [str(a) for a in field(doc, "architectures", list, [])]
    if architectures and arch_map:
        raise ProfileError(
            "'architectures' and 'archMap' were specified in the seccomp profile, use either"
            " 'architectures' or 'archMap'"
        )
    rules = []
    for call in field(doc, "syscalls", list, []):
        if not isinstance(call, dict):
            raise ProfileError("seccomp profile: each of syscalls must be an object")
        name, names = field(call, "name", str, ""), field(call, "names", list, [])
        if name and names:
            raise ProfileError(
                "'name' and 'names' were specified in the seccomp profile, use either 'name'"
                " or 'names'"
            )
        args = []
        for a in field(call, "args", list, []):
            if not isinstance(a, dict) or a.get("op") not in _OPS:
                raise ProfileError(f"seccomp profile: bad argument {a!r}")
            args.append(
                Arg(
                    field(a, "index", int, 0),
                    _OPS[a["op"]],
                    field(a, "value", int, 0),
                    field(a, "valueTwo", int, 0),
                )
            )
        inc, exc = field(call, "includes", dict, {}), field(call, "excludes", dict, {})
        min_kernel = inc.get("minKernel")
        rules.append(
            Rule(
                [name] if name else [str(n) for n in names],
                action(call.get("action")),
                errno=field(call, "errnoRet", int, None),
                args=tuple(args),
                caps=tuple(field(inc, "caps", list, [])),
                not_caps=tuple(field(exc, "caps", list, [])),
                arches=tuple(field(inc, "arches", list, [])),
                not_arches=tuple(field(exc, "arches", list, [])),
                min_kernel=_kernel_version(str(min_kernel)) if min_kernel else None,
            )
        )
    default_action = doc.get("defaultAction")
    if not default_action and not rules:
        raise ProfileError("seccomp profile: no defaultAction and no syscalls")
    return Profile(
        action(default_action),
        rules,
        default_errno=field(doc, "defaultErrnoRet", int, None),
        arch_map=arch_map,
        architectures=architectures,
    )


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


# --- the filter: libseccomp compiles, hood loads ----------------------------------------------

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
    """A `linux.seccomp` (see `oci_seccomp`) as a classic BPF program (struct sock_filter
    records), ready for `load`."""
    import ctypes

    class ArgCmp(ctypes.Structure):
        _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                    ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]  # fmt: skip

    lib = _libseccomp()
    default = _action(oci["defaultAction"], oci.get("defaultErrnoRet"))
    ctx = lib.seccomp_init(default)
    if not ctx:
        raise ProfileError("seccomp: cannot initialise libseccomp")
    try:
        lib.seccomp_attr_set(ctx, _SCMP_FLTATR_CTL_NNP, 0)  # no_new_privs is hood's to set
        arches = []
        for name in oci.get("architectures") or []:
            token = lib.seccomp_arch_resolve_name(
                name.removeprefix("SCMP_ARCH_").lower().encode()
            )
            if not token:
                continue  # an architecture this libseccomp does not know: runc skips it too
            rc = lib.seccomp_arch_add(ctx, token)
            if rc not in (0, -errno.EEXIST):
                raise ProfileError(f"seccomp: cannot add architecture {name}: {os.strerror(-rc)}")
            arches.append((name.removeprefix("SCMP_ARCH_").lower(), token))
        if not arches:
            arches.append((os.uname().machine, lib.seccomp_arch_native()))
        last: dict[str, int] = {}  # the highest syscall number each architecture knows
        for call in oci.get("syscalls") or []:
            action = _action(call["action"], call.get("errnoRet"))
            if action == default:
                continue  # libseccomp refuses a rule that repeats the default
            args = [
                (a.get("index", 0), _SCMP_CMP[a["op"].removeprefix("SCMP_CMP_")],
                 a.get("value", 0), a.get("valueTwo", 0))
                for a in call.get("args") or []
            ]  # fmt: skip
            # several checks of one argument: any of them (runc adds a rule for each)
            if len(args) > 1 and len({a[0] for a in args}) == 1:
                groups = [[a] for a in args]
            else:
                groups = [args]
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
                    rc = lib.seccomp_rule_add_array(
                        ctx, action, nr, len(group), ctypes.addressof(cmps)
                    )
                    if rc < 0:
                        raise ProfileError(
                            f"seccomp: cannot add the rule for {name}: {os.strerror(-rc)}"
                        )
        # Into a memory file, read back at once: no pipe whose reader would need a thread.
        out = os.memfd_create("hood-seccomp", os.MFD_CLOEXEC)
        try:
            rc = lib.seccomp_export_bpf(ctx, out)
            size = os.lseek(out, 0, os.SEEK_CUR)
            program = os.pread(out, size, 0) if rc >= 0 else b""
        finally:
            os.close(out)
        if rc < 0:
            raise ProfileError(f"seccomp: cannot build the filter: {os.strerror(-rc)}")
    finally:
        lib.seccomp_release(ctx)
    if (default >> 16) == (_SCMP_ACT[ALLOW] >> 16):
        return program
    return _enosys_prologue(last) + program


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


def load(program: bytes) -> None:
    """Install the filter in this thread (it needs no_new_privs or CAP_SYS_ADMIN)."""
    import ctypes

    from hood.runtime import linux

    count = len(program) // 8
    buf = ctypes.create_string_buffer(program, len(program))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    prog = SockFprog(count, ctypes.addressof(buf))
    linux.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog))


PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2


# --- a container's filter -----------------------------------------------------------------


def profile_of(setting: str) -> Profile | None:
    """The profile a spec's `seccomp` names: None for "unconfined"."""
    if setting == "unconfined":
        return None
    return parse_profile(setting) if setting else DEFAULT


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
