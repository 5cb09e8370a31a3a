"""run options against a real busybox image: cgroup limits (--memory, --cpus, --pids-limit),
logs -f, stop's timeout and signals, --env-file, --tmpfs, -w, --hostname, --name, ps --format
and container prune. Every test leaves no container, mount or cgroup behind."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

CGROUP = Path("/sys/fs/cgroup")


def _cgroup_file(cid: str, controller: str, name: str) -> Path:
    if (CGROUP / "cgroup.controllers").exists():  # v2: one hierarchy
        return CGROUP / "hood" / cid / name
    return CGROUP / controller / "hood" / cid / name


def _hood_cgroups() -> set[Path]:
    """hood's container cgroups: CGROUP/hood/ID (v2) or CGROUP/CONTROLLER/hood/ID (v1).
    Not a recursive glob: a container's own sub-cgroups come and go while it is walked."""
    found = set()
    for parent in (CGROUP / "hood", *CGROUP.glob("*/hood")):
        try:
            found.update(d for d in parent.iterdir() if len(d.name) == 64 and d.is_dir())
        except OSError:  # removed while listed
            continue
    return found


@pytest.fixture(autouse=True)
def no_containers_or_cgroups_left(hood, data_root):
    before = _hood_cgroups()
    yield
    left = hood("ps", "-aq", "--no-trunc").stdout.split()
    if left:
        hood("rm", "-f", *left)
    deadline = time.monotonic() + 3
    while _hood_cgroups() - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _hood_cgroups() - before, "cgroups left behind"
    assert not left, f"containers left behind: {left}"


