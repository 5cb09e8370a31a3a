"""Docker's default seccomp profile (as of docker 20.10): what every container may call,
and what it may call only with a capability, on an architecture or on a new enough
kernel. Data only, kept apart from the code that reads and applies profiles."""

from __future__ import annotations

import errno

from hood.runtime.seccomp_profile import EQ, ERRNO, MASKED_EQ, Arg, Profile, Rule

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


# fmt: off
DEFAULT = Profile(
    ERRNO,
    [
        Rule(_EVERYONE),
        Rule("ptrace", min_kernel=(4, 8)),  # ptrace can leave seccomp behind before 4.8
        # PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and the query
        *(_personality(v) for v in (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)),
        Rule("sync_file_range2", arches=("ppc64le",)),
        Rule("arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush"
             " set_tls", arches=("arm", "arm64")),
        Rule("arch_prctl", arches=("amd64", "x32")),
        Rule("modify_ldt", arches=("amd64", "x32", "x86")),
        Rule("s390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr",
             arches=("s390", "s390x")),
        Rule("open_by_handle_at", caps=("CAP_DAC_READ_SEARCH",)),
        Rule("bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie"
             " mount mount_setattr move_mount name_to_handle_at open_tree perf_event_open"
             " quotactl quotactl_fd setdomainname sethostname setns syslog umount umount2"
             " unshare", caps=("CAP_SYS_ADMIN",)),
        Rule("clone", args=(Arg(0, MASKED_EQ, _CLONE_NAMESPACES),),
             not_caps=("CAP_SYS_ADMIN",), not_arches=("s390", "s390x")),
        Rule("clone", args=(Arg(1, MASKED_EQ, _CLONE_NAMESPACES),),  # s390: flags second
             arches=("s390", "s390x"), not_caps=("CAP_SYS_ADMIN",)),
        # clone3's flags are behind a pointer seccomp cannot read: ENOSYS makes the C
        # library fall back to clone, whose flags it can.
        Rule("clone3", ERRNO, errno=errno.ENOSYS, not_caps=("CAP_SYS_ADMIN",)),
        Rule("reboot", caps=("CAP_SYS_BOOT",)),
        Rule("chroot", caps=("CAP_SYS_CHROOT",)),
        Rule("delete_module init_module finit_module", caps=("CAP_SYS_MODULE",)),
        Rule("acct", caps=("CAP_SYS_PACCT",)),
        Rule("kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace",
             caps=("CAP_SYS_PTRACE",)),
        Rule("iopl ioperm", caps=("CAP_SYS_RAWIO",)),
        Rule("settimeofday stime clock_settime", caps=("CAP_SYS_TIME",)),
        Rule("vhangup", caps=("CAP_SYS_TTY_CONFIG",)),
        Rule("get_mempolicy mbind set_mempolicy", caps=("CAP_SYS_NICE",)),
        Rule("syslog", caps=("CAP_SYSLOG",)),
    ],
    arch_map=_ARCH_MAP,
)
# fmt: on
