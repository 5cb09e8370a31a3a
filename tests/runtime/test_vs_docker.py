"""The same image, the same command: hood run and docker run must agree on stdout, exit status
(and stderr where docker's is the command's own)."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.dockerd

CASES = [
    ([], ["busybox", "echo", "hello"]),
    ([], ["busybox", "sh", "-c", "echo out; echo err >&2; exit 3"]),
    ([], ["busybox", "sh", "-c", "env | grep -v HOSTNAME"]),
    ([], ["busybox", "sh", "-c", "id; pwd; echo $HOME"]),
    (
        ["-u", "alice"],
        ["busybox", "sh", "-c", "id; echo $HOME; grep -E 'Cap(Eff|Prm|Bnd)' /proc/self/status"],
    ),
    (["-u", "4242:50"], ["busybox", "sh", "-c", "id; echo $HOME"]),
    ([], ["busybox", "grep", "-E", "Cap|NoNewPrivs", "/proc/self/status"]),
    (["-w", "/made/here"], ["busybox", "pwd"]),
    (["-e", "FOO=bar", "-e", "PATH=/bin"], ["busybox", "sh", "-c", "env | grep -v HOSTNAME"]),
    ([], ["app"]),
    ([], ["app", "one"]),
    (["--entrypoint", "pwd"], ["app"]),
    (["--entrypoint", ""], ["app", "echo", "reset"]),
    (["-u", "0", "-w", "/tmp"], ["app", "x"]),
    (["--network", "none"], ["busybox", "sh", "-c", "ls /sys/class/net; cat /etc/hosts"]),
    (["--read-only"], ["busybox", "sh", "-c", "touch /x; echo $?"]),
    ([], ["busybox", "sh", "-c", "ls /dev | sort; ls -d /sys/firmware/* 2>&1 | wc -l"]),
    ([], ["busybox", "sh", "-c", "echo $$; ps -o comm"]),
    ([], ["busybox", "sh", "-c", "ls /proc/self/fd | wc -l"]),
    ([], ["busybox", "nope"]),
    ([], ["busybox", "/etc/notexec"]),
]


def _norm(text: str) -> str:
    return re.sub(r"\b[0-9a-f]{12}\b", "<id>", text)


@pytest.mark.parametrize(
    "opts,args", CASES, ids=lambda v: " ".join(v) if isinstance(v, list) else v
)
def test_same_as_docker(hood, dockerd, run_docker, opts, args):
    import subprocess

    image = args[0]
    d = subprocess.run(
        [*dockerd, "run", "--rm", *opts, f"hoodtest/{image}", *args[1:]],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    h = hood("run", "--rm", *opts, image, *args[1:])
    assert h.returncode == d.returncode, (h.stderr, d.stderr)
    assert _norm(h.stdout) == _norm(d.stdout)
    if d.returncode < 125:
        assert h.stderr == d.stderr


@pytest.fixture
def run_docker():
    return None
