"""hood killed (SIGKILL) at syscalls of `run --rm`, `rmi`, `fsck --repair` and a pull over
shared layers, then checked as issue 11 asks:

- one `fsck --repair`, after which `fsck` finds nothing (no error, no leftover);
- `images` lists only complete images (each inspects), `ps -a` no dead `--rm` container;
- the next pull succeeds (and, for run, the next run);
- no container process outlives its hood: the container's last act (touching a file
  after a sleep) never happens after its hood was killed; no mount is left.

strace picks the points: a reference run of each command is traced, and for each class
of syscall it makes (open, write, rename, mkdir, unlink, symlink, mount, clone, ...)
calls spread over the run are chosen; `-e inject=SYSCALL:signal=KILL:when=N` kills the
tracee making the Nth one. The quick sweep (CI) takes one point per class; the full sweep
(`pytest -m killsweep`, or HOOD_KILL_POINTS=N) takes N per class."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from support import strace
from support.hood import Hood
from support.images import DOCKER_LAYER_GZIP, Entry, Layer, build_image, busybox_layers, make_tar
from support.images import push as push_image

pytestmark = [
    pytest.mark.skipif(strace.STRACE is None, reason="strace is not installed"),
    pytest.mark.skipif(os.geteuid() != 0, reason="runs containers and overlay mounts"),
]

FULL = int(os.environ.get("HOOD_KILL_POINTS", "0"))

# syscall classes of each command (strace names; the first is what a point is counted on)
STORE_CLASSES = ("openat", "write", "fsync", "mkdir", "rename", "renameat2", "symlink",
                 "unlink", "unlinkat", "linkat")  # fmt: skip
RUN_CLASSES = (*STORE_CLASSES, "mount", "umount2", "clone", "clone3", "unshare", "pivot_root",
               "prctl", "execve", "wait4", "read")  # fmt: skip


def _data_image():
    seed = hashlib.sha256(b"hood kill sweep").digest()
    blobs, block = [], seed
    for i in range(8):
        chunk = bytearray()
        while len(chunk) < 64 * 1024:
            block = hashlib.sha256(block).digest()
            chunk += block * 8
        blobs.append(Entry(f"data/f{i}", data=bytes(chunk), mode=0o644))
    data = Layer(make_tar([Entry("data/", "dir"), *blobs]), "gzip", DOCKER_LAYER_GZIP)
    base = busybox_layers()
    return (
        build_image("killbase", base, docker=True, config={"Cmd": ["sh"], "Env": ["PATH=/bin"]}),
        build_image("killdata", [*base, data], docker=True,
                    config={"Cmd": ["sh"], "Env": ["PATH=/bin"]}),  # fmt: skip
    )


@pytest.fixture(scope="module")
def pushed(plain_registry):
    base, data = _data_image()
    return (
        push_image(plain_registry, base, "kills/base"),
        push_image(plain_registry, data, "kills/data"),
    )


@pytest.fixture(scope="module")
def templates(tmp_path_factory, pushed):
    """Stores to start each point from (copied with cp -a): empty, base pulled, both."""
    base, data = pushed
    out = {}
    for name, refs in (("base", [base]), ("both", [base, data])):
        hood = Hood(tmp_path_factory.mktemp(f"tpl-{name}") / "root")
        for p in refs:
            hood.run("pull", "-q", p.ref, env=p.registry.env).ok()
        out[name] = hood.root
    return out


def _scenario(name: str, pushed, mark: Path) -> tuple[str, list[str], tuple[str, ...]]:
    base, data = pushed
    if name == "pull over shared layers":
        return "base", ["pull", data.ref], STORE_CLASSES
    if name == "rmi":
        return "both", ["rmi", data.ref], STORE_CLASSES
    if name == "fsck --repair":
        return "both", ["fsck", "--repair"], STORE_CLASSES
    script = f"sleep 0.4; touch /mark/ran; : {_marker(mark)}"
    return "both", ["run", "--rm", "-v", f"{mark}:/mark", data.ref, "sh", "-c", script], RUN_CLASSES


def _marker(mark: Path) -> str:
    """Names one point's container processes (argv of its sh)."""
    return "hoodkill-" + hashlib.sha256(str(mark).encode()).hexdigest()[:12]


