"""OCI runtime bundles (runtime-spec config.json + rootfs) that runc and crun run as is."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Callable
from typing import Any

from hood.core.errors import HoodError
from hood.runtime.capabilities import ALL_CAPS, DEFAULT_CAPS
from hood.runtime.cgroups import is_v2
from hood.runtime.exec_user import ExecUser, resolve_user
from hood.runtime.rootfs import secure_join
from hood.runtime.spec import MASKED_PATHS, READONLY_PATHS, ContainerSpec
from hood.store.containers import Container
from hood.store.layout import Layout


def _read_in_root(rootfs: str, path: str) -> str | None:
    try:
        with open(secure_join(rootfs, path), encoding="utf-8", errors="replace") as f:
            return f.read(1 << 22)
    except OSError:
        return None


def runtime_config(
    spec: ContainerSpec, rootfs: str, root_path: str = "rootfs", etc_dir: str | None = None
) -> dict[str, Any]:
    """config.json for `spec`; the user is resolved in `rootfs`'s /etc/passwd and /etc/group."""
    user = resolve_user(
        spec.user, _read_in_root(rootfs, "/etc/passwd"), _read_in_root(rootfs, "/etc/group")
    )
    caps = _cap_names(spec)
    mounts = _system_mounts(spec) + _etc_mounts(etc_dir) + _spec_mounts(spec)
    args = list(spec.args)
    if spec.init:  # docker's way: its init bound read-only at /sbin/docker-init
        mounts.append(
            {
                "destination": "/sbin/docker-init",
                "type": "bind",
                "source": init_binary(),
                "options": ["bind", "ro"],
            }
        )
        args = ["/sbin/docker-init", "--", *args]
    linux_cfg = _linux_config(spec, caps)
    return {
        "ociVersion": "1.0.2",
        "process": _process_config(spec, user, args, caps),
        "root": {"path": root_path, "readonly": spec.read_only},
        "hostname": spec.hostname,
        "mounts": mounts,
        "linux": linux_cfg,
    }


def _process_config(
    spec: ContainerSpec, user: ExecUser, args: list[str], caps: list[str]
) -> dict[str, Any]:
    """config.json's process: the resolved user and its groups, the command and its
    environment (HOME the user's unless set), capabilities (effective only for root)."""
    env = list(spec.env)
    if not any(e.startswith("HOME=") for e in env):
        env.append(f"HOME={user.home}")
    process_caps: dict[str, list[str]] = {"bounding": caps}
    if user.uid == 0:
        process_caps["effective"] = caps
        process_caps["permitted"] = caps
    return {
        "terminal": spec.tty,
        "user": {
            "uid": user.uid,
            "gid": user.gid,
            "additionalGids": sorted({user.gid, *user.groups}),
        },
        "args": args,
        "env": env,
        "cwd": spec.cwd,
        "capabilities": process_caps,
        "rlimits": _rlimits(spec),
        "noNewPrivileges": spec.no_new_privs,
    }


def _system_mounts(spec: ContainerSpec) -> list[dict[str, Any]]:
    """/proc, /dev, /dev/pts, /sys, /sys/fs/cgroup, /dev/mqueue and /dev/shm, as docker
    gives every container (/sys and the cgroups writable only when privileged)."""
    return [
        {
            "destination": "/proc",
            "type": "proc",
            "source": "proc",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        },
        {
            "destination": "/sys",
            "type": "sysfs",
            "source": "sysfs",
            "options": ["nosuid", "noexec", "nodev"] + ([] if spec.privileged else ["ro"]),
        },
        {
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": ([] if spec.privileged else ["ro"]) + ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev/mqueue",
            "type": "mqueue",
            "source": "mqueue",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777",
                        f"size={spec.shm_size}" if spec.shm_size else "size=65536k"],
        },
    ]  # fmt: skip


def _etc_mounts(etc_dir: str | None) -> list[dict[str, Any]]:
    """The container's /etc/hostname, /etc/hosts and /etc/resolv.conf, those it has."""
    mounts = []
    if etc_dir is not None:
        for name in ("hostname", "hosts", "resolv.conf"):
            if os.path.exists(os.path.join(etc_dir, name)):
                mounts.append(
                    {
                        "destination": f"/etc/{name}",
                        "type": "bind",
                        "source": os.path.join(etc_dir, name),
                        "options": ["rbind", "rprivate"],
                    }
                )
    return mounts


def _spec_mounts(spec: ContainerSpec) -> list[dict[str, Any]]:
    """-v binds, volumes, --tmpfs and --mount, parents first."""
    mounts = []
    for m in spec.all_mounts():
        if m.kind == "tmpfs":
            mounts.append(
                {
                    "destination": m.target,
                    "type": "tmpfs",
                    "source": "tmpfs",
                    "options": ["nosuid", "noexec", "nodev"] + [o for o in m.data.split(",") if o],
                }
            )
        else:
            mounts.append(
                {
                    "destination": m.target,
                    "type": "bind",
                    "source": m.source,
                    "options": ["rbind", "rprivate"] + (["ro"] if m.readonly else []),
                }
            )
    return mounts


