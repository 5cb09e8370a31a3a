"""`hood manifest inspect` prints what `docker manifest inspect` prints for the same registry
(the docker CLI talks to the registry itself; no daemon), and pulls nothing."""

from __future__ import annotations

import shutil
import subprocess

import pytest

NAMES = ["busybox", "busybox-oci", "layers", "multiarch", "multiarch-docker", "zstd"]


def _docker_manifest(tmp_path, *args):
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker CLI")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DOCKER_CONFIG": str(tmp_path / "cfg")}
    (tmp_path / "cfg").mkdir(exist_ok=True)
    return subprocess.run(
        [docker, "manifest", "inspect", "--insecure", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("verbose", [[], ["--verbose"]], ids=["plain", "verbose"])
@pytest.mark.parametrize("name", NAMES)
def test_same_as_docker(hood, plain_images, tmp_path, name, verbose):
    ref = plain_images[name].ref
    d = _docker_manifest(tmp_path, *verbose, ref)
    assert d.returncode == 0, d.stderr
    h = hood.run("manifest", "inspect", "--insecure", *verbose, ref).ok()
    assert h.stdout == d.stdout
    assert not hood.root.exists() or not any(hood.root.rglob("*.json")), "something was stored"


def test_missing_manifest(hood, plain_registry, plain_images, tmp_path):
    ref = f"{plain_registry.host}/library/nosuch:latest"
    d = _docker_manifest(tmp_path, ref)
    h = hood.run("manifest", "inspect", "--insecure", ref).failed()
    assert h.stderr == d.stderr