def _leftovers(root: Path) -> None:
    """What fsck --repair has to remove: an orphaned layer dir with its short link, the
    leftovers of a killed run, a partial download."""
    overlay = root / "overlay2"
    orphan = overlay / ("e1" * 32)
    (orphan / "diff").mkdir(parents=True)
    (orphan / "link").write_text("KILLSWEEPORPHANKILLSWEEP01")
    os.symlink(f"../{orphan.name}/diff", overlay / "l" / "KILLSWEEPORPHANKILLSWEEP01")
    mount = root / "image/overlay2/layerdb/mounts" / ("9" * 64)
    mount.mkdir(parents=True)
    (mount / "mount-id").write_text("e2" * 32)
    (overlay / ("e2" * 32) / "diff").mkdir(parents=True)
    (root / "containers" / ("8" * 64)).mkdir(parents=True)
    downloads = root / "hood" / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    (downloads / f"sha256-{'7' * 64}.partial").write_bytes(b"half")


def _prepare(templates, start: str, dest: Path, leftovers: bool) -> Hood:
    dest.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", str(templates[start]), str(dest)], check=True)
    if leftovers:
        _leftovers(dest)
    return Hood(dest)


def _strace_argv(log: Path, syscall: str | None = None, n: int = 0) -> list[str]:
    argv = [strace.STRACE, "-f", "-q", "-ttt", "-o", str(log)]
    if syscall is None:
        return [*argv, "-e", f"trace={','.join(RUN_CLASSES)}"]
    return [*argv, "-e", f"trace={syscall}", "-e", f"inject={syscall}:signal=KILL:when={n}"]


_LINE = re.compile(r"^(\d+)\s+[\d.]+\s+(?:<\.\.\. )?([a-z0-9_]+)[( ]")


def _points(log: Path, classes: tuple[str, ...], per_class: int) -> list[tuple[str, int]]:
    """(syscall, N): per class, `per_class` calls spread over the traced run (N counts the
    syscall in its process, as strace's `when`)."""
    seen: dict[tuple[str, str], int] = {}
    calls: dict[str, set[int]] = {}
    for line in log.read_text(errors="replace").splitlines():
        m = _LINE.match(line)
        if not m or "resumed>" in line:
            continue
        pid, name = m.groups()
        seen[pid, name] = seen.get((pid, name), 0) + 1
        calls.setdefault(name, set()).add(seen[pid, name])
    out = []
    for name in classes:
        ns = sorted(calls.get(name, ()))
        if not ns:
            continue
        k = min(per_class, len(ns))
        picks = {ns[round((i + 1) * (len(ns) - 1) / (k + 1))] if k < len(ns) else ns[i]
                 for i in range(k)}  # fmt: skip
        out += [(name, n) for n in sorted(picks)]
    return out


def _hood_killed_at(log: Path, hood_pid: int | None) -> float | None:
    """When strace saw hood's own process killed (None: it was not)."""
    for line in log.read_text(errors="replace").splitlines():
        parts = line.split()
        if len(parts) > 2 and parts[0] == str(hood_pid) and "+++ killed by SIGKILL" in line:
            return float(parts[1])
    return None


def _first_pid(log: Path) -> int | None:
    for line in log.read_text(errors="replace").splitlines():
        if line.split()[:1] and line.split()[0].isdigit():
            return int(line.split()[0])
    return None


def _kill_and_check(templates, pushed, scenario: str, base: Path, syscall: str, n: int):
    mark = base / "mark"
    mark.mkdir(parents=True)
    mark.chmod(0o777)
    start, args, _ = _scenario(scenario, pushed, mark)
    hood = _prepare(templates, start, base / "root", scenario == "fsck --repair")
    env = pushed[0].registry.env
    log = base / "strace.log"
    t0 = time.monotonic()
    proc = subprocess.run([*_strace_argv(log, syscall, n), *hood.argv(*args)],
                          env=hood.environ(env), capture_output=True, text=True, timeout=120)  # fmt: skip
    where = f"{scenario}: killed at {syscall} #{n}"
    assert "Traceback" not in proc.stderr, f"{where}: {proc.stderr[-3000:]}"
    # strace dies as hood's own process died: -9 is hood killed, whichever thread it was
    outcome = "hood killed" if proc.returncode == -9 else f"exit {proc.returncode}"
    killed = _hood_killed_at(log, _first_pid(log))

    if scenario == "run --rm":
        ran = mark / "ran"
        if killed is not None and ran.exists():
            assert ran.stat().st_mtime <= killed + 0.05, (
                f"{where}: the container went on after its hood was killed"
            )
        marker = _marker(mark).encode()
        for pid in filter(str.isdigit, os.listdir("/proc")):
            with contextlib.suppress(OSError):
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                alive = argv[:1] in ([b"sh"], [b"sleep"]) and marker in b" ".join(argv)
                assert not alive, f"{where}: container process {pid} lives: {argv}"

    repair = hood.run("fsck", "--quick", "--repair")
    assert repair.status == 0 and "Traceback" not in repair.stderr, (
        f"{where}: fsck --repair\n{repair.stdout}\n{repair.stderr}"
    )
    check = hood.run("fsck", "--quick")
    assert check.status == 0 and "0 error(s), 0 leftover(s)" in check.stdout, (
        f"{where}: fsck after one --repair\n{repair.stdout}\n---\n{check.stdout}"
    )
    ids = hood.run("images", "-q", "--no-trunc").ok().stdout.split()
    if ids:  # every image listed is whole: it inspects
        hood.run("inspect", *ids).ok()
    if scenario == "run --rm":
        assert not hood.run("ps", "-aq").ok().stdout.strip(), f"{where}: a dead --rm is listed"
    mounts = [ln for ln in Path("/proc/self/mountinfo").read_text().splitlines()
              if str(hood.root) in ln]  # fmt: skip
    assert not mounts, f"{where}: mounts left: {mounts}"
    again = hood.run("pull", "-q", pushed[1].ref, env=env)
    assert again.status == 0, f"{where}: the next pull failed: {again.stderr}"
    if scenario == "run --rm":
        hood.run("run", "--rm", pushed[1].ref, "true").ok()
    if FULL:
        final = hood.run("fsck")
        assert final.status == 0, f"{where}: fsck after the next pull\n{final.stdout}"
    return outcome, time.monotonic() - t0


