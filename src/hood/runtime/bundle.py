"""OCI runtime bundles (runtime-spec config.json + rootfs) that runc and crun run as is."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Callable
from typing import Any

from hood.core.errors import HoodError
from hood.runtime.cgroups import is_v2
from hood.runtime.rootfs import secure_join
from hood.runtime.spec import (
    DEFAULT_CAPS,
    MASKED_PATHS,
    READONLY_PATHS,
    ContainerSpec,
    resolve_user,
)
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
    env = list(spec.env)
    if not any(e.startswith("HOME=") for e in env):
        env.append(f"HOME={user.home}")
    caps = sorted(DEFAULT_CAPS, key=DEFAULT_CAPS.get)  # type: ignore[arg-type]
    process_caps: dict[str, list[str]] = {"bounding": caps}
    if user.uid == 0:
        process_caps["effective"] = caps
        process_caps["permitted"] = caps
    mounts: list[dict[str, Any]] = [
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
            "options": ["nosuid", "noexec", "nodev", "ro"],
        },
        {
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": ["ro", "nosuid", "noexec", "nodev"],
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
            "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        },
    ]
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
    for b in spec.binds:
        mounts.append(
            {
                "destination": b.target,
                "type": "bind",
                "source": b.source,
                "options": ["rbind", "rprivate"] + (["ro"] if b.readonly else []),
            }
        )
    for dest, opts in spec.tmpfs.items():
        mounts.append(
            {
                "destination": dest,
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "noexec", "nodev"] + [o for o in opts.split(",") if o],
            }
        )
    namespaces = [{"type": t} for t in ("pid", "ipc", "uts", "mount")]
    if spec.network == "none":
        namespaces.append({"type": "network"})
    if is_v2():  # docker's default: a cgroup namespace of its own on v2, the host's on v1
        namespaces.append({"type": "cgroup"})
    linux_cfg: dict[str, Any] = {
        "namespaces": namespaces,
        "maskedPaths": list(MASKED_PATHS),
        "readonlyPaths": list(READONLY_PATHS),
    }
    resources: dict[str, Any] = {}
    if spec.memory:
        resources["memory"] = {"limit": spec.memory}
    if spec.cpus:
        resources["cpu"] = {"quota": int(spec.cpus * 100000), "period": 100000}
    if spec.pids_limit:
        resources["pids"] = {"limit": spec.pids_limit}
    from hood.runtime.seccomp import ProfileError, container_seccomp

    try:
        seccomp = container_seccomp(spec.seccomp, set(DEFAULT_CAPS))
    except ProfileError as exc:
        raise HoodError(str(exc)) from None
    if seccomp is not None:
        linux_cfg["seccomp"] = seccomp
    if resources:
        linux_cfg["resources"] = resources
    linux_cfg["cgroupsPath"] = f"/hood/{spec.id}"  # its own, limits or not, as docker's
    process: dict[str, Any] = {
        "terminal": spec.tty,
        "user": {"uid": user.uid, "gid": user.gid},
        "args": spec.args,
        "env": env,
        "cwd": spec.cwd,
        "capabilities": process_caps,
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": spec.no_new_privs,
    }
    process["user"]["additionalGids"] = sorted({user.gid, *user.groups})
    return {
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": root_path, "readonly": spec.read_only},
        "hostname": spec.hostname,
        "mounts": mounts,
        "linux": linux_cfg,
    }


def write_config(bundle: str, config: dict[str, Any]) -> None:
    with open(os.path.join(bundle, "config.json"), "w") as f:
        f.write(json.dumps(config, indent=2) + "\n")


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

    from hood.runtime.builtin import ContainerError, relay_to_log
    from hood.runtime.rootfs import mount_overlay, unmount

    binary = shutil.which(runtime)
    if binary is None:
        raise ContainerError(f"{runtime} is not installed", 125)
    merged = os.path.join(layout.layer_dir(mount_id), "merged")
    bundle = os.path.join(container.dir, "bundle")
    os.makedirs(bundle, exist_ok=True)
    mount_overlay(layout, mount_id, merged)
    try:
        write_config(bundle, runtime_config(spec, merged, merged, etc_dir=container.dir))
        state_root = os.path.join(layout.hood_dir, runtime)
        cmd = [binary, "--root", state_root, "run", "-b", bundle, spec.id[:32]]
        if foreground and spec.tty:
            log_path = None
        stdin = None if spec.stdin and foreground else subprocess.DEVNULL
        out = subprocess.PIPE if log_path is not None else None
        proc = subprocess.Popen(cmd, stdin=stdin, stdout=out, stderr=out)
        if on_started is not None:
            on_started(proc.pid)
        if log_path is not None:
            assert proc.stdout is not None and proc.stderr is not None
            pipes = [(proc.stdout.fileno(), "stdout"), (proc.stderr.fileno(), "stderr")]
            status = relay_to_log(proc.pid, pipes, log_path, echo=foreground)
            proc.returncode = 0  # reaped by relay_to_log
            return os.waitstatus_to_exitcode(status) if not os.WIFSIGNALED(status) else (
                128 + os.WTERMSIG(status)
            )
        try:
            code = proc.wait()
        except KeyboardInterrupt:
            proc.terminate()
            code = proc.wait()
        return code if code >= 0 else 128 - code
    finally:
        with contextlib.suppress(HoodError):
            unmount(merged)
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(bundle, "config.json"))
