"""Containers shared with dockerd: a dockerd started on hood's data root lists, starts, logs,
diffs, commits, exports and removes hood's containers; hood does the same with containers
dockerd created. Both keep them as dockerd does (the init layer, docker's keys only)."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

import pytest
from support.dockerd import Dockerd
from support.hood import Hood

pytestmark = [
    pytest.mark.dockerd,
    pytest.mark.skipif(os.geteuid() != 0, reason="dockerd and runs need root"),
]


@pytest.fixture
def shared(plain_registry, plain_images):
    """A data root hood pulled busybox into; a dockerd (not started yet) for the same root."""
    workdir = Path(tempfile.mkdtemp(prefix="hood-dockerd-", dir="/tmp"))
    hood = Hood(workdir / "data")
    ref = plain_images["busybox"].ref
    hood.run("pull", "-q", ref, env=plain_registry.env).ok()
    daemon = Dockerd(workdir, [plain_registry.host])
    try:
        yield hood, daemon, ref
    finally:
        daemon.stop()


def _docker(daemon: Dockerd, *args: str) -> subprocess.CompletedProcess:
    return daemon.docker(*args, check=False)


def test_dockerd_runs_hoods_container(shared):
    hood, daemon, ref = shared
    cid = hood.run("create", "--name", "fromhood", ref, "sh", "-c", "echo hello; echo x > /made").ok().stdout.strip()
    daemon.start()
    assert "fromhood" in _docker(daemon, "ps", "-a", "--format", "{{.Names}}").stdout.split()
    started = _docker(daemon, "start", "-a", "fromhood")
    assert started.returncode == 0, started.stderr
    assert started.stdout == "hello\n"
    assert _docker(daemon, "logs", "fromhood").stdout == "hello\n"
    # the init layer keeps what the runtime needs out of the container's own changes
    assert _docker(daemon, "diff", "fromhood").stdout.split("\n")[:-1] == ["A /made"]
    assert hood.run("diff", "fromhood").ok().stdout == "A /made\n"
    committed = _docker(daemon, "commit", "fromhood", "fromhood:committed")
    assert committed.returncode == 0, committed.stderr
    exported = subprocess.run(
        ["docker", "-H", daemon.host, "export", "fromhood"], capture_output=True, env=daemon.env()
    )
    assert exported.returncode == 0
    with tarfile.open(fileobj=io.BytesIO(exported.stdout)) as tf:
        assert "made" in tf.getnames()
    # dockerd rewrote config.v2.json: hood still reads it
    ps = hood.run("ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Status}}").ok().stdout
    assert f"{cid} Exited (0)" in ps
    assert _docker(daemon, "rm", "fromhood").returncode == 0
    assert cid not in hood.run("ps", "-aq", "--no-trunc").ok().stdout


def test_hood_runs_dockers_container(shared):
    hood, daemon, ref = shared
    daemon.start()
    made = _docker(
        daemon, "create", "--name", "fromdocker", "--network", "none", ref, "sh", "-c", "echo out; echo y > /x"
    )
    assert made.returncode == 0, made.stderr
    cid = made.stdout.strip()
    daemon.stop_daemon()
    started = hood.run("start", "-a", "fromdocker")
    assert started.status == 0, started.stderr
    assert started.stdout == "out\n"
    assert hood.run("logs", "fromdocker").ok().stdout == "out\n"
    assert hood.run("diff", "fromdocker").ok().stdout == "A /x\n"
    image = hood.run("commit", "fromdocker", "fromdocker:c").ok().stdout.strip()
    assert image.startswith("sha256:")
    assert hood.run("rm", "fromdocker").ok()
    assert not (hood.root / "containers" / cid).exists()
    assert not (hood.root / "image/overlay2/layerdb/mounts" / cid).exists()


def test_commit_of_a_running_container_paused_or_not(shared):
    """Paused, a container's files are copied from its upper dir as they stand; not paused,
    they are read once, as a tar, since they may change. The same layer either way, and the
    container runs on."""
    hood, _daemon, ref = shared
    script = "mkdir -p /d && seq 1 20000 > /d/f && ln /d/f /d/g && rm /bin/ls && touch /made && sleep 600"
    hood.run("run", "-d", "--network", "none", "--name", "live", ref, "sh", "-c", script).ok()
    try:
        for _ in range(100):
            if "A /made" in hood.run("diff", "live").ok().stdout:
                break
            time.sleep(0.1)
        paused = hood.run("commit", "live", "live:paused").ok().stdout.strip()
        unpaused = hood.run("commit", "--pause=false", "live", "live:unpaused").ok().stdout.strip()
        layers = [hood.run("inspect", "-f", "{{json .RootFS.Layers}}", i).ok().stdout for i in (paused, unpaused)]
        assert layers[0] == layers[1]
        assert hood.run("inspect", "-f", "{{.State.Status}}", "live").ok().stdout.strip() == "running"
    finally:
        hood.run("rm", "-f", "live")
