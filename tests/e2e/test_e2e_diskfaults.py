"""A full disk (ENOSPC) or a failing one (EIO) under a pull and an unpack.

strace makes one call fail (`-e inject=SYSCALL:error=ENOSPC:when=N`); the points are
chosen from a traced clean run, spread over it: ENOSPC on write/pwrite64, mkdir,
openat with O_CREAT and rename; EIO on fsync. Each time:

- hood exits 1 with one line on stderr, no traceback, that says what happened in words
  ("no space left on device", "input/output error"), names the path and what to do;
- after a pull: `hood fsck` passes (leftovers allowed) and the next pull completes with
  a store equal to a clean pull's;
- after an unpack: DIR holds nothing (hood removes what it wrote and says so), and the
  next unpack fills it right."""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from support import strace, trees
from support.faults import FaultyRegistry
from support.hood import Hood
from support.images import DOCKER_LAYER_GZIP, Entry, Layer, build_image, busybox_layers, make_tar

pytestmark = pytest.mark.skipif(strace.STRACE is None, reason="strace is not installed")

# syscall -> the error injected; openat only where it creates
FAULTS = {
    "write": "ENOSPC",
    "pwrite64": "ENOSPC",
    "fsync": "EIO",
    "mkdir": "ENOSPC",
    "mkdirat": "ENOSPC",
    "openat": "ENOSPC",
    "rename": "ENOSPC",
    "renameat": "ENOSPC",
    "renameat2": "ENOSPC",
    "copy_file_range": "ENOSPC",  # unpack's copies
}
WORDS = {"ENOSPC": "no space left on device", "EIO": "input/output error"}
ADVICE = {"ENOSPC": "free some space", "EIO": "check the disk"}
PER_SYSCALL = 3


def _image():
    seed = hashlib.sha256(b"hood disk fault test").digest()
    blobs, block = [], seed
    for i in range(6):
        chunk = bytearray()
        while len(chunk) < 64 * 1024:
            block = hashlib.sha256(block).digest()
            chunk += block * 8
        blobs.append(Entry(f"data/f{i:02d}", data=bytes(chunk), mode=0o644))
    data = Layer(make_tar([Entry("data/", "dir"), *blobs]), "gzip", DOCKER_LAYER_GZIP)
    return build_image("disky", [*busybox_layers(), data], docker=True)


IMAGE = _image()


class Registry(FaultyRegistry):
    """FaultyRegistry quiet about clients that went away (a failed pull's other layers)."""

    def start(self) -> Registry:
        super().start()
        self._httpd.handle_error = lambda request, address: None
        return self


def _creating(line: str) -> bool:
    return not line.split("(", 1)[0].endswith("openat") or "O_CREAT" in line


def _points(log: Path, under: Path) -> list[tuple[str, int]]:
    return strace.points(log, under, tuple(FAULTS), PER_SYSCALL, match=_creating)