def _linux_config(spec: ContainerSpec, caps: list[str]) -> dict[str, Any]:
    """config.json's linux: namespaces, masked and read-only paths, devices, seccomp
    profile, resources and the cgroup."""
    namespaces = [{"type": t} for t in ("pid", "ipc", "uts", "mount")]
    if spec.network == "none":
        namespaces.append({"type": "network"})
    if is_v2():  # docker's default: a cgroup namespace of its own on v2, the host's on v1
        namespaces.append({"type": "cgroup"})
    linux_cfg: dict[str, Any] = {"namespaces": namespaces}
    if not spec.unmasked:
        linux_cfg["maskedPaths"] = list(MASKED_PATHS)
        linux_cfg["readonlyPaths"] = list(READONLY_PATHS)
    resources = _resources(spec)
    devices = _devices(spec)
    if devices:
        linux_cfg["devices"] = devices
    from hood.runtime.seccomp import container_seccomp
    from hood.runtime.seccomp_profile import ProfileError

    try:
        seccomp = None if spec.privileged else container_seccomp(spec.seccomp, set(caps))
    except ProfileError as exc:
        raise HoodError(str(exc)) from None
    if seccomp is not None:
        linux_cfg["seccomp"] = seccomp
    if resources:
        linux_cfg["resources"] = resources
    linux_cfg["cgroupsPath"] = f"/hood/{spec.id}"  # its own, limits or not, as docker's
    return linux_cfg


def _resources(spec: ContainerSpec) -> dict[str, Any]:
    """linux.resources: the device allow list, and the memory, CPU and PIDs limits given."""
    resources: dict[str, Any] = {"devices": _device_rules(spec)}
    if spec.memory:
        resources["memory"] = {"limit": spec.memory}
    if spec.cpus:
        resources["cpu"] = {"quota": int(spec.cpus * 100000), "period": 100000}
    if spec.pids_limit:
        resources["pids"] = {"limit": spec.pids_limit}
    return resources


def _cap_names(spec: ContainerSpec) -> list[str]:
    """The process's capabilities: --privileged's every one this host lets us have (those
    the bounding set holds), else docker's default set tweaked by --cap-add/--cap-drop."""
    if not spec.privileged:
        if spec.caps is None:
            return sorted(DEFAULT_CAPS, key=DEFAULT_CAPS.get)  # type: ignore[arg-type]
        return list(spec.caps)
    bounding = 0
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapBnd:"):
                bounding = int(line.split()[1], 16)
    return ["CAP_" + c for i, c in enumerate(ALL_CAPS) if bounding & (1 << i)]


def _rlimits(spec: ContainerSpec) -> list[dict[str, Any]]:
    given = {f"RLIMIT_{name.upper()}": (soft, hard) for name, soft, hard in spec.ulimits}
    given.setdefault("RLIMIT_NOFILE", (1024, 1024))
    unlimited = 2**64 - 1
    return [
        {"type": kind, "hard": unlimited if hard < 0 else hard, "soft": unlimited if soft < 0 else soft}
        for kind, (soft, hard) in given.items()
    ]


def _devices(spec: ContainerSpec) -> list[dict[str, Any]]:
    """linux.devices: the host's for --privileged, and each --device, as runc makes them."""
    import stat

    from hood.runtime.devices import device_list

    out = []
    for host, inside in device_list(spec):
        st = os.stat(host)
        out.append(
            {
                "path": inside,
                "type": "c" if stat.S_ISCHR(st.st_mode) else "b",
                "major": os.major(st.st_rdev),
                "minor": os.minor(st.st_rdev),
                "fileMode": stat.S_IMODE(st.st_mode),
                "uid": st.st_uid,
                "gid": st.st_gid,
            }
        )
    return out


def _device_rules(spec: ContainerSpec) -> list[dict[str, Any]]:
    """linux.resources.devices: docker's (every device for --privileged; else none but
    the defaults and each --device, with its permissions)."""
    from hood.runtime.devices import device_cgroup_rules

    rules = device_cgroup_rules(spec)
    if rules is None:
        return [{"allow": True, "access": "rwm"}]
    out: list[dict[str, Any]] = [{"allow": False, "access": "rwm"}]
    for rule in rules:
        kind, numbers, access = rule.split()
        major, minor = numbers.split(":")
        entry: dict[str, Any] = {"allow": True, "type": kind}
        if major != "*":
            entry["major"] = int(major)
        if minor != "*":
            entry["minor"] = int(minor)
        entry["access"] = access
        out.append(entry)
    return out


def init_binary() -> str:
    """--init under runc: the host's docker-init (tini), as dockerd binds it."""
    import shutil

    for name in ("docker-init", "tini"):
        path = shutil.which(name) or shutil.which(name, path="/usr/libexec/docker:/usr/bin")
        if path:
            return os.path.realpath(path)
    raise HoodError(
        "--init with runc or crun needs docker-init (tini) on this host (Debian: apt install"
        " tini); hood's built-in runtime has its own"
    )


def write_config(bundle: str, config: dict[str, Any]) -> None:
    with open(os.path.join(bundle, "config.json"), "w") as f:
        f.write(json.dumps(config, indent=2) + "\n")


