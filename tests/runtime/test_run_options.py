"""Issue 10's run options against docker's for the same flags on the same image: what the
container sees (capabilities, /etc/hosts, resolv.conf, ulimits, devices, /dev/shm, PID 1
with --init, the streams -a shows, --mount forms, volumes), what inspect records, and the
same again under runc (`--runtime runc`), whose bundle must say what the built-in
runtime does."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import fixture
import pytest

pytestmark = pytest.mark.dockerd

RUNTIMES = ["builtin", pytest.param("runc", marks=pytest.mark.skipif(
    shutil.which("runc") is None, reason="runc is not installed"))]  # fmt: skip
V1_DEVICES = Path("/sys/fs/cgroup/devices/devices.list")


def _needs_docker_init(runtime: str) -> None:
    """--init under runc binds the host's docker-init, as dockerd does."""
    if runtime == "runc" and not (shutil.which("docker-init") or shutil.which("tini")):
        pytest.skip("docker-init (tini) is not installed")

# An image with a VOLUME that has content, labels and a stop signal of its own.
VOL_CONFIG = {
    "Cmd": ["sh"],
    "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
    "Volumes": {"/data": {}},
    "Labels": {"img": "1", "a": "from-image"},
}


@pytest.fixture(scope="module")
def vol_image(hood, dockerd, layers, tmp_path_factory):
    """`vol` in hood's data root and hoodtest/vol in the dockerd: busybox and a layer with
    /data/seed.txt (alice's, in a 0750 directory)."""
    extra = fixture._tar(
        [
            ("data", "dir", b"", 0o750, 1000, 1000),
            ("data/seed.txt", "file", b"seeded by the image\n", 0o640, 1000, 1000),
            ("data/sub", "dir", b"", 0o755, 0, 0),
            ("data/sub/link", "symlink", "../seed.txt", 0o777, 0, 0),
        ]
    )
    image_layers = [*layers, extra]
    fixture.store_image(hood.root, "vol:latest", image_layers, VOL_CONFIG)
    archive = tmp_path_factory.mktemp("vol") / "vol.tar"
    fixture.docker_archive(archive, "hoodtest/vol:latest", image_layers, VOL_CONFIG)
    subprocess.run([*dockerd, "load", "-i", str(archive)], check=True, capture_output=True)
    return "vol"


@pytest.fixture(autouse=True)
def nothing_left(hood, dockerd):
    yield
    left = hood("ps", "-aq", "--no-trunc").stdout.split()
    if left:
        hood("rm", "-f", "-v", *left)
    d_left = _docker(dockerd, "ps", "-aq").stdout.split()
    if d_left:
        _docker(dockerd, "rm", "-f", "-v", *d_left)
    assert not left, f"containers left behind: {left}"


def _docker(dockerd, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*dockerd, *args], capture_output=True, text=True, stdin=subprocess.DEVNULL,
        timeout=timeout,
    )  # fmt: skip


def _both(hood, dockerd, runtime: str, opts: list[str], image: str, cmd: list[str]):
    d = _docker(dockerd, "run", "--rm", *opts, f"hoodtest/{image}", *cmd)
    h = hood("run", "--rm", "--runtime", runtime, *opts, image, *cmd)
    return h, d


def _same(h, d) -> None:
    assert (h.returncode, h.stdout, h.stderr) == (d.returncode, d.stdout, d.stderr), (
        h.stderr,
        d.stderr,
    )


CAP_CASES = [
    ["--cap-add", "net_admin", "--cap-add", "SYS_PTRACE", "--cap-drop", "chown",
     "--cap-drop", "CAP_KILL"],
    ["--cap-drop", "all", "--cap-add", "chown"],
    ["--cap-add", "chown", "--cap-drop", "chown", "--cap-add", "Cap_Sys_Admin"],
    ["-u", "alice", "--cap-add", "net_admin"],
]  # fmt: skip


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("opts", CAP_CASES, ids=" ".join)
def test_capabilities_as_docker(hood, dockerd, runtime, opts):
    script = "grep -E '^Cap' /proc/self/status; ping -c1 -W1 127.0.0.1 >/dev/null 2>&1; echo $?"
    h, d = _both(hood, dockerd, runtime, opts, "busybox", ["sh", "-c", script])
    _same(h, d)


