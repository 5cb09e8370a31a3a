"""Filters, ps columns, prunes and system df against dockerd: the same images (pulled from
the suite's registry, tagged the same way) and the same containers in both, the same
command lines, the same output (container IDs and elapsed times aside, which differ)."""

from __future__ import annotations

import re

import pytest
from support import images
from support.hood import Hood

pytestmark = pytest.mark.dockerd


def _build(name: str, created: str, labels: dict) -> images.Image:
    saved = images.CREATED
    images.CREATED = created
    try:
        cfg = {"Cmd": ["sh"], "Env": ["PATH=/bin"], "Labels": labels}
        return images.build_image(name, images.busybox().layers, docker=True, config=cfg)
    finally:
        images.CREATED = saved


@pytest.fixture(scope="module")
def both(dockerd, plain_images, plain_registry, tmp_path_factory):
    """dockerd and hood with: busybox (2023), old (2020, team=a), new (2024, team=b,
    tier=web), layers; extra names; `old` left dangling (its tag moved to `new`)."""
    dockerd.reset()
    old = images.push(plain_registry, _build("old", "2020-01-01T00:00:00Z", {"team": "a"}), "filt/old")
    new = images.push(
        plain_registry, _build("new", "2024-06-01T00:00:00Z", {"team": "b", "tier": "web"}), "filt/new"
    )  # fmt: skip
    refs = {
        "busybox": plain_images["busybox"].ref,
        "layers": plain_images["layers"].ref,
        "old": old.ref,
        "new": new.ref,
    }
    hood = Hood(tmp_path_factory.mktemp("filters") / "root", plain_registry.env)
    for ref in refs.values():
        dockerd.docker("pull", ref)
        hood.run("pull", "-q", ref).ok()
    for args in (
        ["tag", refs["busybox"], "extra/app:1.0"],
        ["tag", refs["busybox"], "extra/app:1.1"],
        ["tag", refs["layers"], "extra/app:2.0"],
        ["tag", refs["new"], "extra/other:latest"],
        ["tag", refs["new"], refs["old"]],  # old keeps only its digest: dangling
    ):
        dockerd.docker(*args)
        hood.run(*args).ok()
    yield hood, refs
    dockerd.reset()


def _same(hood, dockerd, args, *, sort=True, status_only=False):
    d = dockerd.docker(*args, check=False)
    h = hood.run(*args)
    assert (h.status == 0) == (d.returncode == 0), (args, h.stderr, d.stderr)
    if status_only:
        return
    d_out, h_out = d.stdout, h.stdout
    if sort:  # rows of equal creation time come in Go map order
        d_out, h_out = sorted(d_out.splitlines()), sorted(h_out.splitlines())
    assert h_out == d_out, args
    assert h.stderr == d.stderr, args


IMAGE_ARGS = [
    [],
    ["-a"],
    ["--digests"],
    ["--no-trunc"],
    ["extra/app"],
    ["extra/app:1.1"],
    ["extra/*"],
    ["extra/app:1.*"],
    ["nosuch"],
    ["-f", "dangling=true"],
    ["-f", "dangling=false"],
    ["-f", "dangling=true", "--digests"],
    ["-f", "reference=extra/app"],
    ["-f", "reference=extra/*:1.*"],
    ["-f", "reference=extra/app:2.0", "-f", "reference=extra/other"],
    ["-f", "label=team"],
    ["-f", "label=team=a"],
    ["-f", "label=team=b", "-f", "label=tier"],
    ["-f", "label=tier=db"],
    ["-q", "-f", "label=team"],
    ["--format", "{{.Repository}}:{{.Tag}}", "-f", "reference=extra/*"],
    ["--format", "json", "-f", "dangling=true"],
    ["-f", "dangling=maybe"],
    ["-f", "nosuchfilter=1"],
]


@pytest.mark.parametrize("args", IMAGE_ARGS, ids=" ".join)
def test_images_filters(both, dockerd, args):
    hood, _ = both
    errors = bool(args) and args[-1] in ("dangling=maybe", "nosuchfilter=1")
    _same(hood, dockerd, ["images", *args], status_only=errors)


@pytest.mark.parametrize("which", ["before", "since"])
@pytest.mark.parametrize("name", ["busybox", "new", "layers"])
def test_images_before_since(both, dockerd, which, name):
    hood, refs = both
    _same(hood, dockerd, ["images", "-f", f"{which}={refs[name]}"])
    _same(hood, dockerd, ["image", "ls", "-q", "--filter", f"{which}={refs[name]}"])


# --- containers ------------------------------------------------------------------------------

_TIMES = re.compile(
    r"(Less than a second|About a minute|About an hour|\d+ (seconds|second|minutes|hours))"
)


