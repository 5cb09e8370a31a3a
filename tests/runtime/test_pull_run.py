"""`run --pull missing|always|never` and `--platform` against a real registry (Debian's
docker-registry on 127.0.0.1), with docker's stderr for the pull."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture
def run(tmp_path, registry):
    root = tmp_path / "root"

    def hood(*args: str):
        env = dict(os.environ, PYTHONPATH=str(SRC), HOOD_INSECURE_REGISTRIES=registry.host)
        env.pop("HOOD_ROOT", None)
        return subprocess.run(
            [sys.executable, "-m", "hood.cli.main", "--root", str(root), *args],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            stdin=subprocess.DEVNULL,
        )

    yield hood
    assert not [
        ln for ln in Path("/proc/self/mountinfo").read_text().splitlines() if str(root) in ln
    ]


def test_pull_missing_then_present(run, registry):
    ref = f"{registry.host}/rt/multi"
    r = run("run", "--rm", ref, "echo", "ok")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "ok\n"
    lines = r.stderr.splitlines()
    assert lines[0] == f"Unable to find image '{ref}:latest' locally"
    assert lines[1] == "latest: Pulling from rt/multi"
    assert any(ln.startswith("Digest: sha256:") for ln in lines)
    assert lines[-1] == f"Status: Downloaded newer image for {ref}:latest"
    again = run("run", "--rm", ref, "echo", "ok")
    assert (again.returncode, again.stdout, again.stderr) == (0, "ok\n", "")
    always = run("run", "--rm", "--pull", "always", ref, "echo", "ok")
    assert always.returncode == 0 and always.stdout == "ok\n"
    assert "Unable to find" not in always.stderr
    assert always.stderr.splitlines()[-1] == f"Status: Image is up to date for {ref}:latest"


def test_pull_never(run, registry):
    r = run("run", "--rm", "--pull", "never", f"{registry.host}/rt/multi", "true")
    assert r.returncode == 125
    assert f"No such image: {registry.host}/rt/multi" in r.stderr
    assert "Pulling" not in r.stderr


def test_platform_is_pulled_and_enforced(run, registry):
    ref = f"{registry.host}/rt/multi"
    r = run("run", "--rm", "--platform", "linux/arm64", ref)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "arm64 config\n"  # the arm64 image's Cmd, not the amd64 one's
    # the tag now names the arm64 image: amd64 without pulling is refused, not run
    r = run("run", "--rm", "--pull", "never", "--platform", "linux/amd64", ref, "true")
    assert r.returncode == 125
    assert "does not match the specified platform: wanted linux/amd64, actual: linux/arm64" in (
        r.stderr
    )
    # with pulling allowed, the amd64 one is fetched and run
    r = run("run", "--rm", "--platform", "linux/amd64", ref, "echo", "amd")
    assert (r.returncode, r.stdout) == (0, "amd\n"), r.stderr


def test_platform_the_registry_lacks(run, registry):
    r = run("run", "--rm", "--platform", "linux/amd64", f"{registry.host}/rt/armonly", "true")
    assert r.returncode == 125
    assert "platform" in r.stderr
    assert "linux/amd64" in r.stderr