def test_capability_seccomp_rules_follow_caps(hood, dockerd):
    """docker's profile allows some calls by capability: with CAP_SYS_ADMIN a mount's
    refusal comes from the kernel's rules, not seccomp's EPERM of every other case."""
    script = "mount -t tmpfs t /mnt 2>&1 && echo mounted; unshare -U true 2>&1; echo $?"
    for opts in ([], ["--cap-add", "SYS_ADMIN"]):
        h, d = _both(hood, dockerd, "builtin", opts, "busybox", ["sh", "-c", script])
        _same(h, d)


def test_unknown_capability_refused(hood, dockerd):
    h, d = _both(hood, dockerd, "builtin", ["--cap-add", "bogus"], "busybox", ["true"])
    assert h.returncode == d.returncode == 125
    assert 'invalid CapAdd: unknown capability: "CAP_BOGUS"' in d.stderr
    assert 'invalid CapAdd: unknown capability: "CAP_BOGUS"' in h.stderr


def test_cap_add_all_as_docker(hood, dockerd):
    """ALL: every capability the kernel knows; on a host whose bounding set lacks one,
    docker's start fails (runc: "unable to apply caps"), and so does hood's."""
    script = "grep CapEff /proc/self/status"
    h, d = _both(hood, dockerd, "builtin", ["--cap-add", "ALL"], "busybox", ["sh", "-c", script])
    assert h.returncode == d.returncode, (h.stderr, d.stderr)
    if d.returncode:
        assert "unable to apply caps: operation not permitted" in h.stderr
    else:
        assert h.stdout == d.stdout


NET_CASES = [
    ["--network", "host", "--add-host", "foo:1.2.3.4", "--add-host", "bar:::1"],
    ["--network", "none", "--add-host", "foo:1.2.3.4", "--dns-search", "ex.com"],
    ["--network", "host", "--dns", "9.9.9.9", "--dns", "1.1.1.1", "--dns-search",
     "example.com", "--dns-option", "ndots:2", "--dns-option", "timeout:3"],
    ["--network", "host", "--dns-option", "ndots:5"],
    ["--network", "host"],
]  # fmt: skip


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("opts", NET_CASES, ids=" ".join)
def test_hosts_and_resolv_conf_as_docker(hood, dockerd, runtime, opts):
    script = "cat /etc/hosts; echo ---; cat /etc/resolv.conf"
    h, d = _both(hood, dockerd, runtime, opts, "busybox", ["sh", "-c", script])
    _same(h, d)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_ulimits_as_docker(hood, dockerd, runtime):
    opts = ["--ulimit", "nofile=100:200", "--ulimit", "nproc=50", "--ulimit", "core=-1",
            "--ulimit", "nofile=150:300", "--ulimit", "stack=4096000"]  # fmt: skip
    script = "for o in n u c s; do ulimit -$o; ulimit -H$o; done"
    h, d = _both(hood, dockerd, runtime, opts, "busybox", ["sh", "-c", script])
    _same(h, d)
    assert h.stdout.split()[:2] == ["150", "300"]


def test_bad_ulimits_refused_as_docker(hood, dockerd):
    for value in ("nofile=2:1", "nofiles=1", "nofile", "nofile=1:2:3"):
        h, d = _both(hood, dockerd, "builtin", ["--ulimit", value], "busybox", ["true"])
        assert h.returncode == d.returncode == 125, (value, h.stderr, d.stderr)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_shm_size_as_docker(hood, dockerd, runtime):
    script = "df /dev/shm | tail -1; grep ' /dev/shm ' /proc/mounts | cut -d' ' -f3-4"
    for opts in ([], ["--shm-size", "8m"], ["--shm-size", "1536k"]):
        h, d = _both(hood, dockerd, runtime, opts, "busybox", ["sh", "-c", script])
        _same(h, d)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_devices_as_docker(hood, dockerd, runtime):
    if not (Path("/dev/fuse").exists() and Path("/dev/loop0").exists()):
        pytest.skip("needs /dev/fuse and /dev/loop0")
    opts = ["--device", "/dev/fuse", "--device", "/dev/loop0:/dev/xx:r"]
    script = (
        "stat -c '%n %F %t:%T %a %U:%G' /dev/fuse /dev/xx; echo > /dev/xx 2>&1; echo $?;"
        " head -c0 /dev/xx; echo $?"
    )
    if V1_DEVICES.exists():
        script += "; sort /sys/fs/cgroup/devices/devices.list"
    h, d = _both(hood, dockerd, runtime, opts, "busybox", ["sh", "-c", script])
    _same(h, d)
    h, d = _both(hood, dockerd, runtime, [], "busybox", ["ls", "/dev/fuse"])
    assert h.returncode == d.returncode == 1


