"""history, inspect and images against dockerd 20.10 (through the docker CLI the tests run):
the same pulls print the same bytes, --format templates included."""

from __future__ import annotations

import re

import pytest
from support.hood import Hood

pytestmark = pytest.mark.dockerd

NAMES = ["busybox", "busybox-oci", "layers", "multiarch", "multiarch-docker", "uncompressed"]

INSPECT_FORMATS = [
    "{{.Id}}",
    "{{json .Config}}",
    "{{json .}}",
    "{{index .RepoDigests 0}}",
    "{{range .RootFS.Layers}}{{println .}}{{end}}",
    "{{.Config.Env}}",
    '{{join .Config.Cmd " "}}',
    "{{.Os}}/{{.Architecture}}",
    '{{if .Config.Labels}}{{index .Config.Labels "k"}}{{end}}',
    "{{.GraphDriver.Name}}",
    "{{.Size}}",
    "{{.Metadata}}",
    "{{.ContainerConfig.Labels}}",
    "{{.Variant}}",
    "json",
    "{{.Foo}}",
    "{{.Config.Foo}}",
    "{{.Id}} {{.Foo}}",
]

HISTORY_ARGS = [
    [],
    ["--no-trunc"],
    ["-q"],
    ["-q", "--no-trunc"],
    ["-H=false"],
    ["--format", "{{.ID}} {{.CreatedBy}}"],
    ["--format", "table {{.ID}}\t{{.Size}}"],
    ["--format", "{{json .}}"],
    ["--format", "json"],
    ["--format", "table {{upper .CreatedBy}}\t{{json .Size}}"],
    ["--format", "{{.Nope}}"],
    ["--format", "{{.ID"],
]

IMAGES_FORMATS = [
    "{{.Repository}}:{{.Tag}}",
    "table {{.Repository}}\t{{.Tag}}\t{{.ID}}",
    "{{json .}}",
    "{{.Digest}}",
    "{{.CreatedAt}}",
    "table {{.Repository}}\t{{.VirtualSize}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}",
    "{{.Nope}}",
]

_OVERLAY = re.compile(r"/[^\"\s]*/overlay2/[0-9a-f]{64}")


def _norm(text: str) -> str:
    return _OVERLAY.sub("OVERLAY", text)


@pytest.fixture(scope="module")
def both(dockerd, plain_images, tmp_path_factory):
    dockerd.reset()
    hood = Hood(tmp_path_factory.mktemp("format") / "root")
    for name in NAMES:
        p = plain_images[name]
        dockerd.docker("pull", p.ref)
        hood.run("pull", p.ref, env=p.registry.env).ok()
    return hood, {name: plain_images[name].ref for name in NAMES}


def _same(hood, dockerd, args, *, sort=False):
    d = dockerd.docker(*args, check=False)
    h = hood.run(*args)
    d_out, h_out = _norm(d.stdout), _norm(h.stdout)
    if sort:  # docker orders rows of equal creation time in Go map order
        d_out, h_out = sorted(d_out.splitlines()), sorted(h_out.splitlines())
    assert h_out == d_out, f"stdout of {args}"
    assert h.stderr == d.stderr, f"stderr of {args}"
    assert (h.status == 0) == (d.returncode == 0), f"status of {args}"


@pytest.mark.parametrize("name", NAMES)
def test_plain_inspect(both, dockerd, name):
    hood, refs = both
    _same(hood, dockerd, ["inspect", refs[name]])


@pytest.mark.parametrize("fmt", INSPECT_FORMATS)
@pytest.mark.parametrize("name", ["busybox", "layers", "multiarch"])
def test_inspect_format(both, dockerd, name, fmt):
    hood, refs = both
    _same(hood, dockerd, ["inspect", "--format", fmt, refs[name]])


def test_inspect_several_and_missing(both, dockerd):
    hood, refs = both
    _same(hood, dockerd, ["inspect", "-f", "{{.Id}}", "nosuch", refs["busybox"]])
    _same(hood, dockerd, ["inspect", "nosuch"])


@pytest.mark.parametrize("args", HISTORY_ARGS, ids=lambda a: " ".join(a) or "plain")
@pytest.mark.parametrize("name", ["busybox", "layers", "multiarch"])
def test_history(both, dockerd, name, args):
    """CREATED columns say "3 years ago": both run within the same second here."""
    hood, refs = both
    _same(hood, dockerd, ["history", *args, refs[name]])


@pytest.mark.parametrize("fmt", IMAGES_FORMATS)
@pytest.mark.parametrize("flags", [[], ["--digests"], ["--no-trunc"]], ids=str)
def test_images_format(both, dockerd, flags, fmt):
    hood, _ = both
    _same(hood, dockerd, ["images", *flags, "--format", fmt], sort=True)


def test_unknown_field_is_one_line_exit_1(both):
    hood, refs = both
    r = hood.run("history", "--format", "{{.Nope}}", refs["busybox"]).failed()
    assert "can't evaluate field Nope" in r.stderr
    r = hood.run("images", "--format", "{{.Nope}}").failed()
    assert "can't evaluate field Nope" in r.stderr
    r = hood.run("inspect", "--format", "{{.Nope}}", refs["busybox"])
    assert r.status == 1 and 'map has no entry for key "Nope"' in r.stderr


def test_inspect_odd_strings_as_go_writes_them(dockerd, plain_registry, tmp_path):
    """A config with an unpaired UTF-16 surrogate (Go decodes it to U+FFFD), U+2028 (Go
    always escapes it), HTML characters, control characters and a float: `hood inspect`
    prints what docker prints (issue 10, bug 12: it crashed with UnicodeEncodeError)."""
    from support import images

    config = {
        "Env": ["S=x\ud800y\udfff", "L=a\u2028b", "C=\x01\x1f\t"],
        "Labels": {"html": "<a href='x'>&</a>", "lone": "\ud800"},
        "Cmd": ["sh"],
        "StopTimeout": 10,
    }
    img = images.build_image("odd", images.busybox().layers, docker=True, config=config)
    pushed = images.push(plain_registry, img, "library/odd")
    hood = Hood(tmp_path / "root")
    dockerd.docker("pull", pushed.ref)
    try:
        hood.run("pull", pushed.ref, env=pushed.registry.env).ok()
        for args in (
            ["inspect", pushed.ref],
            ["inspect", "--format", "{{json .Config}}", pushed.ref],
            ["inspect", "--format", "json", pushed.ref],
            ["inspect", "--format", "{{.Config.Labels.lone}}", pushed.ref],
        ):
            _same(hood, dockerd, args)
    finally:
        dockerd.docker("rmi", pushed.ref, check=False)