def _norm(text: str) -> str:
    return _TIMES.sub("T", re.sub(r"\b[0-9a-f]{12}\b|\b[0-9a-f]{64}\b", "ID", text))


@pytest.fixture(scope="module")
def containers(both, dockerd):
    """The same four containers in both, on no network: f1 exited 0 (wrote 2 bytes), f2
    exited 3, f3 created, f4 running."""
    hood, refs = both
    bb = refs["busybox"]
    for args in (
        ["run", "--network", "none", "--name", "f1", bb, "sh", "-c", 'echo "a b"; echo x > /f'],
        ["run", "--network", "none", "--name", "f2", bb, "sh", "-c", "exit 3"],
        ["create", "--network", "none", "--name", "f3", bb, "echo", "hello world", "it's", "",
         "tab\tx"],
        ["run", "-d", "--network", "none", "--name", "f4", bb, "sleep", "600"],
    ):  # fmt: skip
        dockerd.docker(*args, check=False)
        hood.run(*args)
    yield hood, refs
    for name in ("f1", "f2", "f3", "f4"):
        dockerd.docker("rm", "-f", name, check=False)
        hood.run("rm", "-f", name)


# Not .Labels: docker copies the image's labels into the container's config when it creates
# it, hood's create does not (yet), so only the label filters' results are compared.
PS_FORMAT = "{{.Names}}|{{.Image}}|{{.Command}}|{{.State}}|{{.Mounts}}|{{.Ports}}|{{.Networks}}"
PS_ARGS = [
    ["-a"],
    ["-a", "--no-trunc"],
    [],
    ["-n", "2"],
    ["-n", "3", "-a"],
    ["-l"],
    ["-a", "-f", "status=exited"],
    ["-f", "status=created"],
    ["-f", "status=running"],
    ["-a", "-f", "exited=0"],
    ["-a", "-f", "exited=3", "-f", "exited=0"],
    ["-f", "exited=0"],
    ["-a", "-f", "name=f[12]"],
    ["-a", "-f", "name=^/?f1$"],
    ["-a", "-f", "name=nosuch"],
    ["-a", "-f", "before=f3"],
    ["-a", "-f", "since=f2"],
    ["-a", "-f", "ancestor=BUSYBOX"],
    ["-a", "-f", "ancestor=extra/app:1.0"],
    ["-a", "-f", "ancestor=LAYERS"],
    ["-a", "-f", "label=team"],
    ["-a", "-f", "status=exited", "-f", "name=f2"],
]


@pytest.mark.parametrize("args", PS_ARGS, ids=" ".join)
def test_ps(containers, dockerd, args):
    hood, refs = containers
    args = [a.replace("BUSYBOX", refs["busybox"]).replace("LAYERS", refs["layers"]) for a in args]
    _same(hood, dockerd, ["ps", *args, "--format", PS_FORMAT], sort=False)
    d = dockerd.docker("ps", *args, "-q")
    h = hood.run("ps", *args, "-q").ok()
    assert len(h.stdout.split()) == len(d.stdout.split())


@pytest.mark.parametrize("args", [["-a"], ["-a", "-s"], ["-s"], ["-a", "--no-trunc"]], ids=" ".join)
def test_ps_table(containers, dockerd, args):
    """The default table: the same header, and row by row the same cells once IDs and
    elapsed times are set aside."""
    hood, _ = containers
    d = dockerd.docker("ps", *args).stdout.splitlines()
    h = hood.run("ps", *args).ok().stdout.splitlines()
    assert h[0].split() == d[0].split()
    cells = [[_norm(c) for c in re.split(r"\s{2,}", line.strip())] for line in d[1:]]
    assert [[_norm(c) for c in re.split(r"\s{2,}", line.strip())] for line in h[1:]] == cells


def test_ps_sizes(containers, dockerd):
    hood, _ = containers
    _same(hood, dockerd, ["ps", "-a", "-s", "--format", "{{.Names}} {{.Size}}"], sort=False)
    # .Size in a template asks for sizes, as docker's CLI does
    _same(hood, dockerd, ["ps", "-a", "--format", "{{.Names}} {{.Size}}"], sort=False)


def test_ps_bad_filters(containers, dockerd):
    hood, _ = containers
    for bad in ("status=bogus", "exited=x", "nosuch=1"):
        _same(hood, dockerd, ["ps", "-a", "-f", bad], status_only=True)
        r = hood.run("ps", "-a", "-f", bad).failed()
        assert "invalid filter" in r.stderr.lower()


def test_system_df(containers, dockerd):
    hood, _ = containers
    _same(hood, dockerd, ["system", "df"], sort=False)
    _same(hood, dockerd, ["system", "df", "--format", "{{.Type}}: {{.Reclaimable}}"], sort=False)