def test_missing_device_refused(hood, dockerd):
    h, d = _both(hood, dockerd, "builtin", ["--device", "/dev/nope"], "busybox", ["true"])
    assert h.returncode == d.returncode == 127  # docker's CLI: "no such file or directory"
    why = 'error gathering device information while adding custom device "/dev/nope"'
    assert why in h.stderr and why in d.stderr


def _ps_shape(out: str) -> list[tuple]:
    """`ps -o pid,pgid,args` as (role, leads its group, args): PID numbers differ between
    docker-init and hood-init, and so does the init's own name."""
    rows = []
    for line in out.splitlines()[1:]:
        pid, pgid, args = line.split(None, 2)
        if pid == "1":
            args = re.sub(r"^(/sbin/docker-init|hood-init) -- ", "INIT -- ", args)
        rows.append(("init" if pid == "1" else "child", pid == pgid, args))
    return rows


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_init_as_docker(hood, dockerd, runtime):
    _needs_docker_init(runtime)
    script = "ps -o pid,pgid,args; true"
    h, d = _both(hood, dockerd, runtime, ["--init"], "busybox", ["sh", "-c", script])
    assert h.returncode == d.returncode == 0, h.stderr
    assert _ps_shape(h.stdout) == _ps_shape(d.stdout)
    assert _ps_shape(h.stdout)[0] == ("init", True, f"INIT -- sh -c {script}")
    # an orphan's zombie is reaped by the init; the command's status is the run's
    reap = "(sleep 0.2 &); sleep 0.6; ps -o stat,args | grep -c '^Z'; exit 7"
    h, d = _both(hood, dockerd, runtime, ["--init"], "busybox", ["sh", "-c", reap])
    _same(h, d)
    assert h.stdout == "0\n" and h.returncode == 7
    h, d = _both(hood, dockerd, runtime, ["--init"], "busybox", ["sh", "-c", "kill -9 $$"])
    _same(h, d)
    assert h.returncode == 137


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_init_forwards_stop(hood, dockerd, runtime):
    """Without --init, PID 1 (sleep) ignores SIGTERM and stop waits -t out; with it, the
    init passes SIGTERM on and the container is gone at once, as docker's."""
    _needs_docker_init(runtime)
    name = f"init-stop-{runtime}"
    for tool in ("hood", "docker"):
        if tool == "hood":
            r = hood("run", "-d", "--runtime", runtime, "--init", "--name", name, "busybox",
                     "sleep", "60")  # fmt: skip
        else:
            r = _docker(dockerd, "run", "-d", "--init", "--name", name, "hoodtest/busybox",
                        "sleep", "60")  # fmt: skip
        assert r.returncode == 0, r.stderr
        t = time.monotonic()
        if tool == "hood":
            assert hood("stop", "-t", "10", name).returncode == 0
            code = hood("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip()
            hood("rm", name)
        else:
            assert _docker(dockerd, "stop", "-t", "10", name).returncode == 0
            code = _docker(dockerd, "inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip()
            _docker(dockerd, "rm", name)
        assert time.monotonic() - t < 5, tool
        assert code == "143", tool


def test_labels_and_stop_signal_recorded_as_docker(hood, dockerd, vol_image, tmp_path):
    f = tmp_path / "labels"
    f.write_text("# comment\nfile=1\na=from-file\n\n")
    opts = ["--label", "a=cli", "-l", "empty", "--label-file", str(f), "--label", "k=v=w",
            "--stop-signal", "SIGUSR1"]  # fmt: skip
    d = _docker(dockerd, "create", "--name", "lab", *opts, "hoodtest/vol", "true")
    h = hood("create", "--name", "lab", *opts, "vol", "true")
    assert h.returncode == d.returncode == 0, (h.stderr, d.stderr)
    [dd] = json.loads(_docker(dockerd, "inspect", "lab").stdout)
    [hd] = json.loads(hood("inspect", "lab").stdout)
    assert hd["Config"]["Labels"] == dd["Config"]["Labels"]
    assert hd["Config"]["Labels"]["a"] == "cli" and hd["Config"]["Labels"]["img"] == "1"
    assert list(hd["Config"]) == list(dd["Config"])
    assert hd["Config"]["StopSignal"] == dd["Config"]["StopSignal"] == "SIGUSR1"
    for flt in ("label=a=cli", "label=img", "label=empty"):
        assert hood("ps", "-aq", "--filter", flt).stdout.strip() == hd["Id"][:12], flt
    assert hood("ps", "-aq", "--filter", "label=a=from-image").stdout == ""
    bad = hood("create", "--stop-signal", "SIGNOPE", "busybox", "true")
    assert bad.returncode == 125 and "Invalid signal: SIGNOPE" in bad.stderr
    hood("rm", "-v", "lab")
    _docker(dockerd, "rm", "-v", "lab")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_stop_sends_the_stop_signal(hood, dockerd, runtime):
    script = "trap 'exit 5' USR1; trap 'exit 6' TERM; echo ready; while :; do sleep 0.1; done"
    name = f"stopsig-{runtime}"
    r = hood("run", "-d", "--runtime", runtime, "--stop-signal", "USR1", "--name", name,
             "busybox", "sh", "-c", script)  # fmt: skip
    assert r.returncode == 0, r.stderr
    d = _docker(dockerd, "run", "-d", "--stop-signal", "USR1", "--name", name,
                "hoodtest/busybox", "sh", "-c", script)  # fmt: skip
    assert d.returncode == 0, d.stderr
    deadline = time.monotonic() + 10
    while "ready" not in hood("logs", name).stdout or "ready" not in _docker(
        dockerd, "logs", name
    ).stdout:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert hood("stop", name).returncode == 0
    assert _docker(dockerd, "stop", name).returncode == 0
    h_code = hood("inspect", "-f", "{{.State.ExitCode}}", name).stdout
    d_code = _docker(dockerd, "inspect", "-f", "{{.State.ExitCode}}", name).stdout
    assert h_code == d_code == "5\n"
    hood("rm", name)
    _docker(dockerd, "rm", name)


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize(
    "attach", [["-a", "stdout"], ["-a", "STDERR"], ["-a", "stdout", "-a", "stderr"]], ids=str
)
def test_attach_streams_as_docker(hood, dockerd, runtime, attach):
    script = "echo out; echo err >&2; exit 2"
    h, d = _both(hood, dockerd, runtime, attach, "busybox", ["sh", "-c", script])
    _same(h, d)


def test_attach_refused_as_docker(hood, dockerd):
    h, d = _both(hood, dockerd, "builtin", ["-a", "stdnope"], "busybox", ["true"])
    assert h.returncode == d.returncode == 125
    assert "valid streams are STDIN, STDOUT and STDERR" in h.stderr
    h = hood("run", "-d", "-a", "stdout", "busybox", "true")
    d = _docker(dockerd, "run", "-d", "-a", "stdout", "hoodtest/busybox", "true")
    assert (h.returncode, h.stderr) == (d.returncode, d.stderr) == (
        1, "conflicting options: cannot specify both --attach and --detach\n"
    )


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_mount_forms_as_docker(hood, dockerd, runtime, tmp_path):
    src = tmp_path / "bind"
    src.mkdir()
    (src / "f").write_text("from the host\n")
    name = f"mnt-{runtime}"
    opts = [
        "--mount", "type=tmpfs,dst=/tm,tmpfs-size=1m,tmpfs-mode=1770",
        "--mount", f"type=bind,src={src},dst=/b,readonly",
        "--mount", f"type=bind,source={src},target=/bw",
        "--mount", f"type=volume,src={name},dst=/v",
        "--mount", "type=volume,dst=/anon,volume-nocopy",
        "--tmpfs", "/t2:size=2m",
    ]  # fmt: skip
    script = (
        "grep -E ' /(tm|t2) ' /proc/mounts | cut -d' ' -f2-4; stat -c '%a' /tm;"
        " cat /b/f; touch /b/x 2>&1; echo $?; touch /bw/x && echo bw;"
        " echo kept > /v/kept; ls /anon | wc -l"
    )
    h, d = _both(hood, dockerd, runtime, opts, "busybox", ["sh", "-c", script])
    _same(h, d)
    assert (src / "x").exists()
    # the named volume outlives --rm; the anonymous one does not
    script = "cat /v/kept"
    h, d = _both(hood, dockerd, runtime, ["-v", f"{name}:/v"], "busybox", ["sh", "-c", script])
    _same(h, d)
    assert h.stdout == "kept\n"
    assert hood("volume", "ls", "-q").stdout.split() == [name]
    assert hood("volume", "rm", name).returncode == 0
    assert _docker(dockerd, "volume", "rm", name).returncode == 0


def test_bad_mounts_refused_as_docker(hood, dockerd, tmp_path):
    for spec in (
        "type=bind,src=/no/such/dir,dst=/x",
        "type=tmpfs,src=x,dst=/x",
        "type=volume,src=bad/name,dst=/x",
        "type=bogus,dst=/x",
        "dst=x",
        "src=/etc",
        "type=bind,src=/etc,dst=/x,nonsense=1",
    ):
        h, d = _both(hood, dockerd, "builtin", ["--mount", spec], "busybox", ["true"])
        assert h.returncode != 0 and d.returncode != 0, (spec, h.stderr, d.stderr)
    h = hood("run", "--rm", "--mount", "type=bind,src=/no/such/dir,dst=/x", "busybox", "true")
    assert "bind source path does not exist: /no/such/dir" in h.stderr
    assert hood("volume", "ls", "-q").stdout == ""


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_volumes_copied_from_the_image_and_kept(hood, dockerd, vol_image, runtime):
    """An image VOLUME gets an anonymous volume holding the image's /data; a new named
    volume mounted there is filled the same way on first use, and keeps what a container
    wrote for the next one; an empty one stays empty where docker's does."""
    name = f"kept-{runtime}"
    listing = "ls -lnR /data | grep -v total | sed 's/  */ /g' | cut -d' ' -f1,3-5,9-; stat -c '%a %u' /data"
    h, d = _both(hood, dockerd, runtime, [], vol_image, ["sh", "-c", listing])
    _same(h, d)
    assert "seed.txt" in h.stdout and h.stdout.endswith("750 1000\n")
    assert hood("volume", "ls", "-q").stdout == ""  # --rm took the anonymous volume
    h, d = _both(hood, dockerd, runtime, ["-v", f"{name}:/data"], vol_image,
                 ["sh", "-c", listing + "; echo mine > /data/seed.txt; rm -r /data/sub"])  # fmt: skip
    _same(h, d)
    h, d = _both(hood, dockerd, runtime, ["-v", f"{name}:/data"], vol_image,
                 ["sh", "-c", "cat /data/seed.txt; ls /data"])  # fmt: skip
    _same(h, d)
    assert h.stdout == "mine\nseed.txt\n"
    data = hood.root / "volumes" / name / "_data"
    assert (data / "seed.txt").read_text() == "mine\n"
    # a named volume elsewhere than the image's content: empty
    h, d = _both(hood, dockerd, runtime, ["-v", f"{name}-2:/elsewhere"], vol_image,
                 ["ls", "-a", "/elsewhere"])  # fmt: skip
    _same(h, d)
    for v in (name, f"{name}-2"):
        assert hood("volume", "rm", v).stdout == f"{v}\n"
        _docker(dockerd, "volume", "rm", v)


def test_rm_v_removes_anonymous_volumes_only(hood, dockerd, vol_image):
    cid = hood("create", "-v", "named-keep:/n", "-v", "/anon2", vol_image, "true").stdout.strip()
    assert cid
    names = hood("volume", "ls", "-q").stdout.split()
    assert len(names) == 3 and "named-keep" in names  # /data, /anon2 and the named one
    # filled at create, as docker fills them
    for flt in ("volume=named-keep", "volume=/anon2"):
        assert hood("ps", "-aq", "--no-trunc", "--filter", flt).stdout == f"{cid}\n", flt
    filled = [hood.root / "volumes" / n / "_data" / "seed.txt" for n in names]
    assert [f.read_text() for f in filled if f.exists()] == ["seeded by the image\n"]
    r = hood("volume", "rm", "named-keep")
    assert r.returncode == 1
    assert f"remove named-keep: volume is in use - [{cid}]" in r.stderr
    assert hood("volume", "prune", "-f").stdout == "Total reclaimed space: 0B\n"  # all in use
    assert hood("rm", "-v", cid).returncode == 0
    assert hood("volume", "ls", "-q").stdout.split() == ["named-keep"]
    # without -v the anonymous ones stay, for volume prune to take
    r = hood("run", "--name", "filled", vol_image, "true")
    assert r.returncode == 0, r.stderr
    assert hood("rm", "filled").returncode == 0
    [anon] = [n for n in hood("volume", "ls", "-q").stdout.split() if n != "named-keep"]
    assert (hood.root / "volumes" / anon / "_data" / "seed.txt").exists()
    r = hood("volume", "prune", "-f")
    assert re.fullmatch(rf"Deleted Volumes:\n{anon}\n\nTotal reclaimed space: \d+B\n", r.stdout)
    assert hood("volume", "ls", "-q").stdout.split() == ["named-keep"]
    r = hood("volume", "prune", "-a", "-f")
    assert r.stdout.startswith("Deleted Volumes:\nnamed-keep\n")
    assert not (hood.root / "volumes" / "named-keep").exists()


def test_volume_commands_as_docker(hood, dockerd, dockerd_root):
    for tool in ("hood", "docker"):
        run = (lambda *a: hood(*a)) if tool == "hood" else (lambda *a: _docker(dockerd, *a))
        assert run("volume", "create", "--label", "x=y", "--label", "z", "cmdvol").stdout == (
            "cmdvol\n"
        )
        assert run("volume", "create", "cmdvol").returncode == 0  # exists: fine
    h = hood("volume", "inspect", "cmdvol", "nope")
    d = _docker(dockerd, "volume", "inspect", "cmdvol", "nope")
    assert h.returncode == d.returncode == 1
    [hd], [dd] = json.loads(h.stdout), json.loads(d.stdout)
    assert list(hd) == list(dd)
    for key in ("Driver", "Labels", "Name", "Options", "Scope"):
        assert hd[key] == dd[key], key
    assert hd["Mountpoint"] == str(hood.root / "volumes" / "cmdvol" / "_data")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)", hd["CreatedAt"])
    assert "get nope: no such volume" in h.stderr and "get nope: no such volume" in d.stderr
    fmt = "{{.Name}} {{.Driver}} {{.Scope}} {{.Mountpoint}}|{{.Labels}}"
    h = hood("volume", "ls", "--format", fmt, "--filter", "label=x=y")
    d = _docker(dockerd, "volume", "ls", "--format", fmt, "--filter", "label=x=y")
    h_row, h_labels = h.stdout.replace(str(hood.root), "ROOT").split("|")
    d_row, d_labels = d.stdout.replace(str(dockerd_root), "ROOT").split("|")
    assert h_row == d_row
    assert set(h_labels.strip().split(",")) == set(d_labels.strip().split(","))  # a map: any order
    h, d = hood("volume", "ls"), _docker(dockerd, "volume", "ls", "-f", "name=cmdvol")
    assert h.stdout == d.stdout == "DRIVER    VOLUME NAME\nlocal     cmdvol\n"
    assert hood("volume", "inspect", "-f", "{{.Labels.x}}", "cmdvol").stdout == "y\n"
    h, d = hood("volume", "rm", "cmdvol", "nope"), _docker(dockerd, "volume", "rm", "cmdvol", "nope")
    assert (h.returncode, h.stdout) == (d.returncode, d.stdout) == (1, "cmdvol\n")
    assert hood("volume", "rm", "-f", "nope").returncode == 0


def _option_keys(doc: dict) -> dict:
    h, c = doc["HostConfig"], doc["Config"]
    keys = ("Binds", "CapAdd", "CapDrop", "Dns", "DnsOptions", "DnsSearch", "ExtraHosts",
            "Init", "Privileged", "SecurityOpt", "ShmSize", "Devices", "Ulimits", "Mounts",
            "MaskedPaths", "ReadonlyPaths")  # fmt: skip
    out = {k: h.get(k, "absent") for k in keys}
    out.update({f"Config.{k}": c.get(k, "absent") for k in
                ("Labels", "StopSignal", "Volumes", "AttachStdin", "AttachStdout",
                 "AttachStderr")})  # fmt: skip
    return out


def _mounts(doc: dict, root: Path) -> list[dict]:
    out = []
    for m in doc["Mounts"]:
        m = dict(m)
        if m["Type"] == "volume":
            m["Source"] = m["Source"].replace(str(root), "ROOT")
            if len(m["Name"]) == 64:  # anonymous: a random name
                m["Source"] = m["Source"].replace(m["Name"], "ID")
                m["Name"] = "ID"
        out.append(m)
    return sorted(out, key=lambda m: m["Destination"])


OPTION_SETS = [
    ["--cap-add", "net_admin", "--cap-drop", "CAP_CHOWN", "--cap-add", "all", "--init",
     "--add-host", "foo:1.2.3.4", "--dns", "9.9.9.9", "--dns-search", "example.com",
     "--dns-option", "ndots:2", "--ulimit", "nofile=100:200", "--ulimit", "nproc=50",
     "--device", "/dev/null:/dev/n2:r", "--label", "a=b", "--stop-signal", "SIGUSR1",
     "--shm-size", "8m", "--security-opt", "label=disable", "--security-opt",
     "no-new-privileges", "-a", "stdout"],
    ["-v", "/etc:/e:ro", "-v", "named-i:/n", "-v", "named-r:/nr:ro", "-v", "/anon",
     "--mount", "type=tmpfs,dst=/tm,tmpfs-size=1m", "--mount", "type=volume,src=mv-i,dst=/mv",
     "--mount", "type=bind,src=/etc,dst=/mb,readonly"],
    ["--privileged", "-a", "stderr", "-a", "stdin"],
    ["--security-opt", "systempaths=unconfined", "--security-opt", "seccomp=unconfined"],
]  # fmt: skip


@pytest.mark.parametrize("opts", OPTION_SETS, ids=lambda o: " ".join(o)[:40])
def test_inspect_records_options_as_docker(hood, dockerd, dockerd_root, vol_image, opts):
    d = _docker(dockerd, "create", "--name", "recorded", *opts, "hoodtest/vol", "true")
    h = hood("create", "--name", "recorded", *opts, vol_image, "true")
    assert h.returncode == d.returncode == 0, (h.stderr, d.stderr)
    try:
        [dd] = json.loads(_docker(dockerd, "inspect", "recorded").stdout)
        [hd] = json.loads(hood("inspect", "recorded").stdout)
        assert list(hd["HostConfig"]) == list(dd["HostConfig"])
        assert list(hd["Config"]) == list(dd["Config"])
        h_opts, d_opts = _option_keys(hd), _option_keys(dd)
        for key in d_opts:
            if key in ("MaskedPaths", "ReadonlyPaths") and d_opts[key]:
                continue  # docker 20.10's lists are older than hood's (docker 28's)
            if key == "Binds" and d_opts[key]:  # docker's CLI sends them in a map's order
                assert sorted(h_opts[key]) == sorted(d_opts[key])
                continue
            assert h_opts[key] == d_opts[key], key
        assert _mounts(hd, hood.root) == _mounts(dd, dockerd_root)
    finally:
        hood("rm", "-v", "recorded")
        _docker(dockerd, "rm", "-v", "recorded")
        for name in ("named-i", "named-r", "mv-i"):
            hood("volume", "rm", name)
            _docker(dockerd, "volume", "rm", name)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_privileged(hood, dockerd, runtime):
    """docker's --privileged cannot start here when the host's bounding set lacks a
    capability (runc: "unable to apply caps"); hood gives every one the host allows, and
    the rest as docker's spec says: no seccomp, no masked paths, the host's devices, /sys
    and the cgroup view writable."""
    host_bnd = next(
        ln.split()[1] for ln in Path("/proc/self/status").read_text().splitlines()
        if ln.startswith("CapBnd:")
    )  # fmt: skip
    script = (
        "grep -E '^(CapEff|Seccomp):' /proc/self/status; grep -E ' /sys (sysfs|cgroup)' /proc/mounts"
        " | cut -d' ' -f2,4 | cut -d, -f1; grep -c ' /proc/keys ' /proc/mounts;"
        " test -c /dev/loop0 && echo loop0; test -c /dev/fuse && echo fuse"
    )
    r = hood("run", "--rm", "--runtime", runtime, "--privileged", "busybox", "sh", "-c", script)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"CapEff:\t{host_bnd}"
    assert lines[1] == "Seccomp:\t0"
    assert lines[2] == "/sys rw"
    assert lines[3] == "0"  # /proc/keys not masked
    if Path("/dev/loop0").exists():
        assert "fuse" in lines  # host devices: char and block nodes alike
    r = hood("run", "--rm", "--runtime", runtime, "busybox", "sh", "-c", script)
    lines = r.stdout.splitlines()
    assert lines[1] == "Seccomp:\t2" and lines[2] == "/sys ro" and lines[3] == "1"


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_systempaths_unconfined_as_docker(hood, dockerd, runtime):
    script = "grep -cE ' /proc/(keys|timer_list|sys|bus|fs|irq) ' /proc/mounts"
    for opts in ([], ["--security-opt", "systempaths=unconfined"]):
        h, d = _both(hood, dockerd, runtime, opts, "busybox", ["sh", "-c", script])
        _same(h, d)


def test_dockerd_on_hoods_root_honours_them(hood, dockerd, vol_image, tmp_path):
    """A dockerd started on a hood data root starts hood's container with its volumes,
    capabilities, ulimits and hosts, as hood ran it."""
    import sys

    from support import dockerd as dockerd_mod

    d = dockerd_mod.Dockerd(tmp_path / "d", [])
    root = d.data_root
    for part in ("image", "overlay2"):
        shutil.copytree(hood.root / part, root / part, symlinks=True)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"))

    def h(*args):
        return subprocess.run([sys.executable, "-m", "hood.cli.main", "--root", str(root),
                               *args], capture_output=True, text=True, env=env,
                              stdin=subprocess.DEVNULL)  # fmt: skip

    script = ("grep CapEff /proc/self/status; ulimit -n; tail -1 /etc/hosts; cat /data/seed.txt;"
              " cat /n/x 2>/dev/null; echo hi > /n/x")  # fmt: skip
    opts = ["--cap-add", "net_admin", "--ulimit", "nofile=123:456", "--add-host", "foo:1.2.3.4",
            "-v", "nv:/n", "--name", "shared"]  # fmt: skip
    r = h("create", *opts, vol_image, "sh", "-c", script)
    assert r.returncode == 0, r.stderr
    ran = h("start", "-a", "shared")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "CapEff:\t00000000a80435fb\n123\n1.2.3.4\tfoo\nseeded by the image\n"
    try:
        d.start()
        started = d.docker("start", "-a", "shared", check=False)
        assert (started.returncode, started.stdout) == (0, ran.stdout + "hi\n"), started.stderr
        d.docker("rm", "-v", "shared")
        # and the other way: what dockerd created with them, hood runs with them
        script = ("grep CapEff /proc/self/status; ulimit -n; cat /n/x; cat /data/seed.txt;"
                  " df /dev/shm | tail -1 | tr -s ' ' | cut -d' ' -f2; cat /proc/1/comm")  # fmt: skip
        d.docker("create", "--name", "made", "--cap-add", "net_admin", "--ulimit",
                 "nofile=77:88", "-v", "nv:/n", "--shm-size", "4m", "--init", vol_image,
                 "sh", "-c", script)  # fmt: skip
        d.stop_daemon()
        ran = h("start", "-a", "made")
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout == (
            "CapEff:\t00000000a80435fb\n77\nhi\nseeded by the image\n4096\nhood-init\n"
        )
        assert h("rm", "-v", "made").returncode == 0
    finally:
        d.stop()
