"""Real parts for the runtime tests: a busybox-static image in a private hood data root, a hood
runner, and (when it can start) a private dockerd with the same image loaded."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
SRC = HERE.parents[1] / "src"

import fixture  # noqa: E402

IMAGE_CONFIG = {
    "Cmd": ["sh"],
    "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
}
# An image where Entrypoint, Cmd, Env, WorkingDir and User all matter.
APP_CONFIG = {
    "Entrypoint": ["/bin/sh", "-c", 'echo "ep:$0:$*:$GREETING:$(pwd):$(id -u)"'],
    "Cmd": ["first", "second"],
    "Env": ["PATH=/bin", "GREETING=hi"],
    "WorkingDir": "/srv/app",
    "User": "alice",
}

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the runtime tests need root")


def _mountinfo() -> str:
    return Path("/proc/self/mountinfo").read_text()


@pytest.fixture(scope="session")
def layers() -> list[bytes]:
    return fixture.busybox_layers()


@pytest.fixture(scope="session")
def data_root(tmp_path_factory, layers) -> Path:
    root = tmp_path_factory.mktemp("hood") / "root"
    sys.path.insert(0, str(SRC))
    fixture.store_image(root, "busybox:latest", layers, IMAGE_CONFIG)
    fixture.store_image(root, "app:latest", layers, APP_CONFIG)
    yield root
    leftover = [ln for ln in _mountinfo().splitlines() if str(root) in ln]
    for line in leftover:
        subprocess.run(["umount", "-l", line.split()[4]], check=False)
    assert not leftover, f"mounts left behind: {leftover}"


class HoodRunner:
    def __init__(self, root: Path):
        self.root = root

    def __call__(self, *args: str, timeout: float = 60, input: str | None = None):
        env = dict(os.environ, PYTHONPATH=str(SRC))
        env.pop("HOOD_ROOT", None)
        return subprocess.run(
            [sys.executable, "-m", "hood.cli.main", "--root", str(self.root), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
        )


@pytest.fixture(scope="session")
def hood(data_root) -> HoodRunner:
    return HoodRunner(data_root)


@pytest.fixture(autouse=True)
def no_leftovers(request):
    """After every test: no container mounts and no stray container processes."""
    yield
    if "data_root" not in request.fixturenames:
        return
    root = request.getfixturevalue("data_root")
    mounts = [ln for ln in _mountinfo().splitlines() if str(root) in ln]
    assert not mounts, mounts


@pytest.fixture(scope="session")
def dockerd(tmp_path_factory, layers):
    """A private dockerd with the same busybox layers loaded as hoodtest/busybox and app."""
    if shutil.which("dockerd") is None and not Path("/usr/sbin/dockerd").exists():
        pytest.skip("dockerd is not installed")
    base = Path("/tmp") / f"hood-dockerd-{os.getpid()}"
    base.mkdir(exist_ok=True)
    sock = base / "docker.sock"
    log = open(base / "log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            "/usr/sbin/dockerd",
            "--data-root",
            str(base / "root"),
            "--exec-root",
            str(base / "exec"),
            "-H",
            f"unix://{sock}",
            "--pidfile",
            str(base / "pid"),
            "--bridge",
            "none",
            "--iptables=false",
            "--ip6tables=false",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    docker = ["docker", "-H", f"unix://{sock}"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if subprocess.run([*docker, "version"], capture_output=True).returncode == 0:
            break
        time.sleep(0.3)
    else:
        proc.kill()
    if proc.poll() is not None:
        pytest.skip(f"dockerd cannot start here: {(base / 'log').read_text()[-500:]}")
    tmp = tmp_path_factory.mktemp("archive")
    for name, cfg in (
        ("hoodtest/busybox:latest", IMAGE_CONFIG),
        ("hoodtest/app:latest", APP_CONFIG),
    ):
        archive = tmp / (name.replace("/", "_") + ".tar")
        fixture.docker_archive(archive, name, layers, cfg)
        subprocess.run([*docker, "load", "-i", str(archive)], check=True, capture_output=True)
    yield docker
    subprocess.run(
        [
            *docker,
            "rm",
            "-f",
            *subprocess.run([*docker, "ps", "-aq"], capture_output=True, text=True).stdout.split(),
        ],
        capture_output=True,
    )
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    from support.dockerd import unmount_below

    unmount_below(base)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def dockerd_root(dockerd) -> Path:
    """The data root of the `dockerd` fixture's daemon."""
    return Path("/tmp") / f"hood-dockerd-{os.getpid()}" / "root"


@pytest.fixture(scope="session")
def registry():
    """A local docker-registry with rt/multi (amd64 + arm64), rt/armonly and rt/layers."""
    from support import images
    from support import registry as reg_mod

    if not Path(reg_mod.REGISTRY_BIN).exists():
        pytest.skip("docker-registry is not installed")
    reg = reg_mod.start_plain()
    try:
        amd = images.busybox()
        arm = images.build_image(
            "busybox-arm64",
            amd.layers,
            docker=True,
            arch="arm64",
            config={"Cmd": ["echo", "arm64 config"], "Env": ["PATH=/bin"]},
        )
        images.push(reg, images.build_index("multi", [amd, arm], docker=True), "rt/multi")
        images.push(reg, arm, "rt/armonly")
        images.push(reg, images.layers_image(docker=True), "rt/layers")
        yield reg
    finally:
        reg.stop()