SCENARIOS = ["pull over shared layers", "rmi", "fsck --repair", "run --rm"]


def _sweep(tmp_path, templates, pushed, scenario: str, per_class: int, only=None) -> None:
    ref_base = tmp_path / "reference"
    mark = ref_base / "mark"
    mark.mkdir(parents=True)
    mark.chmod(0o777)
    start, args, classes = _scenario(scenario, pushed, mark)
    hood = _prepare(templates, start, ref_base / "root", scenario == "fsck --repair")
    log = ref_base / "strace.log"
    proc = subprocess.run([*_strace_argv(log), *hood.argv(*args)],
                          env=hood.environ(pushed[0].registry.env), capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    if scenario != "run --rm":  # the trace above only names the classes to look for
        log2 = ref_base / "strace-store.log"
        hood = _prepare(templates, start, ref_base / "root2", scenario == "fsck --repair")
        argv = [strace.STRACE, "-f", "-q", "-ttt", "-o", str(log2),
                "-e", f"trace={','.join(classes)}"]  # fmt: skip
        subprocess.run([*argv, *hood.argv(*args)], env=hood.environ(pushed[0].registry.env),
                       capture_output=True, timeout=120, check=True)  # fmt: skip
        log = log2
    points = _points(log, only or classes, per_class)
    assert len({name for name, _ in points}) >= min(3, len(only or classes)), points

    def one(item):
        i, (name, n) = item
        return name, n, _kill_and_check(templates, pushed, scenario, tmp_path / f"k{i:03d}", name, n)

    workers = 2 if (os.cpu_count() or 1) <= 2 else 4
    with ThreadPoolExecutor(workers) as pool:
        outcomes = list(pool.map(one, enumerate(points)))
    killed = [o for o in outcomes if o[2][0] == "hood killed"]
    print(f"{scenario}: {len(points)} points, hood itself killed at {len(killed)}:", outcomes)
    assert killed, f"{scenario}: no point killed hood itself: {outcomes}"


# The quick sweep's classes: one point each (CI: about a minute in all).
QUICK = {
    "pull over shared layers": ("openat", "write", "rename", "symlink", "mkdir", "unlink"),
    "rmi": ("write", "rename", "unlink", "unlinkat"),
    "fsck --repair": ("write", "unlink", "unlinkat"),
    "run --rm": ("mkdir", "rename", "unlinkat", "mount", "clone", "unshare", "execve", "wait4"),
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_killed_anywhere_quick(tmp_path, templates, pushed, scenario):
    """One point in each of the main syscall classes of each command (CI)."""
    if FULL:
        pytest.skip("HOOD_KILL_POINTS is set: the full sweep runs instead")
    _sweep(tmp_path, templates, pushed, scenario, 1, QUICK[scenario])


@pytest.mark.killsweep
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_killed_anywhere_full(request, tmp_path, templates, pushed, scenario):
    """HOOD_KILL_POINTS (default 6) points per syscall class of each command: asked for
    with `-m killsweep` or HOOD_KILL_POINTS (about 10 minutes at 6)."""
    if not FULL and "killsweep" not in (request.config.option.markexpr or ""):
        pytest.skip("the full kill sweep: pytest -m killsweep, or HOOD_KILL_POINTS=N")
    _sweep(tmp_path, templates, pushed, scenario, FULL or 6)

