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


@pytest.mark.parametrize("runtime", ["builtin", "runc"])
def test_foreground_run_keeps_its_log(hood, dockerd, runtime):
    """`run --name X IMG ...; logs X`: docker's json-file log keeps a foreground run's
    output too, stream by stream; the run still shows it as it comes."""
    import json
    import shutil
    import subprocess

    if runtime == "runc" and shutil.which("runc") is None:
        pytest.skip("runc is not installed")
    script = "echo hi; echo oops >&2; printf 'no newline'"
    name = f"fg-{runtime}"
    d = subprocess.run(
        [*dockerd, "run", "--name", name, "hoodtest/busybox", "sh", "-c", script],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120,
    )  # fmt: skip
    h = hood("run", "--runtime", runtime, "--name", name, "busybox", "sh", "-c", script)
    assert (h.returncode, h.stdout, h.stderr) == (d.returncode, d.stdout, d.stderr)
    try:
        d_logs = subprocess.run([*dockerd, "logs", name], capture_output=True, text=True)
        h_logs = hood("logs", name)
        assert (h_logs.stdout, h_logs.stderr) == (d_logs.stdout, d_logs.stderr)
        assert (h_logs.stdout, h_logs.stderr) == ("hi\nno newline", "oops\n")
        cid = hood("inspect", "-f", "{{.Id}}", name).stdout.strip()
        path = hood.root / "containers" / cid / f"{cid}-json.log"
        entries = [json.loads(line) for line in path.read_text().splitlines()]
        assert [(e["stream"], e["log"]) for e in entries if e["stream"] == "stdout"] == [
            ("stdout", "hi\n"),
            ("stdout", "no newline"),
        ]
        assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z", e["time"])
                   for e in entries)  # fmt: skip
    finally:
        subprocess.run([*dockerd, "rm", "-f", name], capture_output=True)
        hood("rm", "-f", name)


CGROUP_SCRIPT = (
    "grep -E ' /sys/fs/cgroup' /proc/self/mountinfo | cut -d' ' -f4-; cat /proc/self/cgroup;"
    " readlink /proc/self/ns/cgroup; mkdir /sys/fs/cgroup/memory/x /sys/fs/cgroup/x.d 2>&1;"
    " ls /sys/fs/cgroup"
)


def _cgroup_view(out: str) -> str:
    """Mount IDs dropped by cut; docker's /docker/ID and hood's /hood/ID both <cg>."""
    out = re.sub(r"/(docker|hood)/[0-9a-f]{64}", "<cg>", out)
    return re.sub(r"x\.d\n", "", out)


@pytest.mark.parametrize("runtime", ["builtin", "runc"])
def test_cgroup_view_as_docker(hood, dockerd, runtime):
    """/sys/fs/cgroup inside: the container's own cgroup in every hierarchy, read-only,
    mounted as docker mounts it; the same cgroup namespace choice (host on v1)."""
    import shutil
    import subprocess

    if runtime == "runc" and shutil.which("runc") is None:
        pytest.skip("runc is not installed")
    d = subprocess.run(
        [*dockerd, "run", "--rm", "hoodtest/busybox", "sh", "-c", CGROUP_SCRIPT],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120,
    )  # fmt: skip
    h = hood("run", "--rm", "--runtime", runtime, "busybox", "sh", "-c", CGROUP_SCRIPT)
    assert "Read-only file system" in h.stdout
    assert _cgroup_view(h.stdout) == _cgroup_view(d.stdout)