def _inject(hood: Hood, syscall: str, n: int, args: list[str], env=None):
    import subprocess

    argv = strace.inject_argv(syscall, n, f"error={FAULTS[syscall]}")
    return subprocess.run(
        argv + hood.argv(*args), env=hood.environ(env), capture_output=True, text=True,
        timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def _check_failure(proc, syscall: str, n: int, path: Path) -> str:
    where = f"{FAULTS[syscall]} at {syscall} #{n}"
    assert proc.returncode == 1, f"{where}: exit {proc.returncode}\n{proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stderr, f"{where}: {proc.stderr[-3000:]}"
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, f"{where}: want one line on stderr:\n{proc.stderr}"
    msg = lines[0]
    err = FAULTS[syscall]
    assert msg.startswith("Error: "), f"{where}: {msg}"
    assert WORDS[err] in msg.lower(), f"{where}: the message does not say {WORDS[err]!r}: {msg}"
    assert ADVICE[err] in msg, f"{where}: the message does not say what to do: {msg}"
    assert str(path) in msg, f"{where}: the message names no path under {path}: {msg}"
    assert "[Errno" not in msg, f"{where}: raw OSError text: {msg}"
    return msg


def _pull_fault(base: Path, syscall: str, n: int, clean: dict) -> str | None:
    hood = Hood(base / "root")
    with Registry(IMAGE, repo="library/disky") as reg:
        proc = _inject(hood, syscall, n, ["pull", reg.ref], reg.env)
        if proc.returncode == 0:
            return None  # the pull made fewer such calls in that thread this time
        msg = _check_failure(proc, syscall, n, hood.root)
        where = f"{FAULTS[syscall]} at {syscall} #{n} ({msg})"
        fsck = hood.run("fsck")
        assert fsck.status == 0, f"{where}: fsck failed\n{fsck.stdout}\n{fsck.stderr}"
        hood.run("pull", reg.ref, env=reg.env).ok()
        state = strace.store_state(hood.root, reg.host, IMAGE)
        for key in clean:
            assert state[key] == clean[key], f"{where}: {key} differs from a clean pull's"
        assert hood.run("fsck").status == 0, where
        return msg


def _unpack_fault(
    hood: Hood, base: Path, syscall: str, n: int, want: dict, premade: bool
) -> str | None:
    dest = base / "out"
    if premade:
        dest.mkdir()
    proc = _inject(hood, syscall, n, ["unpack", IMAGE.id, str(dest)])
    if proc.returncode == 0:
        return None
    msg = _check_failure(proc, syscall, n, dest)
    where = f"{FAULTS[syscall]} at {syscall} #{n} ({msg})"
    # hood removes what it wrote: DIR is gone if unpack made it, empty if it was there
    # before, and the message says so
    if premade:
        assert sorted(os.listdir(dest)) == [], f"{where}: {dest} not emptied"
    else:
        assert not dest.exists(), f"{where}: {dest} left: {sorted(os.listdir(dest))[:5]}"
    if f"writing {dest}:" not in msg:  # DIR itself could not be made: nothing to remove
        assert "what was written is removed" in msg, f"{where}: {msg}"
    hood.run("unpack", IMAGE.id, str(dest)).ok()
    assert trees.walk(dest) == want, f"{where}: the next unpack differs"
    return msg


def _run_all(fn, points, tmp: Path, prefix: str, *args):
    def one(item):
        i, (name, n) = item
        try:
            return name, n, fn(tmp / f"{prefix}{i:02d}", name, n, *args)
        except AssertionError as exc:
            return name, n, exc

    with ThreadPoolExecutor(max(2, min(4, os.cpu_count() or 2))) as pool:
        outcomes = list(pool.map(one, enumerate(points)))
    failed = [str(o[2]).split("\n")[0] for o in outcomes if isinstance(o[2], AssertionError)]
    assert not failed, f"{len(failed)} of {len(points)} fault points failed:\n" + "\n".join(failed)
    hit = [o for o in outcomes if o[2] is not None]
    print(f"{prefix}: {len(hit)} of {len(points)} fault points hit")
    for name, n, msg in hit:
        print(f"  {name} #{n}: {msg}")
    assert len(hit) >= 0.7 * len(points), outcomes
    return hit


def test_pull_on_a_full_or_failing_disk(tmp_path):
    ref = Hood(tmp_path / "reference" / "root")
    with Registry(IMAGE, repo="library/disky") as reg:
        log = tmp_path / "pull.strace"
        strace.trace(ref, ["pull", reg.ref], log, tuple(FAULTS), env=reg.env)
        clean = strace.store_state(ref.root, reg.host, IMAGE)
    assert clean["tree"] == trees.expected_tree(IMAGE)
    points = _points(log, ref.root)
    names = {name for name, _ in points}
    for wanted in ("openat", "write", "pwrite64", "fsync", "mkdir", "rename"):
        assert any(n.startswith(wanted) for n in names), f"no {wanted} calls traced: {points}"
    hit = _run_all(_pull_fault, points, tmp_path, "pull", clean)
    assert any("layer" in msg for _, _, msg in hit), "no message names a layer"


def test_unpack_on_a_full_or_failing_disk(tmp_path):
    hood = Hood(tmp_path / "root")
    with Registry(IMAGE, repo="library/disky") as reg:
        hood.run("pull", reg.ref, env=reg.env).ok()
    log = tmp_path / "unpack.strace"
    reference = tmp_path / "reference"
    strace.trace(hood, ["unpack", IMAGE.id, str(reference)], log, tuple(FAULTS))
    want = trees.walk(reference)
    assert want == trees.expected_tree(IMAGE)
    points = _points(log, reference)
    # unpack copies with copy_file_range, creates with openat and mkdirat
    for wanted in ("openat", "mkdir", "copy_file_range"):
        assert any(n.startswith(wanted) for n, _ in points), f"no {wanted} calls: {points}"

    def fault(base, name, n):
        base.mkdir()
        return _unpack_fault(hood, base, name, n, want, premade=n % 2 == 1)

    _run_all(fault, points, tmp_path, "unpack")
