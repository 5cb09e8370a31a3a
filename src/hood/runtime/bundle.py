"""OCI runtime bundles (runtime-spec config.json + rootfs) that runc and crun run as is."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hood.errors import HoodError
from hood.runtime.rootfs import secure_join
from hood.runtime.spec import (
    DEFAULT_CAPS,
    MASKED_PATHS,
    READONLY_PATHS,
    ContainerSpec,
    RunOptions,
    build_spec,
    resolve_user,
)
from hood.store.layout import Layout


def _read_in_root(rootfs: str, path: str) -> str | None:
    try:
        with open(secure_join(rootfs, path), encoding="utf-8", errors="replace") as f:
            return f.read(1 << 22)
    except OSError:
        return None


def runtime_config(
    spec: ContainerSpec, rootfs: str, root_path: str = "rootfs", etc_dir: Path | None = None
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
            if (etc_dir / name).exists():
                mounts.append(
                    {
                        "destination": f"/etc/{name}",
                        "type": "bind",
                        "source": str(etc_dir / name),
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
    if resources:
        linux_cfg["resources"] = resources
        linux_cfg["cgroupsPath"] = f"/hood/{spec.id}"
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


def _flatten(layout: Layout, image_id, layers, dest: Path) -> None:
    try:
        from hood.layer.flatten import flatten  # the layer engineer's, when it exists
    except ImportError:
        flatten = None
    if flatten is not None:
        dest.mkdir(parents=True, exist_ok=True)
        flatten([la.diff_dir for la in layers], dest)
        return
    from hood.runtime.mounts import mount_image_layers
    from hood.runtime.rootfs import unmount

    layout.tmp.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hood-bundle-", dir=layout.tmp) as tmp:
        mount_image_layers(layout, [la.link_id for la in layers], Path(tmp))
        try:
            dest.mkdir(parents=True, exist_ok=True)
            subprocess.run(["cp", "-a", f"{tmp}/.", str(dest)], check=True)
        finally:
            unmount(tmp)


def write_bundle(layout: Layout, image_name: str, directory: str) -> Path:
    import secrets

    from hood.store.images import ImageStore

    images = ImageStore(layout)
    image = images.resolve(image_name)
    bundle = Path(directory)
    rootfs = bundle / "rootfs"
    if rootfs.exists() and any(rootfs.iterdir()):
        raise HoodError(f"{rootfs} exists and is not empty")
    spec = build_spec(image.config.config, RunOptions(), secrets.token_hex(32))
    _flatten(layout, image.id, images.image_layers(image.id), rootfs)
    cfg = runtime_config(spec, str(rootfs))
    (bundle / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    return bundle


def run_with_oci_runtime(
    layout: Layout, container, runtime: str, on_started: Callable[[int], None] | None
) -> int:
    """`--runtime runc|crun`: the container's overlay as the bundle's root, run in the foreground."""
    import shutil

    from hood.runtime.builtin import ContainerError
    from hood.runtime.rootfs import mount_overlay, unmount

    binary = shutil.which(runtime)
    if binary is None:
        raise ContainerError(f"{runtime} is not installed", 125)
    spec = container.spec
    layout = Layout(Path(layout.root))  # `hood run`'s is rooted at a str
    merged = layout.layer_dir(container.mount_id) / "merged"
    bundle = Path(container.dir) / "bundle"
    bundle.mkdir(exist_ok=True)
    mount_overlay(layout, container.mount_id, merged)
    try:
        cfg = runtime_config(spec, str(merged), str(merged), etc_dir=Path(container.dir))
        (bundle / "config.json").write_text(json.dumps(cfg, indent=2))
        state_root = layout.hood_dir / runtime
        cmd = [binary, "--root", str(state_root), "run", "-b", str(bundle), spec.id[:32]]
        stdin = None if spec.stdin else subprocess.DEVNULL
        proc = subprocess.Popen(cmd, stdin=stdin)
        if on_started is not None:
            on_started(proc.pid)
        try:
            status = proc.wait()
        except KeyboardInterrupt:
            proc.terminate()
            status = proc.wait()
        return status if status >= 0 else 128 - status
    finally:
        with contextlib.suppress(HoodError):
            unmount(merged)
        with contextlib.suppress(OSError):
            os.unlink(bundle / "config.json")
