"""strace as a fault injector: trace a clean run to find the calls that touch a data
root, then make the Nth such call fail (`-e inject=SYSCALL:error=ENOSPC:when=N`) or kill
the process (`signal=KILL`). Also what two stores must agree on after a pull."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import Counter, defaultdict
from pathlib import Path

from . import trees
from .hood import Hood
from .images import Image

STRACE = shutil.which("strace")

# The syscalls a pull writes the store with, as strace names them on x86_64/arm64.
WRITE_SYSCALLS = (
    "openat",
    "write",
    "pwrite64",
    "fsync",
    "mkdir",
    "mkdirat",
    "rename",
    "renameat",
    "renameat2",
    "symlink",
    "symlinkat",
    "link",
    "linkat",
    "unlink",
    "unlinkat",
)


def trace(hood: Hood, args: list[str], log: Path, syscalls=WRITE_SYSCALLS, env=None) -> None:
    """Run `hood ARGS` under strace, logging `syscalls` with fd paths (-y) to `log`."""
    argv = [STRACE, "-f", "-qq", "-y", "-e", f"trace={','.join(syscalls)}", "-o", str(log)]
    proc = subprocess.run(
        argv + hood.argv(*args), env=hood.environ(env), capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


def inject_argv(syscall: str, n: int, action: str) -> list[str]:
    """strace's argv to do `action` (`signal=KILL`, `error=ENOSPC`) at a thread's nth
    `syscall` (strace counts per thread)."""
    return [STRACE, "-f", "-qq", "-o", "/dev/null", "-e", f"trace={syscall}",
            "-e", f"inject={syscall}:{action}:when={n}"]  # fmt: skip


_LINE = re.compile(r"^(\d+)\s+(?:<\.\.\. )?([a-z0-9_]+)[( ]")


def points(
    log: Path,
    root: Path,
    syscalls=WRITE_SYSCALLS,
    per_syscall: int = 4,
    match=None,
) -> list[tuple[str, int]]:
    """(syscall, N) pairs: calls of the traced run that touched `root` (and whose line
    satisfies `match`, if given), `per_syscall` of each syscall spread evenly from its
    first such call to its last. N counts that syscall in its thread, as strace's `when`."""
    per_thread: Counter[tuple[str, str]] = Counter()
    touching: dict[str, list[int]] = defaultdict(list)
    for line in log.read_text(errors="replace").splitlines():
        m = _LINE.match(line)
        if not m or "resumed>" in line:
            continue
        pid, name = m.groups()
        per_thread[pid, name] += 1
        if str(root) in line and (match is None or match(line)):
            touching[name].append(per_thread[pid, name])
    out = []
    for name in syscalls:
        ns = sorted(set(touching.get(name, [])))
        if not ns:
            continue
        k = min(per_syscall, len(ns))
        picks = {ns[round(i * (len(ns) - 1) / max(1, k - 1))] for i in range(k)}
        out += [(name, n) for n in sorted(picks)]
    return out


# ------------------------------------------------------------------ what a store holds


def _files(d: Path) -> dict[str, bytes]:
    if not d.is_dir():
        return {}
    return {
        str(p.relative_to(d)): p.read_bytes()
        for p in sorted(d.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def store_state(root: Path, registry_host: str, image: Image) -> dict:
    """Everything of a store that two pulls of one image must agree on (not the random
    cache and link IDs): layerdb entries file by file, distribution metadata,
    imagedb content, tags, one overlay2 dir and one live short link per layer, the tree."""
    g = trees.graph_root(root)
    snap = trees.store_snapshot(root)
    layers = {}
    for name in snap["layers"]:
        files = _files(g / "layerdb/sha256" / name)
        files.pop("cache-id", None)
        layers[name] = files
    links = root / "overlay2" / "l"
    live = sorted(p.name for p in links.iterdir() if p.exists()) if links.is_dir() else []
    all_links = sorted(p.name for p in links.iterdir()) if links.is_dir() else []
    host = registry_host.encode()
    return {
        "repositories": json.loads(json.dumps(snap["repositories"]).replace(registry_host, "R")),
        "images": _files(g / "imagedb/content/sha256"),
        "layers": layers,
        "distribution": {k: v.replace(host, b"R") for k, v in _files(g / "distribution").items()},
        "overlay2 dirs": len(snap["overlay2"]),
        "short links": (len(live), len(all_links)),
        "tree": trees.stored_tree(root, image.id) if snap["images"] else None,
    }
