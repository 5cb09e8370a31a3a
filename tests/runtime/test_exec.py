"""exec: a new process in a running container's namespaces and cgroup, with its
capabilities, environment and user rules; docker exec's exit codes."""

from __future__ import annotations

import os
import pty
import select
import sys
import time

import pytest
from conftest import SRC


@pytest.fixture
def running(hood):
    cid = hood("run", "-d", "-e", "FROM_RUN=1", "busybox", "sleep", "60").stdout.strip()
    assert len(cid) == 64
    time.sleep(0.2)
    yield cid
    hood("rm", "-f", cid)


def test_exec_joins_the_containers_namespaces(hood, running):
    pid = hood("inspect", "-f", "{{.State.Pid}}", running).stdout.strip()
    names = ("mnt", "pid", "net", "uts", "ipc")
    script = "; ".join(f"readlink /proc/self/ns/{n}" for n in names)
    r = hood("exec", running, "sh", "-c", script)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [os.readlink(f"/proc/{pid}/ns/{n}") for n in names]
    # PID 1 in there is the container's own process
    assert hood("exec", running, "cat", "/proc/1/cmdline").stdout == "sleep\x0060\x00"
    with open(f"/proc/{pid}/cgroup") as f:
        cgroup = f.read()
    assert hood("exec", running, "cat", "/proc/self/cgroup").stdout == cgroup


def test_exec_capabilities_env_user_workdir(hood, running):
    caps = hood("exec", running, "grep", "CapEff", "/proc/self/status").stdout.split()[-1]
    assert caps == "00000000a80425fb"  # docker's default set
    privileged = hood("exec", "--privileged", running, "grep", "CapEff", "/proc/self/status")
    assert privileged.stdout.split()[-1] != caps
    env = hood("exec", "-e", "A=1", running, "env").stdout.splitlines()
    assert "FROM_RUN=1" in env and "A=1" in env and env[0].startswith("PATH=")
    assert any(e.startswith("HOSTNAME=") for e in env) and "HOME=/root" in env
    assert hood("exec", "-u", "1000", running, "id", "-u").stdout == "1000\n"
    assert hood("exec", "-w", "/etc", running, "pwd").stdout == "/etc\n"


def test_exec_exit_codes(hood, running):
    assert hood("exec", running, "sh", "-c", "exit 7").returncode == 7
    missing = hood("exec", running, "nosuchcmd")
    assert missing.returncode == 126 and "executable file not found" in missing.stderr
    stopped = hood("create", "busybox", "true").stdout.strip()
    try:
        r = hood("exec", stopped, "true")
        assert r.returncode == 1 and f"Container {stopped} is not running" in r.stderr
    finally:
        hood("rm", stopped)


def test_exec_detached(hood, running):
    r = hood("exec", "-d", running, "sh", "-c", "sleep 0.2; echo done > /tmp/detached")
    assert r.returncode == 0 and r.stdout == ""
    time.sleep(1)
    assert hood("exec", running, "cat", "/tmp/detached").stdout == "done\n"


def test_exec_tty_gets_a_pty(hood, running):
    env = dict(os.environ, PYTHONPATH=str(SRC))
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(
            sys.executable,
            [sys.executable, "-m", "hood.cli.main", "--root", str(hood.root), "exec", "-t", running, "tty"],
            env,
        )
    out = b""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if select.select([fd], [], [], 0.5)[0]:
            try:
                data = os.read(fd, 1024)
            except OSError:
                break
            if not data:
                break
            out += data
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, out
    assert out.strip().startswith(b"/dev/pts/"), out
