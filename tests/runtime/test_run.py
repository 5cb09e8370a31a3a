"""`hood run` and the container lifecycle against a real busybox-static image."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

DOCKER_CAPS = "00000000a80425fb"


def test_exit_codes(hood):
    r = hood("run", "--rm", "busybox", "echo", "hello")
    assert (r.returncode, r.stdout, r.stderr) == (0, "hello\n", "")
    assert hood("run", "--rm", "busybox", "sh", "-c", "exit 3").returncode == 3
    r = hood("run", "--rm", "busybox", "nope")
    assert r.returncode == 127 and "executable file not found" in r.stderr
    assert hood("run", "--rm", "busybox", "/no/such").returncode == 127
    assert hood("run", "--rm", "busybox", "/etc/notexec").returncode == 126
    assert hood("run", "--rm", "-u", "bob", "busybox", "true").returncode == 125
    r = hood("run", "--rm", "--pull", "never", "nosuchimage", "true")
    assert r.returncode == 125 and "No such image: nosuchimage" in r.stderr


def test_pid1_hostname_and_hosts(hood):
    r = hood("run", "--rm", "busybox", "sh", "-c", "echo $$; hostname; cat /etc/hostname")
    pid, host, etc_host = r.stdout.split()
    assert pid == "1" and host == etc_host and len(host) == 12
    r = hood(
        "run", "--rm", "--hostname", "box", "--network", "none", "busybox", "cat", "/etc/hosts"
    )
    assert r.stdout.startswith("127.0.0.1\tlocalhost\n")
    assert hood("run", "--rm", "-h", "box", "busybox", "hostname").stdout == "box\n"


def test_network_none_has_only_lo(hood):
    r = hood("run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net")
    assert r.stdout.split() == ["lo"]
    r = hood("run", "--rm", "--network", "none", "busybox", "ip", "-o", "addr")
    assert "127.0.0.1" in r.stdout


def test_capabilities_and_no_new_privs(hood):
    r = hood(
        "run",
        "--rm",
        "--security-opt",
        "no-new-privileges",
        "busybox",
        "grep",
        "-E",
        "Cap|NoNewPrivs",
        "/proc/self/status",
    )
    fields = dict(line.split(":\t") for line in r.stdout.strip().splitlines())
    assert fields["CapEff"] == fields["CapPrm"] == fields["CapBnd"] == DOCKER_CAPS
    assert fields["CapInh"] == fields["CapAmb"] == "0000000000000000"
    assert fields["NoNewPrivs"] == "1"
    r = hood("run", "--rm", "-u", "1000", "busybox", "grep", "Cap", "/proc/self/status")
    fields = dict(line.split(":\t") for line in r.stdout.strip().splitlines())
    assert fields["CapEff"] == "0000000000000000" and fields["CapBnd"] == DOCKER_CAPS


def test_masked_and_readonly_paths(hood):
    r = hood(
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "ls /sys/firmware | wc -l; echo x > /proc/sys/kernel/domainname || echo ro;"
        " grep -c ' /proc/sys ' /proc/self/mountinfo; mount | grep -c '/dev/pts'",
    )
    lines = r.stdout.split("\n")
    assert lines[0] == "0" and "ro" in lines and lines[2] == "1"


def test_entrypoint_cmd_env_workdir_user(hood):
    r = hood("run", "--rm", "app")
    assert r.stdout == "ep:first:second:hi:/srv/app:1000\n", r.stderr
    r = hood("run", "--rm", "app", "x", "y")
    assert r.stdout == "ep:x:y:hi:/srv/app:1000\n"
    r = hood("run", "--rm", "-e", "GREETING=yo", "-w", "/tmp", "-u", "0", "app", "a")
    assert r.stdout == "ep:a::yo:/tmp:0\n"
    r = hood("run", "--rm", "--entrypoint", "pwd", "app")  # --entrypoint drops the image Cmd
    assert r.stdout == "/srv/app\n"
    r = hood("run", "--rm", "--entrypoint", "", "app", "echo", "plain")
    assert r.stdout == "plain\n"
    r = hood("run", "--rm", "-w", "/new/dir", "busybox", "pwd")
    assert r.stdout == "/new/dir\n"


def test_env_order_and_home(hood, tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nFROMFILE=1\n")
    r = hood("run", "--rm", "-e", "A=1", "--env-file", str(env_file), "busybox", "env")
    env = r.stdout.splitlines()
    assert env[0].startswith("PATH=") and env[1].startswith("HOSTNAME=")
    assert "A=1" in env and "FROMFILE=1" in env and "HOME=/root" in env
    r = hood("run", "--rm", "-u", "alice", "busybox", "sh", "-c", "echo $HOME; id -G")
    assert r.stdout.split("\n")[:2] == ["/home/alice", "1000 10 50"]
    r = hood("run", "--rm", "-u", "4242:50", "busybox", "sh", "-c", "echo $HOME; id -u; id -g")
    assert r.stdout.split() == ["/", "4242", "50"]


def test_volumes_readonly_tmpfs(hood, tmp_path):
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "f").write_text("volfile\n")
    r = hood(
        "run", "--rm", "-v", f"{vol}:/data", "busybox", "sh", "-c", "cat /data/f; echo w > /data/g"
    )
    assert r.stdout == "volfile\n" and (vol / "g").read_text() == "w\n"
    r = hood("run", "--rm", "-v", f"{vol}:/data:ro", "busybox", "touch", "/data/h")
    assert r.returncode == 1 and not (vol / "h").exists()
    r = hood("run", "--rm", "--read-only", "busybox", "touch", "/x")
    assert r.returncode == 1 and "Read-only" in r.stderr
    r = hood("run", "--rm", "--read-only", "--tmpfs", "/run", "busybox", "touch", "/run/x")
    assert r.returncode == 0


def test_volume_target_symlink_stays_inside(hood, tmp_path):
    """/etc/escape -> /../../../../tmp in the image: the bind lands in the rootfs's /tmp."""
    vol = tmp_path / "v2"
    vol.mkdir()
    marker = Path("/tmp/hood-escape-probe")
    assert not marker.exists()
    r = hood(
        "run",
        "--rm",
        "-v",
        f"{vol}:/etc/escape/hood-escape-probe",
        "busybox",
        "ls",
        "-d",
        "/tmp/hood-escape-probe",
    )
    assert r.returncode == 0, r.stderr
    assert not marker.exists()