def _wait_for_log(hood, cid: str, text: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while text not in hood("logs", cid).stdout:
        assert time.monotonic() < deadline, f"{text!r} never showed in the logs"
        time.sleep(0.05)


def _status(hood, cid: str) -> str:
    return hood("ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Status}}").stdout.split(cid)[1]


def _skip_without_cgroups(r) -> None:
    if r.returncode == 125 and "cgroup" in r.stderr:
        pytest.skip(r.stderr)


def test_memory_oom_killed_137(hood):
    # tail on /dev/zero keeps one ever-growing "line": past 32 MiB the OOM killer ends it.
    r = hood("run", "--rm", "--memory", "32m", "busybox", "tail", "/dev/zero")
    _skip_without_cgroups(r)
    assert r.returncode == 137, r.stderr
    r = hood(
        "run", "--rm", "--memory", "32m", "busybox", "sh", "-c", "head -c 1000000 /dev/zero | wc -c"
    )
    assert (r.returncode, r.stdout) == (0, "1000000\n")


def test_cpus_written_as_docker_does(hood):
    r = hood("run", "-d", "--cpus", "1.5", "--memory", "64m", "busybox", "sleep", "30")
    _skip_without_cgroups(r)
    cid = r.stdout.strip()
    cpu_max = _cgroup_file(cid, "cpu", "cpu.max")
    if cpu_max.parent.parent.parent == CGROUP:  # v2
        assert cpu_max.read_text().split() == ["150000", "100000"]
        assert _cgroup_file(cid, "memory", "memory.max").read_text().strip() == str(64 << 20)
    else:  # v1: CFS quota and period
        assert _cgroup_file(cid, "cpu", "cpu.cfs_period_us").read_text().strip() == "100000"
        assert _cgroup_file(cid, "cpu", "cpu.cfs_quota_us").read_text().strip() == "150000"
        mem = _cgroup_file(cid, "memory", "memory.limit_in_bytes")
        assert mem.read_text().strip() == str(64 << 20)
    doc = json.loads(hood("inspect", cid).stdout)[0]["HostConfig"]
    assert (doc["NanoCpus"], doc["Memory"]) == (1_500_000_000, 64 << 20)
    assert hood("rm", "-f", cid).returncode == 0


def test_pids_limit_caps_a_fork_bomb(hood):
    # A bounded bomb (2^9 processes uncapped, each living 5 s): each shell forks two more
    # down to depth 8. It runs in the background: a shell whose fork is refused at the cap
    # may end, and the container's first process must not (it execs, needing no fork).
    bomb = (
        "b() { if [ $1 -gt 0 ]; then b $(($1-1)) & b $(($1-1)) & fi; sleep 5; };"
        " b 8 2>/dev/null & exec sleep 60"
    )
    r = hood("run", "-d", "--pids-limit", "20", "busybox", "sh", "-c", bomb)
    _skip_without_cgroups(r)
    cid = r.stdout.strip()
    try:
        assert _cgroup_file(cid, "pids", "pids.max").read_text().strip() == "20"
        events = _cgroup_file(cid, "pids", "pids.events")
        deadline = time.monotonic() + 60  # a loaded machine forks slowly
        while True:
            current = int(_cgroup_file(cid, "pids", "pids.current").read_text())
            refused = int(events.read_text().split()[1]) if events.exists() else 0
            assert current <= 20
            if refused > 0 or (not events.exists() and current == 20):
                break
            assert time.monotonic() < deadline, f"the bomb never reached the cap ({current} processes)"
            time.sleep(0.05)
    finally:
        assert hood("rm", "-f", cid).returncode == 0


def test_logs_follow_until_exit(hood):
    cid = hood(
        "run",
        "-d",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3; do echo $i; sleep 0.3; done; echo e >&2",
    ).stdout.strip()
    t = time.monotonic()
    r = hood("logs", "-f", cid, timeout=20)
    assert time.monotonic() - t > 0.5  # it waited for the rest
    assert (r.returncode, r.stdout, r.stderr) == (0, "1\n2\n3\n", "e\n")
    assert "Exited (0)" in _status(hood, cid)
    assert hood("rm", cid).returncode == 0


def test_stop_term_trapped_and_ignored(hood):
    cid = hood(
        "run",
        "-d",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 3' TERM; echo ready; while :; do sleep 0.1; done",
    ).stdout.strip()
    _wait_for_log(hood, cid, "ready")
    t = time.monotonic()
    assert hood("stop", cid).returncode == 0
    assert time.monotonic() - t < 5
    assert "Exited (3)" in _status(hood, cid)
    # PID 1 without a TERM handler ignores it (the kernel's rule for a namespace's init):
    # killed once -t runs out.
    cid2 = hood("run", "-d", "busybox", "sleep", "60").stdout.strip()
    t = time.monotonic()
    assert hood("stop", "-t", "1", cid2).returncode == 0
    assert 1 <= time.monotonic() - t < 6
    assert "Exited (137)" in _status(hood, cid2)
    # -s: another signal first
    cid3 = hood(
        "run",
        "-d",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 5' USR1; echo ready; while :; do sleep 0.1; done",
    ).stdout.strip()
    _wait_for_log(hood, cid3, "ready")
    assert hood("stop", "-s", "USR1", cid3).returncode == 0
    assert "Exited (5)" in _status(hood, cid3)
    assert hood("rm", cid, cid2, cid3).returncode == 0


def test_env_file(hood, tmp_path, monkeypatch):
    monkeypatch.setenv("FROMHOST", "hostvalue")
    monkeypatch.delenv("NOTSET", raising=False)
    f = tmp_path / "env"
    f.write_text('# comment\n\nA=1\nQUOTED="q x" \n  FROMHOST\nNOTSET\nEMPTY=\nB=b=c\n')
    r = hood("run", "--rm", "--env-file", str(f), "-e", "A=2", "busybox", "env")
    env = r.stdout.splitlines()
    assert env[:2][0].startswith("PATH=") and env[1].startswith("HOSTNAME=")
    assert env[2:] == [
        "A=2",
        'QUOTED="q x" ',
        "FROMHOST=hostvalue",
        "EMPTY=",
        "B=b=c",
        "HOME=/root",
    ]
    r = hood("run", "--rm", "--env-file", str(tmp_path / "nope"), "busybox", "true")
    assert r.returncode == 125 and "nope" in r.stderr


def test_tmpfs_options(hood):
    r = hood(
        "run",
        "--rm",
        "--tmpfs",
        "/t:size=1m,mode=1770,uid=1000",
        "--tmpfs",
        "/e:exec",
        "busybox",
        "sh",
        "-c",
        "grep -E ' /(t|e) ' /proc/mounts; stat -c '%a %u' /t;"
        " head -c 2000000 /dev/zero > /t/big 2>/dev/null || echo full;"
        " cp /bin/busybox /e/true && /e/true && echo ran",
    )
    lines = r.stdout.splitlines()
    t = next(ln.split()[3].split(",") for ln in lines if " /t " in ln)
    e = next(ln.split()[3].split(",") for ln in lines if " /e " in ln)
    assert {"rw", "nosuid", "nodev", "noexec", "size=1024k", "mode=1770", "uid=1000"} <= set(t)
    assert {"nosuid", "nodev"} <= set(e) and "noexec" not in e
    assert lines[2:] == ["1770 1000", "full", "ran"]


def test_workdir_created_hostname(hood):
    r = hood(
        "run", "--rm", "-u", "alice", "-w", "/made/here", "busybox", "sh", "-c", "pwd; stat -c %u ."
    )
    assert r.stdout == "/made/here\n0\n"  # made by the runtime, as root, as docker does
    r = hood(
        "run",
        "--rm",
        "--hostname",
        "myhost",
        "busybox",
        "sh",
        "-c",
        "hostname; cat /etc/hostname; uname -n",
    )
    assert r.stdout == "myhost\n" * 3


def test_name_conflict(hood):
    cid = hood("create", "--name", "taken", "busybox", "true").stdout.strip()
    r = hood("run", "--rm", "--name", "taken", "busybox", "true")
    assert r.returncode == 125
    assert (
        f'Conflict. The container name "/taken" is already in use by container "{cid}".'
        " You have to remove (or rename) that container to be able to reuse that name." in r.stderr
    )
    assert hood("create", "--name", "bad/name", "busybox", "true").returncode == 125
    assert hood("rm", "taken").returncode == 0


def test_ps_format_and_prune(hood):
    done = hood(
        "run", "--name", "done1", "busybox", "sh", "-c", "head -c 2000 /dev/zero > /f"
    ).stdout
    assert done == ""
    hood("create", "--name", "made1", "busybox", "true")
    up = hood("run", "-d", "--name", "up1", "busybox", "sleep", "30").stdout.strip()
    r = hood("ps", "--format", "{{.ID}}|{{.Names}}|{{.State}}|{{json .Command}}")
    assert r.stdout == f'{up[:12]}|up1|running|"\\"sleep 30\\""\n'
    r = hood("ps", "-a", "--format", "table {{.Names}}\t{{.Status}}")
    lines = r.stdout.splitlines()
    assert lines[0] == "NAMES     STATUS"
    assert {ln.split()[0] for ln in lines[1:]} == {"done1", "made1", "up1"}
    assert re.search(r"^done1\s+Exited \(0\) ", r.stdout, re.M)
    row = json.loads(hood("ps", "--format", "json").stdout)
    assert (row["Names"], row["State"], row["ID"]) == ("up1", "running", up[:12])
    # without -f: docker's question; no answer is no
    r = hood("container", "prune")
    assert r.stdout.startswith("WARNING! This will remove all stopped containers.\n")
    assert len(hood("ps", "-aq").stdout.split()) == 3
    ids = {n: hood("inspect", "-f", "{{.Id}}", n).stdout.strip() for n in ("done1", "made1")}
    r = hood("container", "prune", "-f")
    out = r.stdout.splitlines()
    assert out[0] == "Deleted Containers:" and set(out[1:3]) == set(ids.values())
    assert out[3:] == ["", "Total reclaimed space: 2kB"]
    assert hood("ps", "-aq").stdout.split() == [up[:12]]
    assert hood("rm", "-f", up).returncode == 0
