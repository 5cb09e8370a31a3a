import pytest

from hood.core.errors import InvalidReference
from hood.core.reference import parse

D = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("text", "canonical", "familiar"),
    [
        ("fedora", "docker.io/library/fedora:latest", "fedora:latest"),
        ("user/repo", "docker.io/user/repo:latest", "user/repo:latest"),
        ("index.docker.io/library/ubuntu:22.04", "docker.io/library/ubuntu:22.04", "ubuntu:22.04"),
        ("localhost/x", "localhost/x:latest", "localhost/x:latest"),
        ("host:5000/ns/repo:tag", "host:5000/ns/repo:tag", "host:5000/ns/repo:tag"),
        (f"busybox@{D}", f"docker.io/library/busybox@{D}", f"busybox@{D}"),
        (f"busybox:1@{D}", f"docker.io/library/busybox:1@{D}", f"busybox:1@{D}"),
        ("[::1]:5000/r", "[::1]:5000/r:latest", "[::1]:5000/r:latest"),
        ("a.b/c__d/e-f.g:T_1.x-y", "a.b/c__d/e-f.g:T_1.x-y", "a.b/c__d/e-f.g:T_1.x-y"),
    ],
)
def test_normalises_as_docker(text: str, canonical: str, familiar: str) -> None:
    ref = parse(text)
    assert str(ref) == canonical
    assert ref.familiar() == familiar


def test_docker_hub_host() -> None:
    assert parse("busybox").registry_host == "registry-1.docker.io"
    assert parse("127.0.0.1:5000/a").registry_host == "127.0.0.1:5000"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Uppercase:tag", "lowercase"),
        ("a:" + "x" * 129, "bad tag"),
        ("a" * 64, "64-byte hexadecimal"),
        ("a@sha256:zz", "invalid digest"),
        ("a@md5:" + "0" * 32, "invalid digest"),
        ("x//y", "empty path component"),
        ("a/" + "b" * 256, "longer than 255"),
        ("", "empty"),
        (":tag", "empty repository"),
        ("a:.bad", "bad tag"),
        ("-a/b", "bad repository name"),
        ("[fe80::1%eth0]:5000/r", "bad registry host"),
    ],
)
def test_rejects_with_reason(text: str, problem: str) -> None:
    with pytest.raises(InvalidReference, match=problem):
        parse(text)
