"""A pull killed (SIGKILL) at many points of its writes, then checked and resumed.

strace injects the kill: `-e inject=SYSCALL:signal=KILL:when=N` kills the process at the
Nth call of SYSCALL in one thread. The points are chosen from a traced reference pull:
calls that touch the data root, spread over the whole pull, for each kind of write
(open, write, fsync, mkdir, rename, symlink, link, unlink). After each kill:

- `hood fsck` passes (leftovers are allowed, errors are not), `hood images` works and
  `hood inspect` works for an image that is in imagedb;
- the next `hood pull` completes and leaves a store equal to a clean pull's (layerdb
  names and files, distribution metadata, repositories.json, one overlay2 dir and
  short link per layer, the merged tree);
- it downloads only what is missing: nothing of a layer already registered, and of
  a layer whose partial download survived only the bytes after it (`Range`)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import subprocess
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from support import strace, trees
from support.faults import FaultyRegistry
from support.hood import Hood
from support.images import DOCKER_LAYER_GZIP, Entry, Layer, build_image, busybox_layers, make_tar

pytestmark = pytest.mark.skipif(strace.STRACE is None, reason="strace is not installed")

POINTS_PER_SYSCALL = 4  # spread over the pull; about 30 kill points in all


def _image():
    """busybox's two layers and a third of incompressible files (several network reads)
    and a hardlink."""
    seed = hashlib.sha256(b"hood crash test").digest()
    blobs, block = [], seed
    for i in range(24):
        chunk = bytearray()
        while len(chunk) < 96 * 1024:
            block = hashlib.sha256(block).digest()
            chunk += block * 8
        blobs.append(Entry(f"data/f{i:02d}", data=bytes(chunk), mode=0o644))
    linked = Entry("data/same", "hardlink", target="data/f00")
    data = Layer(make_tar([Entry("data/", "dir"), *blobs, linked]), "gzip", DOCKER_LAYER_GZIP)
    return build_image("crashy", [*busybox_layers(), data], docker=True)


IMAGE = _image()


class CountingRegistry(FaultyRegistry):
    """FaultyRegistry that honours `Range: bytes=N-` and counts the blob bytes it sends."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.sent: Counter[str] = Counter()
        self.ranges: list[tuple[str, int]] = []
        self._count_lock = threading.Lock()

    def _blob(self, h, digest: str, head: bool) -> None:
        body = self.blobs.get(digest)
        if body is None or head:
            super()._blob(h, digest, head)
            return
        start = 0
        m = re.fullmatch(r"bytes=(\d+)-", h.headers.get("Range", "").strip())
        headers = {"Content-Type": "application/octet-stream", "Docker-Content-Digest": digest}
        status = 200
        if m and int(m.group(1)) < len(body):
            start, status = int(m.group(1)), 206
            headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
            with self._count_lock:
                self.ranges.append((digest, start))
        part = body[start:]
        with contextlib.suppress(OSError):  # the client died mid-body
            self._send(h, status, part, headers, head)
        with self._count_lock:
            self.sent[digest] += len(part)

    def start(self) -> CountingRegistry:
        super().start()
        self._httpd.handle_error = lambda request, address: None  # killed clients: expected
        return self

    def reset(self) -> None:
        with self._count_lock:
            self.sent.clear()
            self.ranges.clear()


def store_state(root: Path, registry_host: str) -> dict:
    return strace.store_state(root, registry_host, IMAGE)


# ------------------------------------------------------------------ one kill and its aftermath


def _partials(root: Path) -> dict[str, int]:
    d = root / "hood" / "downloads"
    out = {}
    if d.is_dir():
        for p in d.iterdir():
            if p.name.endswith(".partial"):
                out["sha256:" + p.name.removesuffix(".partial").split("-", 1)[1]] = p.stat().st_size
    return out


