"""diff, commit and import against dockerd's own, on the same container and the same tar:
hood run with --root on dockerd's data root reads dockerd's containers."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SRC

CHANGES = (
    "echo new > /etc/new.txt; echo more >> /etc/passwd; rm /etc/group; "
    "rm -rf /etc/dir1; mkdir /etc/dir1; echo z > /etc/dir1/z; "
    "mkdir -p /root/deep/er; echo f > /root/deep/er/f; chmod 4755 /root/deep/er/f; "
    "ln /root/deep/er/f /root/hl; ln -s /etc/new.txt /root/sl; mkdir -p /tmp; mkfifo /tmp/fifo; "
    "rm /bin/ls; mkdir -p /x/$(printf '%060d' 0)/$(printf '%060d' 1); "
    "echo long > /x/$(printf '%060d' 0)/$(printf '%060d' 1)/$(printf '%080d' 2); "
    "echo cafe > /etc/café"
)


def _hood(root: Path, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess:
    r = subprocess.run(
        [sys.executable, "-m", "hood.cli.main", "--root", str(root), *args],
        capture_output=True,
        input=input,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        timeout=120,
    )
    r.stdout, r.stderr = r.stdout.decode(), r.stderr.decode()
    return r


def _layers(docker: list[str], image: str) -> list[str]:
    out = subprocess.run([*docker, "inspect", "-f", "{{json .RootFS.Layers}}", image], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def changed(dockerd):
    """A container dockerd ran, whose layer has files added, changed, deleted, a directory
    made opaque, hard links, a setuid file, a fifo, a long and a non-ASCII name."""
    name = "hood-build-test"
    subprocess.run([*dockerd, "rm", "-f", name], capture_output=True)
    r = subprocess.run(
        [*dockerd, "run", "--name", name, "hoodtest/busybox", "sh", "-c",
         "mkdir -p /etc/dir1/sub && echo a > /etc/dir1/a && echo b > /etc/group"],
        capture_output=True, text=True,
    )
    assert r.returncode == 0, r.stderr
    base = subprocess.run([*dockerd, "commit", name, "hoodtest/base:1"], capture_output=True, text=True)
    assert base.returncode == 0, base.stderr
    subprocess.run([*dockerd, "rm", name], capture_output=True, check=True)
    r = subprocess.run([*dockerd, "run", "--name", name, "hoodtest/base:1", "sh", "-c", CHANGES], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    yield name
    subprocess.run([*dockerd, "rm", "-f", name], capture_output=True)


def test_diff_matches_docker_diff(dockerd, dockerd_root, changed):
    want = subprocess.run([*dockerd, "diff", changed], capture_output=True, text=True, check=True).stdout
    got = _hood(dockerd_root, "diff", changed)
    assert got.returncode == 0, got.stderr
    assert "D /etc/group" in got.stdout.splitlines() and "A /etc/new.txt" in got.stdout.splitlines()
    assert sorted(got.stdout.splitlines()) == sorted(want.splitlines())


def test_commit_gives_dockers_diff_id(dockerd, dockerd_root, changed):
    # dockerd first: it keeps its layer store in memory and would not expect ours
    r = subprocess.run([*dockerd, "commit", changed, "hoodtest/committed:docker"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    docker_layers = _layers(dockerd, "hoodtest/committed:docker")
    got = _hood(dockerd_root, "commit", "-m", "by hood", changed, "hoodtest/committed:hood")
    assert got.returncode == 0, got.stderr
    assert got.stdout.strip().startswith("sha256:")
    r = _hood(dockerd_root, "inspect", "-f", "{{json .RootFS.Layers}}", "hoodtest/committed:hood")
    assert json.loads(r.stdout) == docker_layers  # the parent's layers, and the new one byte for byte
    digests = _hood(dockerd_root, "digests", "--json", "hoodtest/committed:hood")
    assert digests.returncode == 0, digests.stdout + digests.stderr


def test_import_gives_dockers_diff_id(dockerd, dockerd_root, tmp_path, layers):
    tar = tmp_path / "rootfs.tar"
    tar.write_bytes(layers[0])
    subprocess.run([*dockerd, "import", str(tar), "hoodtest/imported:docker"], capture_output=True, check=True)
    want = _layers(dockerd, "hoodtest/imported:docker")
    plain = _hood(dockerd_root, "import", str(tar), "hoodtest/imported:hood")
    assert plain.returncode == 0, plain.stderr
    packed = _hood(dockerd_root, "import", "-", "hoodtest/imported:gz", input=gzip.compress(layers[0]))
    assert packed.returncode == 0, packed.stderr
    for tag in ("hood", "gz"):
        r = _hood(dockerd_root, "inspect", "-f", "{{json .RootFS.Layers}}", f"hoodtest/imported:{tag}")
        assert json.loads(r.stdout) == want
    cfg = _hood(dockerd_root, "inspect", "-f", "{{.Comment}}", "hoodtest/imported:hood")
    assert cfg.stdout.strip() == "Imported from -"


def test_commit_changes_apply(dockerd, dockerd_root, changed):
    got = _hood(
        dockerd_root, "commit", "-c", "CMD [\"echo\", \"hi\"]", "-c", "ENV A=1", "-c", "WORKDIR /srv",
        "-c", "EXPOSE 80", "-c", "LABEL k=v", "-c", "USER 7", changed, "hoodtest/changed:1",
    )
    assert got.returncode == 0, got.stderr
    cfg = json.loads(_hood(dockerd_root, "inspect", "-f", "{{json .Config}}", "hoodtest/changed:1").stdout)
    assert cfg["Cmd"] == ["echo", "hi"] and "A=1" in cfg["Env"] and cfg["WorkingDir"] == "/srv"
    assert cfg["ExposedPorts"] == {"80/tcp": {}} and cfg["Labels"] == {"k": "v"} and cfg["User"] == "7"
    bad = _hood(dockerd_root, "commit", "-c", "STOPSIGNAL 9", changed)
    assert bad.returncode == 1 and "stopsignal is not a valid change command" in bad.stderr
