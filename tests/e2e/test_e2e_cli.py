"""The command line against docker's CLI (28, installed with the suite): the same mistakes
get the same words and exit statuses, the same commands the same help. Neither needs a
daemon: docker's CLI refuses these before it connects."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from support.hood import Hood

DOCKER = shutil.which("docker")
pytestmark = pytest.mark.skipif(DOCKER is None, reason="the docker CLI is not installed")


def _docker(tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["DOCKER_CONFIG"] = str(tmp_path / "docker-config")
    env["DOCKER_HOST"] = f"unix://{tmp_path}/no-daemon.sock"
    env.pop("COLUMNS", None)
    return subprocess.run(
        [DOCKER, *args], capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL
    )


# Command lines both refuse the same way: hood's usage lines are docker's for these.
MISTAKES = [
    ["run", "--foo"],
    ["run"],
    ["run", "-x", "busybox"],
    ["run", "-ix", "busybox"],
    ["run", "-d=x", "busybox"],
    ["run", "--rm=maybe", "busybox"],
    ["run", "-e"],
    ["run", "-ie"],
    ["run", "--memory"],
    ["run", "--=x"],
    ["run", "---x"],
    ["run", "-m", "x", "busybox"],
    ["run", "--cpus", "x", "busybox"],
    ["run", "--cpus", "1/3", "busybox"],
    ["run", "--cpus", "0.0000000001", "busybox"],
    ["run", "--pull", "sometimes", "busybox"],
    ["run", "--help=x"],
    ["create"],
    ["create", "--bogus", "busybox"],
    ["start"],
    ["images", "--filter"],
    ["images", "-f", "nameonly"],
    ["images", "--bogus"],
    ["image", "ls", "--bogus"],
    ["ps", "--bogus=1"],
    ["ps", "x"],
    ["ps", "-n", "x"],
    ["ps", "-f"],
    ["ps", "-s=maybe"],
    ["container", "ls", "-q", "x"],
    ["tag", "a"],
    ["rm"],
    ["container", "rm"],
    ["stop"],
    ["stop", "-t", "x", "a"],
    ["stop", "-t", "1.5", "a"],
    ["kill"],
    ["logs"],
    ["logs", "-n"],
    ["export"],
    ["history"],
    ["inspect"],
    ["rmi"],
    ["pull"],
    ["pull", "a", "b"],
    ["version", "x"],
    ["info", "x"],
    ["foo"],
    ["--bogus"],
    ["image", "foo"],
    ["container", "foo"],
]


@pytest.mark.parametrize("argv", MISTAKES, ids=" ".join)
def test_usage_errors_as_docker(tmp_path, argv):
    d = _docker(tmp_path, *argv)
    h = Hood(tmp_path / "root").run(*argv)
    assert d.stdout == h.stdout == ""
    assert h.stderr == d.stderr.replace("docker", "hood")
    assert h.status == d.returncode, h.stderr


# Commands whose flags, texts and usage are docker's: their whole help is docker's.
HELP = [
    ["ps"],
    ["container", "ls"],
    ["stop"],
    ["kill"],
    ["export"],
    ["tag"],
    ["login"],
    ["container", "prune"],
    ["image", "prune"],
]


@pytest.mark.parametrize("argv", HELP, ids=" ".join)
def test_help_as_docker(tmp_path, argv):
    d = _docker(tmp_path, *argv, "--help")
    h = Hood(tmp_path / "root").run(*argv, "--help")
    assert (h.status, d.returncode) == (0, 0)
    want = d.stdout.replace("docker", "hood").replace("docs.hood.com", "docs.docker.com")
    assert h.stdout == want
    assert h.stderr == ""


def test_bare_group_prints_its_help_on_stderr(tmp_path):
    d = _docker(tmp_path, "image")
    h = Hood(tmp_path / "root").run("image")
    assert (h.status, d.returncode) == (0, 0)
    assert h.stdout == d.stdout == ""
    assert h.stderr.startswith("Usage:  hood image COMMAND\n\nManage images\n\nCommands:\n")
    assert "\n  ls          List images\n" in h.stderr
    assert h.stderr.endswith("\n\nRun 'hood image COMMAND --help' for more information on a command.\n")


def test_version_flag(tmp_path):
    from hood import __version__

    for flag in ("--version", "-v"):
        assert Hood(tmp_path / "root").run(flag).ok().stdout == f"hood version {__version__}\n"


def test_run_it_without_a_terminal_fails_at_once(tmp_path, plain_images):
    """`echo x | hood run -it --rm IMAGE cat` hung for good (issue 10, bug 1); docker's CLI
    refuses it before it creates anything: the same line, the same status."""
    import time

    p = plain_images["busybox"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["DOCKER_HOST"] = f"unix://{tmp_path}/no-daemon.sock"
    d = subprocess.run(
        [DOCKER, "run", "-it", "--rm", p.ref, "cat"],
        input="x\n", capture_output=True, text=True, env=env,
    )  # fmt: skip
    hood = Hood(tmp_path / "root", p.registry.env)
    hood.run("pull", "-q", p.ref).ok()
    start = time.monotonic()
    h = hood.run("run", "-it", "--rm", p.ref, "cat", input="x\n", timeout=20)
    assert time.monotonic() - start < 10
    assert (h.status, h.stderr, h.stdout) == (d.returncode, d.stderr, d.stdout)
    assert (h.status, h.stderr) == (1, "the input device is not a TTY\n")
    assert hood.run("ps", "-aq").ok().stdout == ""  # nothing was created


def test_version_command(tmp_path):
    import platform

    from hood import __version__

    hood = Hood(tmp_path / "root")
    out = hood.run("version").ok().stdout
    assert out.startswith(f"Version:           {__version__}\n")
    assert f"\nPython version:    {platform.python_version()} " in out
    assert hood.run("version", "--format", "{{.Version}}").ok().stdout == f"{__version__}\n"
    assert hood.run("version", "-f", "{{json .Os}}").ok().stdout == '"linux"\n'