def crash_and_resume(base: Path, syscall: str, n: int, clean: dict) -> dict[str, int] | None:
    """Kill a pull at the nth `syscall` of a thread, check the store, resume, compare.
    Returns what the resumed pull reused (None when the pull ended before its nth call)."""
    hood = Hood(base / "root")
    with CountingRegistry(IMAGE, repo="library/crashy") as reg:
        argv = strace.inject_argv(syscall, n, "signal=KILL")
        proc = subprocess.run(
            argv + hood.argv("pull", reg.ref),
            env=hood.environ(reg.env),
            capture_output=True,
            text=True,
            timeout=120,
        )
        where = f"killed at {syscall} #{n}"
        if proc.returncode == 0:
            return None
        assert "Traceback" not in proc.stderr, f"{where}: {proc.stderr[-3000:]}"

        fsck = hood.run("fsck")
        assert fsck.status == 0, f"{where}: fsck failed\n{fsck.stdout}\n{fsck.stderr}"
        hood.run("images").ok()
        snap = trees.store_snapshot(hood.root)
        if IMAGE.id.split(":")[1] in snap["images"]:
            hood.run("inspect", IMAGE.id).ok()

        registered = set(snap["layers"])
        partial = _partials(hood.root)
        reg.reset()
        resumed = hood.run("pull", reg.ref, env=reg.env)
        assert resumed.status == 0, f"{where}: the next pull failed: {resumed.stderr}"

        for layer, chain in zip(IMAGE.layers, IMAGE.chain_ids, strict=True):
            if chain.split(":")[1] in registered:
                want = 0  # already in the store: never fetched again
            else:
                want = layer.size - partial.get(layer.digest, 0)
            assert reg.sent[layer.digest] == want, (
                f"{where}: layer {layer.digest[:19]} ({layer.size} bytes, "
                f"{'registered' if want == 0 and layer.digest not in partial else 'not registered'}, "
                f"{partial.get(layer.digest, 0)} in its partial download): the resumed pull "
                f"fetched {reg.sent[layer.digest]} bytes, wanted {want}"
            )
        state = store_state(hood.root, reg.host)
        for key in clean:
            assert state[key] == clean[key], f"{where}: {key} differs from a clean pull's"
        after = hood.run("fsck")
        assert after.status == 0, f"{where}: fsck after the resumed pull\n{after.stdout}"
        reused_layers = sum(c.split(":")[1] in registered for c in IMAGE.chain_ids)
        return {"layers kept": reused_layers, "resumed with Range": len(reg.ranges)}


def test_pull_killed_anywhere_then_resumed(tmp_path):
    ref_hood = Hood(tmp_path / "reference" / "root")
    with CountingRegistry(IMAGE, repo="library/crashy") as reg:
        log = tmp_path / "reference.strace"
        strace.trace(ref_hood, ["pull", reg.ref], log, env=reg.env)
        clean = store_state(ref_hood.root, reg.host)
    assert clean["overlay2 dirs"] == len(IMAGE.layers)
    assert clean["tree"] == trees.expected_tree(IMAGE)
    points = strace.points(log, ref_hood.root, per_syscall=POINTS_PER_SYSCALL)
    names = {name for name, _ in points}
    for wanted in ("openat", "write", "fsync", "mkdir", "rename", "symlink"):
        assert any(n.startswith(wanted) for n in names), f"no {wanted} calls traced: {points}"

    def one(i_point):
        i, (name, n) = i_point
        return name, n, crash_and_resume(tmp_path / f"kill{i:02d}", name, n, clean)

    with ThreadPoolExecutor(max(2, min(4, os.cpu_count() or 2))) as pool:
        outcomes = list(pool.map(one, enumerate(points)))
    killed = [(name, n, how) for name, n, how in outcomes if how is not None]
    print(f"{len(killed)} of {len(points)} kill points hit:", killed)
    assert len(killed) >= 0.8 * len(points), outcomes
    # Both kinds of resumption happened somewhere: registered layers kept, and a
    # partial download continued with Range.
    assert any(how["layers kept"] for _, _, how in killed), killed
    assert any(how["resumed with Range"] for _, _, how in killed), killed
