"""A hood killed while it runs a container: the container never runs on without it, and
what a dead `--rm` run left is removed by the next command that looks at containers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import fixture
import pytest
from conftest import APP_CONFIG

SRC = Path(__file__).resolve().parents[2] / "src"

# Creates a container whose command would touch /mark/ran a second after it starts, and
# kills this process (SIGKILL) at the point named by argv[3]: "before-go" (the child is
# forked and in its cgroup, the go-ahead not sent) or "started" (the command was exec'd).
HARNESS = """
import os, signal, sys
from hood.runtime import builtin, cgroups
from hood.runtime.mount_spec import Bind
from hood.runtime.spec import RunOptions
from hood.services.container_lifecycle import _launch
from hood.services.container_create import create_container
from hood.store.layout import Layout

root, mark, where = sys.argv[1:4]
layout = Layout(root)
opts = RunOptions(
    args=["sh", "-c", "sleep 1; touch /mark/ran"], binds=[Bind(mark, "/mark")], pids_limit=100
)
c = create_container(layout, "busybox", opts)
print(c.id, flush=True)
launch = _launch(layout, c, False)

def die(pid):
    print(pid, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)

if where == "before-go":
    cgroups.Cgroup.add = lambda self, pid: die(pid)
else:
    launch.on_started = die
builtin.run(launch)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.mark.parametrize("where", ["before-go", "started"])
def test_container_dies_with_its_hood(hood, data_root, tmp_path, where):
    mark = tmp_path / "mark"
    mark.mkdir()
    proc = subprocess.run(
        [sys.executable, "-c", HARNESS, str(data_root), str(mark), where],
        env=dict(os.environ, PYTHONPATH=str(SRC)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    cid, pid = proc.stdout.split()
    time.sleep(0.2)
    assert not _alive(int(pid)), f"the container's process {pid} outlived its hood"
    time.sleep(1.5)  # the command would have touched the mark by now
    assert not (mark / "ran").exists(), "the container ran after its hood died"
    assert hood("rm", "-f", cid).returncode == 0
    # the dead hood's cgroups go with the container
    assert not list(Path("/sys/fs/cgroup").glob(f"*/hood/{cid}"))
    assert not (Path("/sys/fs/cgroup/hood") / cid).exists()


def _wait_for(pred, what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _names(hood) -> list[str]:
    return hood("ps", "-a", "--format", "{{.Names}}").stdout.split()


def _start_killable_run(data_root, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "hood.cli.main", "--root", str(data_root), "run", *args],
        env=dict(os.environ, PYTHONPATH=str(SRC)),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.mark.parametrize("command", [["ps", "-a"], ["container", "prune", "-f"], ["rmi", "app"]])
def test_dead_rm_run_is_removed_by_the_next_command(hood, data_root, layers, command):
    before = set(os.listdir(data_root / "overlay2"))
    proc = _start_killable_run(data_root, "--rm", "--name", "doomed", "--entrypoint", "sleep", "app", "60")
    cdir = None

    def started() -> bool:
        nonlocal cdir
        for d in (data_root / "containers").iterdir():
            try:
                doc = json.loads((d / "config.v2.json").read_text())
            except (OSError, ValueError):  # not complete yet
                continue
            if doc["State"].get("Running"):
                cdir = d
                return True
        return False

    _wait_for(started, "the container to start")
    pid = json.loads((cdir / "config.v2.json").read_text())["State"]["Pid"]
    proc.kill()
    proc.wait()
    _wait_for(lambda: not _alive(pid), "the container to die with its hood", 5)
    assert (cdir / "hostconfig.json").exists()  # what a killed `--rm` run leaves
    if command[0] == "rmi":
        # `app` is in use by no one once the dead run's container is gone: untagged
        r = hood(*command)
        assert r.returncode == 0, r.stderr
        # no conflict: the dead run's container that used `app` went first
        fixture.store_image(data_root, "app:latest", layers, APP_CONFIG)  # for other tests
    else:
        r = hood(*command)
        assert r.returncode == 0, r.stderr
        assert "doomed" not in r.stdout
    assert not cdir.exists()
    assert not list((data_root / "containers").iterdir())
    assert not list((data_root / "image/overlay2/layerdb/mounts").iterdir())
    assert set(os.listdir(data_root / "overlay2")) == before
    assert not (data_root / "hood" / "containers" / cdir.name).exists()
    assert not list(Path("/sys/fs/cgroup").glob(f"*/hood/{cdir.name}"))


def test_create_rm_is_kept_until_it_has_run(hood, data_root):
    """`create --rm` is not a dead run: it stays Created; once started and done, it goes."""
    cid = hood("create", "--rm", "--name", "later", "busybox", "true").stdout.strip()
    assert "later" in _names(hood)
    assert hood("container", "prune", "-f").returncode == 0  # prune removes it (stopped)
    assert "later" not in _names(hood)
    cid = hood("create", "--rm", "--name", "later", "busybox", "true").stdout.strip()
    assert "later" in _names(hood)
    assert hood("start", "-a", cid).returncode == 0
    assert "later" not in _names(hood)


def test_running_rm_container_is_not_swept(hood, data_root):
    loop = "trap 'exit 0' TERM; while :; do sleep 0.1; done"
    proc = _start_killable_run(data_root, "--rm", "--name", "alive", "busybox", "sh", "-c", loop)
    try:
        _wait_for(lambda: "alive" in _names(hood), "the container")
        assert "alive" in hood("ps").stdout
        assert hood("container", "prune", "-f").returncode == 0
        assert "alive" in _names(hood)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    _wait_for(lambda: "alive" not in _names(hood), "the --rm container to go")