def test_workdir_in_proc_refused(hood):
    r = hood("run", "--rm", "-w", "/proc/self/fd/7", "busybox", "pwd")
    assert r.returncode == 125


def test_no_host_fd_leaks(hood):
    r = hood("run", "--rm", "busybox", "ls", "/proc/self/fd")
    assert sorted(r.stdout.split()) == ["0", "1", "2", "3"]  # 3: ls's own directory fd


def test_rm_leaves_nothing(hood, data_root):
    before = set(os.listdir(data_root / "overlay2"))
    assert hood("run", "--rm", "busybox", "true").returncode == 0
    assert set(os.listdir(data_root / "overlay2")) == before
    assert not list((data_root / "containers").iterdir())
    assert str(data_root) not in Path("/proc/self/mountinfo").read_text()


def test_lifecycle_detached_logs_stop_rm(hood, data_root):
    r = hood(
        "run",
        "-d",
        "--name",
        "web",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; trap 'exit 0' TERM; while :; do sleep 0.1; done",
    )
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    cdir = data_root / "containers" / cid
    assert (cdir / "config.v2.json").exists() and (cdir / "hostconfig.json").exists()
    state = json.loads((cdir / "config.v2.json").read_text())["State"]
    assert state["Running"] and state["Pid"] > 0
    time.sleep(0.3)
    ps = hood("ps").stdout.splitlines()
    assert ps[0].split() == [
        "CONTAINER",
        "ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ]
    assert cid[:12] in ps[1] and "Up " in ps[1] and ps[1].endswith("web")
    logs = hood("logs", "web")
    assert (logs.stdout, logs.stderr) == ("out\n", "err\n")
    for line in (cdir / f"{cid}-json.log").read_text().splitlines():
        assert set(json.loads(line)) == {"log", "stream", "time"}
    assert hood("rm", "web").returncode == 1  # running
    assert hood("stop", "web").stdout == "web\n"
    assert "Exited (0)" in hood("ps", "-a", "--format", "{{.Names}} {{.Status}}").stdout
    assert hood("rm", "-f", "web").returncode == 0
    assert not cdir.exists()


def _popen_hood_run(data_root, *run_args: str, **kw) -> subprocess.Popen:
    """A foreground `hood run` in the background, to be killed or signalled mid-run."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"))
    return subprocess.Popen(
        ["python3", "-m", "hood.cli.main", "--root", str(data_root), "run", *run_args],
        env=env,
        stdin=subprocess.DEVNULL,
        **kw,
    )


def test_kill_gives_137_and_killed_hood_leaves_state(hood, data_root):
    cid = hood("run", "-d", "busybox", "sleep", "60").stdout.strip()
    assert hood("kill", cid[:12]).returncode == 0
    status = hood("ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Status}}").stdout
    assert f"{cid} Exited (137)" in status
    # A foreground hood killed mid-run: ps -a still shows it, rm cleans up.
    proc = _popen_hood_run(data_root, "--name", "victim", "busybox", "sleep", "60")
    deadline = time.monotonic() + 10
    while "victim" not in hood("ps", "--format", "{{.Names}}").stdout:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    time.sleep(0.3)
    assert "victim Exited (137)" in hood("ps", "-a", "--format", "{{.Names}} {{.Status}}").stdout
    assert hood("rm", "victim").returncode == 0
    assert hood("container", "prune", "-f").returncode == 0
    assert not list((data_root / "containers").iterdir())


def test_signal_forwarded_exit_128_plus(hood, data_root):
    proc = _popen_hood_run(
        data_root,
        "--rm",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 42' USR1; echo ready; while :; do sleep 0.05; done",
        stdout=subprocess.PIPE,
    )
    assert proc.stdout.readline() == b"ready\n"
    proc.send_signal(10)
    assert proc.wait(10) == 42


def test_create_start_export(hood, tmp_path):
    cid = hood("create", "busybox", "sh", "-c", "echo made > /made").stdout.strip()
    assert "Created" in hood("ps", "-a").stdout
    assert hood("start", "-a", cid).returncode == 0
    out = tmp_path / "c.tar"
    assert hood("export", "-o", str(out), cid).returncode == 0
    import tarfile

    with tarfile.open(out) as tf:
        names = set(tf.getnames())
        assert tf.extractfile("made").read() == b"made\n"
        assert tf.getmember("bin/ls").islnk()
    assert {"bin/busybox", "srv/app/hello.txt", "etc/passwd"} <= names
    assert hood("rm", cid).returncode == 0


def test_mount_umount(hood, data_root):
    d = hood("mount", "busybox").stdout.strip()
    assert Path(d, "srv/app/hello.txt").read_text() == "hello from layer 2\n"
    assert hood("umount", "busybox").returncode == 0
    assert str(data_root) not in Path("/proc/self/mountinfo").read_text()


def _run_in_pty(hood, *args: str, rows: int = 33, cols: int = 111, timeout: float = 30):
    """hood on a terminal of its own (a pty of the test's, sized rows x cols): the output
    as the terminal shows it, and the exit status."""
    import fcntl
    import pty
    import select
    import struct
    import sys
    import termios

    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child execs at once
        os.environ["PYTHONPATH"] = str(Path(__file__).resolve().parents[2] / "src")
        argv = [sys.executable, "-m", "hood.cli.main", "--root", str(hood.root), *args]
        os.execv(sys.executable, argv)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not select.select([fd], [], [], 0.5)[0]:
                continue
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the last holder of the terminal has gone
                break
            if not data:
                break
            out += data
        else:
            os.kill(pid, 9)
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return out.decode().replace("\r", ""), os.waitstatus_to_exitcode(status)


def test_tty(hood):
    """-t: a pty of the container's own devpts, /dev/pts/0 as under docker/runc, the
    controlling terminal, the size of the user's terminal, the exit status passed on."""
    out, status = _run_in_pty(
        hood,
        "run",
        "--rm",
        "-t",
        "busybox",
        "sh",
        "-c",
        "tty; ls -l /proc/self/fd/0; stty size; readlink /proc/1/fd/1;"
        " ls /dev/pts; cut -d' ' -f7 /proc/1/stat;"
        " exit 7",
    )
    lines = out.splitlines()
    assert status == 7, out
    assert lines[0] == "/dev/pts/0"
    assert lines[1].endswith("/proc/self/fd/0 -> /dev/pts/0")
    assert lines[2] == "33 111"
    assert lines[3] == "/dev/pts/0"
    assert lines[4].split() == ["0", "ptmx"]  # a fresh devpts: nothing of the host's
    assert lines[5] == str(os.makedev(136, 0))  # tty_nr: pts/0 is PID 1's controlling tty
    out, status = _run_in_pty(
        hood,
        "run",
        "--rm",
        "-it",
        "-u",
        "alice",
        "busybox",
        "sh",
        "-c",
        "stty size; exit 3",
        rows=20,
        cols=70,
    )
    assert (out, status) == ("20 70\n", 3)
    # Without a terminal of hood's own: still a pty inside, with docker's TERM.
    r = hood("run", "--rm", "-t", "busybox", "sh", "-c", "test -t 0 && test -t 1 && tty")
    assert r.stdout.replace("\r", "") == "/dev/pts/0\n"
    assert "TERM=xterm" in hood("run", "--rm", "-t", "busybox", "env").stdout


def test_interactive_stdin(hood):
    r = hood("run", "--rm", "-i", "busybox", "cat", input="piped\n")
    assert r.stdout == "piped\n"
    r = hood("run", "--rm", "busybox", "cat", input="ignored\n")
    assert r.stdout == ""


def test_bundle_runs_with_runc(hood, tmp_path):
    import shutil

    if shutil.which("runc") is None:
        pytest.skip("runc is not installed")
    bundle = tmp_path / "bundle"
    assert hood("bundle", "busybox", str(bundle)).returncode == 0
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["process"]["args"] = ["sh", "-c", "echo via runc; grep CapEff /proc/self/status; exit 5"]
    (bundle / "config.json").write_text(json.dumps(cfg))
    r = subprocess.run(
        ["runc", "run", "-b", str(bundle), f"hoodtest{os.getpid()}"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert r.returncode == 5, r.stderr
    assert r.stdout == f"via runc\nCapEff:\t{DOCKER_CAPS}\n"
    r = hood("run", "--rm", "--runtime", "runc", "busybox", "sh", "-c", "exit 6")
    assert r.returncode == 6, r.stderr
    r = hood("run", "--rm", "--runtime", "runc", "busybox", "sh", "-c", "exit 1")
    assert r.returncode == 1 and "hood:" not in r.stderr, r.stderr  # the container's own 1


@pytest.mark.parametrize("detach", [False, True])
def test_runc_start_failures_exit_as_docker(hood, detach):
    """runc's own failure to start the command is told apart from the command's status
    (runc exits 1 for both) by runc's log: 127, 126, as docker run gives them."""
    import shutil

    if shutil.which("runc") is None:
        pytest.skip("runc is not installed")
    d = ["-d"] if detach else []
    r = hood("run", "--rm", *d, "--runtime", "runc", "busybox", "nope")
    assert r.returncode == 127 and 'exec: "nope": executable file not found' in r.stderr, r.stderr
    r = hood("run", "--rm", *d, "--runtime", "runc", "busybox", "/etc/notexec")
    assert r.returncode == 126 and "permission denied" in r.stderr, r.stderr


def test_foreground_tty_run_keeps_its_log(hood):
    """-t in the foreground: the terminal shows the output and the log keeps it."""
    out, status = _run_in_pty(hood, "run", "-t", "--name", "fgtty", "busybox", "echo", "on tty")
    assert (out, status) == ("on tty\n", 0)
    logs = hood("logs", "fgtty")
    assert logs.stdout.replace("\r", "") == "on tty\n"
    assert hood("rm", "fgtty").returncode == 0