def _fill_volumes(spec: ContainerSpec, rootfs: str) -> None:
    """A volume's first use copies the image's content at its mount point into it, as the
    built-in runtime does (and docker)."""
    from hood.runtime.mounts import copy_up

    for m in spec.mounts:
        if m.kind == "volume" and m.copy and os.path.isdir(m.source) and not os.listdir(m.source):
            inside = secure_join(rootfs, m.target)
            if os.path.isdir(inside) and not os.path.islink(inside):
                copy_up(inside, m.source)


def _wait_running(binary: str, state_root: str, name: str, proc: subprocess.Popen) -> None:
    """Until the runtime says the container runs (or it ended, or 10 s went by): a signal
    sent before then would reach the runtime before it forwards any."""
    import time

    deadline = time.monotonic() + 10
    while proc.poll() is None and time.monotonic() < deadline:
        r = subprocess.run([binary, "--root", state_root, "state", name],
                           capture_output=True, text=True)  # fmt: skip
        with contextlib.suppress(ValueError, AttributeError):
            if r.returncode == 0 and json.loads(r.stdout).get("status") == "running":
                return
        time.sleep(0.01)


def _raise_start_failure(runtime_log: str) -> None:
    """If the runtime logged that it could not start the container (rather than the
    container exiting non-zero), raise it with docker's status: 127 for a command not
    found, 126 for one that cannot be run, else 125."""
    from hood.runtime.launch import ContainerError

    errors = []
    with contextlib.suppress(OSError), open(runtime_log, encoding="utf-8", errors="replace") as f:
        for line in f:
            with contextlib.suppress(ValueError, AttributeError):
                entry = json.loads(line)
                if entry.get("level") in ("error", "fatal"):
                    errors.append(str(entry.get("msg", "")))
    if not errors:
        return
    message = errors[-1]
    for lead in ("runc run failed: ", "unable to start container process: "):
        message = message.split(lead, 1)[-1]
    lower = message.lower()
    status = 125
    if "not found" in lower or "no such file or directory" in lower:
        status = 127
    elif "permission denied" in lower:
        status = 126
    raise ContainerError(message, status)


def run_with_oci_runtime(
    layout: Layout,
    container: Container,
    spec: ContainerSpec,
    mount_id: str,
    runtime: str,
    on_started: Callable[[int], None] | None,
    *,
    log_path: str | None = None,
    foreground: bool = False,
) -> int:
    """`--runtime runc|crun`: the container's overlay as the bundle's root, run until it
    exits; its output goes to the json-file log at `log_path` (and to our stdout and
    stderr in the `foreground`, but for -t, whose terminal the runtime relays itself)."""
    import shutil

    from hood.runtime.json_log import relay_to_log
    from hood.runtime.launch import ContainerError
    from hood.runtime.rootfs import mount_overlay, unmount

    binary = shutil.which(runtime)
    if binary is None:
        raise ContainerError(f"{runtime} is not installed", 125)
    merged = os.path.join(layout.layer_dir(mount_id), "merged")
    bundle = os.path.join(container.dir, "bundle")
    os.makedirs(bundle, exist_ok=True)
    mount_overlay(layout, mount_id, merged)
    try:
        _fill_volumes(spec, merged)
        write_config(bundle, runtime_config(spec, merged, merged, etc_dir=container.dir))
        state_root = os.path.join(layout.hood_dir, runtime)
        runtime_log = os.path.join(bundle, f"{runtime}.log")
        with open(runtime_log, "w"):
            pass  # the runtime's own errors, apart from the container's output
        cmd = [binary, "--root", state_root, "--log", runtime_log, "--log-format", "json",
               "run", "-b", bundle, spec.id[:32]]  # fmt: skip
        if foreground and spec.tty:
            log_path = None
        stdin = None if spec.stdin and foreground else subprocess.DEVNULL
        out = subprocess.PIPE if log_path is not None else None
        proc = subprocess.Popen(cmd, stdin=stdin, stdout=out, stderr=out)
        if on_started is not None:
            if not foreground:  # `run -d` returns once the container runs, as docker's
                _wait_running(binary, state_root, spec.id[:32], proc)
                if proc.poll() is not None:
                    _raise_start_failure(runtime_log)
            on_started(proc.pid)
        if log_path is not None:
            assert proc.stdout is not None and proc.stderr is not None
            pipes = [(proc.stdout.fileno(), "stdout"), (proc.stderr.fileno(), "stderr")]
            status = relay_to_log(proc.pid, pipes, log_path, echo=foreground, shown=spec.attach)
            proc.returncode = 0  # reaped by relay_to_log
            if os.WIFSIGNALED(status):
                return 128 + os.WTERMSIG(status)
            code = os.waitstatus_to_exitcode(status)
        else:
            try:
                code = proc.wait()
            except KeyboardInterrupt:
                proc.terminate()
                code = proc.wait()
            if code < 0:
                return 128 - code
        if code != 0:
            _raise_start_failure(runtime_log)
        return code
    finally:
        with contextlib.suppress(HoodError):
            unmount(merged)
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(bundle, "config.json"))
