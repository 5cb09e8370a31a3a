"""Resource limits through a hood-owned cgroup: v2 at /sys/fs/cgroup/hood/ID, v1 per controller."""

from __future__ import annotations

import contextlib
import errno
import os
import time
from pathlib import Path

from hood.core.errors import HoodError

CGROUP_ROOT = Path("/sys/fs/cgroup")
CPU_PERIOD = 100_000


class CgroupError(HoodError):
    """A resource limit that cannot be set on this host."""


def is_v2() -> bool:
    return (CGROUP_ROOT / "cgroup.controllers").exists()


class Cgroup:
    __slots__ = ("dirs",)

    def __init__(self, dirs: list[Path] | None = None) -> None:
        self.dirs: list[Path] = [] if dirs is None else dirs

    def add(self, pid: int) -> None:
        for d in self.dirs:
            (d / "cgroup.procs").write_text(str(pid))

    def remove(self) -> None:
        for d in reversed(self.dirs):
            for _ in range(50):
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY:
                        break
                    time.sleep(0.01)


def rootless_problem(memory: int | None, cpus: float | None, pids: int | None) -> str | None:
    """When not root: why the limits asked for cannot be set (None: they can, or none was).

    hood rootless has no systemd delegation to ask for a cgroup: the limits work only when
    the hood cgroup (v2) was made writable for this user beforehand."""
    flags = [f for f, v in (("--memory", memory), ("--cpus", cpus), ("--pids-limit", pids)) if v]
    if not flags or os.geteuid() == 0:
        return None
    base = CGROUP_ROOT / "hood" if is_v2() else CGROUP_ROOT / "memory" / "hood"
    if os.access(base, os.W_OK):
        return None
    return (
        f"rootless: no cgroup writable by uid {os.geteuid()} ({base}); {', '.join(flags)} discarded"
    )


def _write(path: Path, value: str) -> None:
    try:
        path.write_text(value)
    except OSError as exc:
        raise CgroupError(f"cannot set {path}: {exc.strerror}") from None


def create(
    container_id: str, memory: int | None, cpus: float | None, pids: int | None
) -> Cgroup | None:
    """A cgroup with the limits, or None when no limit was asked for."""
    if memory is None and cpus is None and pids is None:
        return None
    cg = Cgroup()
    try:
        if is_v2():
            base = CGROUP_ROOT / "hood"
            base.mkdir(exist_ok=True)
            wanted = [
                c for c, v in (("memory", memory), ("cpu", cpus), ("pids", pids)) if v is not None
            ]
            for parent in (CGROUP_ROOT, base):
                with contextlib.suppress(OSError):
                    (parent / "cgroup.subtree_control").write_text(
                        " ".join("+" + c for c in wanted)
                    )
            d = base / container_id
            d.mkdir(exist_ok=True)
            cg.dirs.append(d)
            if memory is not None:
                _write(d / "memory.max", str(memory))
                # docker's default --memory-swap is twice --memory: as much swap again
                with contextlib.suppress(OSError):
                    (d / "memory.swap.max").write_text(str(memory))
            if cpus is not None:
                _write(d / "cpu.max", f"{int(cpus * CPU_PERIOD)} {CPU_PERIOD}")
            if pids is not None:
                _write(d / "pids.max", "max" if pids <= 0 else str(pids))
            return cg
        limits: list[tuple[str, str, str]] = []
        if memory is not None:
            limits.append(("memory", "memory.limit_in_bytes", str(memory)))
        if cpus is not None:
            limits += [
                ("cpu", "cpu.cfs_period_us", str(CPU_PERIOD)),
                ("cpu", "cpu.cfs_quota_us", str(int(cpus * CPU_PERIOD))),
            ]
        if pids is not None:
            limits.append(("pids", "pids.max", "max" if pids <= 0 else str(pids)))
        for controller, name, value in limits:
            root = CGROUP_ROOT / controller
            if not root.is_dir():
                raise CgroupError(f"the {controller} cgroup controller is not mounted")
            d = root / "hood" / container_id
            if d not in cg.dirs:
                d.mkdir(parents=True, exist_ok=True)
                cg.dirs.append(d)
            _write(d / name, value)
            if name == "memory.limit_in_bytes":  # --memory-swap: twice --memory, as docker
                with contextlib.suppress(OSError):
                    (d / "memory.memsw.limit_in_bytes").write_text(str(2 * int(value)))
        return cg
    except OSError as exc:
        cg.remove()
        raise CgroupError(f"cannot create the container's cgroup: {exc.strerror}") from None
    except CgroupError:
        cg.remove()
        raise