INFO_FIELDS = [
    "Driver",
    "Containers",
    "ContainersRunning",
    "ContainersPaused",
    "ContainersStopped",
    "Images",
    "LoggingDriver",
    "CgroupDriver",
    "CgroupVersion",
    "KernelVersion",
    "OperatingSystem",
    "OSType",
    "Architecture",
    "NCPU",
    "MemTotal",
    "Name",
]


def test_info(containers, dockerd):
    """What docker info says of the host and of the same store, hood info says too."""
    hood, _ = containers
    fmt = "\n".join(f"{name}={{{{.{name}}}}}" for name in INFO_FIELDS)
    _same(hood, dockerd, ["info", "--format", fmt], sort=False)
    text = hood.run("info").ok().stdout
    for line in ("Containers: 4", " Running: 1", " Stopped: 3", "Images: 4",
                 "Storage Driver: overlay2", f"Hood Root Dir: {hood.root}"):  # fmt: skip
        assert f"\n{line}\n" in f"\n{text}", line
    assert "\nRuntimes: builtin" in text and "\nRootless: false\n" in text
    assert "\nCgroup Version: " in text


LOG_ARGS = [
    [],
    ["--tail", "2"],
    ["-n", "0"],
    ["--tail", "all"],
    ["--tail", "x"],  # docker: anything but a number is all
    ["--tail", "-1"],
    ["--since", "42m"],
    ["--until", "42m"],
    ["--since", "2013-01-02"],
    ["--since", "2013-01-02T13:23:37Z", "--until", "2099-01-01T00:00:00Z"],
    ["--since", "4000000000"],
    ["--tail", "3", "--since", "1h"],
    ["--since", "bogus"],
    ["--until", "2013-13-45"],
]


@pytest.fixture(scope="module")
def logged(both, dockerd):
    """A container in each that wrote five lines to stdout and five to stderr, and exited."""
    import time

    hood, refs = both
    # one line at a time, so both logs hold them in the order written (two pipes read at
    # once would otherwise give whichever order each reader happened to see)
    script = "for i in 1 2 3 4 5; do echo out$i; sleep 0.05; echo err$i >&2; sleep 0.05; done"
    args = ["run", "-d", "--network", "none", "--name", "logged", refs["busybox"], "sh", "-c"]
    dockerd.docker(*args, script)
    hood.run(*args, script).ok()
    dockerd.docker("wait", "logged")
    deadline = time.monotonic() + 30
    while hood.run("ps", "-q", "-f", "name=^logged$").ok().stdout:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    yield hood
    dockerd.docker("rm", "-f", "logged", check=False)
    hood.run("rm", "-f", "logged")


@pytest.mark.parametrize("args", LOG_ARGS, ids=" ".join)
def test_logs(logged, dockerd, args):
    hood = logged
    d = dockerd.docker("logs", *args, "logged", check=False)
    h = hood.run("logs", *args, "logged")
    assert (h.status, h.stdout) == (d.returncode, d.stdout)
    if d.returncode:  # the CLI's own words: invalid value for "since": ...
        assert h.stderr.split(":")[0] == d.stderr.split(":")[0]
    else:
        assert h.stderr == d.stderr


def test_logs_timestamps(logged, dockerd):
    hood = logged
    stamp = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z ")
    d = dockerd.docker("logs", "-t", "--tail", "3", "logged")
    h = hood.run("logs", "-t", "--tail", "3", "logged").ok()
    for out in (d.stdout, d.stderr, h.stdout, h.stderr):
        assert all(stamp.match(line) for line in out.splitlines()), out
    assert stamp.sub("", h.stdout) == stamp.sub("", d.stdout)
    assert stamp.sub("", h.stderr) == stamp.sub("", d.stderr)


# --- prunes (last: they change what the tests above look at) -----------------------------------


def _prune(hood, dockerd, *args):
    d = dockerd.docker(*args, "-f").stdout
    h = hood.run(*args, "-f").ok().stdout
    assert sorted(_norm(h).splitlines()) == sorted(_norm(d).splitlines()), args
    return h


def test_prunes(containers, dockerd):
    hood, refs = containers
    out = _prune(hood, dockerd, "container", "prune")
    assert out.startswith("Deleted Containers:\n") and out.endswith("\nTotal reclaimed space: 2B\n")
    _same(hood, dockerd, ["ps", "-a", "--format", "{{.Names}}"])  # f4 runs on
    out = _prune(hood, dockerd, "image", "prune")  # the dangling one
    assert "deleted: sha256:" in out
    _same(hood, dockerd, ["images"])
    _prune(hood, dockerd, "image", "prune", "-a")  # all but the one f4 uses
    _same(hood, dockerd, ["images"])
    _prune(hood, dockerd, "image", "prune", "-a")  # nothing left to prune
    _same(hood, dockerd, ["system", "df"], sort=False)
