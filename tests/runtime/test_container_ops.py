"""wait, rename, restart, top and cp, on stopped and running containers; cp never reads or
writes outside the container's root, whatever its symlinks say."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import time

import pytest


@pytest.fixture
def box(hood):
    """A stopped container whose filesystem has symlinks aimed at the host."""
    r = hood(
        "run", "--name", "opsbox", "busybox", "sh", "-c",
        "mkdir -p /data/sub && echo one > /data/a && echo two > /data/sub/b && "
        "ln -s /etc/shadow /data/shadow && ln -s ../../.. /data/up && ln -s / /data/root",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    yield "opsbox"
    hood("rm", "-f", "opsbox")


def _tar_names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return tf.getnames()


def _hood_bytes(hood, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess:
    import os
    import sys

    from conftest import SRC

    env = dict(os.environ, PYTHONPATH=str(SRC))
    env.pop("HOOD_ROOT", None)
    return subprocess.run(
        [sys.executable, "-m", "hood.cli.main", "--root", str(hood.root), *args],
        capture_output=True, input=input, env=env, timeout=60,
    )  # fmt: skip


def test_wait_prints_exit_codes(hood):
    cid = hood("run", "-d", "busybox", "sh", "-c", "sleep 0.5; exit 3").stdout.strip()
    try:
        r = hood("wait", cid)
        assert (r.returncode, r.stdout) == (0, "3\n")
        made = hood("create", "busybox", "true").stdout.strip()
        assert hood("wait", made).stdout == "0\n"  # never started: at once
        hood("rm", made)
    finally:
        hood("rm", "-f", cid)
    assert hood("wait", "nosuch").returncode == 1


def test_rename(hood, box):
    assert hood("rename", box, "opsbox2").returncode == 0
    assert "opsbox2" in hood("ps", "-a", "--format", "{{.Names}}").stdout.split()
    other = hood("create", "--name", "taken", "busybox", "true").stdout.strip()
    try:
        r = hood("rename", "opsbox2", "taken")
        assert r.returncode == 1 and 'The container name "/taken" is already in use' in r.stderr
        assert hood("rename", "opsbox2", "bad name").returncode == 1
    finally:
        hood("rm", other)
        hood("rename", "opsbox2", box)


def test_restart_and_top(hood):
    cid = hood("run", "-d", "busybox", "sleep", "30").stdout.strip()
    try:
        first = hood("inspect", "-f", "{{.State.Pid}}", cid).stdout.strip()
        deadline = time.monotonic() + 10  # run -d returns before the command has exec'd
        while True:
            top = hood("top", cid)
            assert top.returncode == 0, top.stderr
            lines = top.stdout.splitlines()
            assert lines[0].split()[:3] == ["UID", "PID", "PPID"]
            if any("sleep 30" in line and first in line.split() for line in lines[1:]):
                break
            assert time.monotonic() < deadline, top.stdout
            time.sleep(0.1)
        assert hood("restart", "-t", "1", cid).returncode == 0
        time.sleep(0.2)
        second = hood("inspect", "-f", "{{.State.Pid}}", cid).stdout.strip()
        assert second not in ("0", first)
        assert "running" in hood("ps", "--no-trunc", "--format", "{{.ID}} {{.State}}").stdout
    finally:
        hood("rm", "-f", cid)
    assert hood("top", "opsbox-none").returncode == 1


def test_cp_out_of_a_stopped_container(hood, box, tmp_path):
    r = _hood_bytes(hood, "cp", f"{box}:/data", "-")
    assert r.returncode == 0, r.stderr
    names = _tar_names(r.stdout)
    assert names[:2] == ["data", "data/a"] and "data/sub/b" in names
    r = _hood_bytes(hood, "cp", f"{box}:/data/.", "-")
    assert _tar_names(r.stdout)[0] == "."
    assert hood("cp", f"{box}:/data/a", str(tmp_path / "a")).returncode == 0
    assert (tmp_path / "a").read_text() == "one\n"
    (tmp_path / "dir").mkdir()
    assert hood("cp", f"{box}:/data", str(tmp_path / "dir")).returncode == 0
    assert (tmp_path / "dir" / "data" / "sub" / "b").read_text() == "two\n"
    assert hood("cp", f"{box}:/nonexist", "-").returncode == 1


def test_cp_symlinks_stay_in_the_container(hood, box, tmp_path):
    # /data/shadow -> /etc/shadow is the container's (missing), never the host's
    r = _hood_bytes(hood, "cp", "-L", f"{box}:/data/shadow", "-")
    assert r.returncode == 1 and b"Could not find" in r.stderr
    # ../../.. from /data stops at the container's root: its /data/a, not the host's
    r = _hood_bytes(hood, "cp", f"{box}:/data/up/data/a", "-")
    assert r.returncode == 0, r.stderr
    with tarfile.open(fileobj=io.BytesIO(r.stdout)) as tf:
        assert tf.extractfile("a").read() == b"one\n"


def test_cp_into_never_writes_the_host(hood, box, tmp_path):
    sentinel = tmp_path / "sentinel"
    sentinel.write_text("untouched")
    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w") as tf:
        for name in (f"root{sentinel}", "up/up/etc/hood-evil", "../escape"):
            info = tarfile.TarInfo(name)
            info.size = 4
            tf.addfile(info, io.BytesIO(b"evil"))
    r = _hood_bytes(hood, "cp", "-", f"{box}:/data", input=evil.getvalue())
    assert r.returncode == 1, r.stdout
    assert sentinel.read_text() == "untouched"
    # an honest copy in lands inside
    (tmp_path / "in.txt").write_text("hello")
    assert hood("cp", str(tmp_path / "in.txt"), f"{box}:/data/").returncode == 0
    assert hood("cp", str(tmp_path / "in.txt"), f"{box}:/data/renamed.txt").returncode == 0
    out = _hood_bytes(hood, "cp", f"{box}:/data/renamed.txt", "-")
    with tarfile.open(fileobj=io.BytesIO(out.stdout)) as tf:
        assert tf.extractfile("renamed.txt").read() == b"hello"


def test_cp_into_a_running_container(hood):
    cid = hood("run", "-d", "busybox", "sh", "-c", "mkdir /in; sleep 30").stdout.strip()
    try:
        data = io.BytesIO()
        with tarfile.open(fileobj=data, mode="w") as tf:
            info = tarfile.TarInfo("note")
            info.size = 3
            tf.addfile(info, io.BytesIO(b"hi\n"))
        time.sleep(0.3)
        r = _hood_bytes(hood, "cp", "-", f"{cid}:/in", input=data.getvalue())
        assert r.returncode == 0, r.stderr
        out = _hood_bytes(hood, "cp", f"{cid}:/in/note", "-")
        assert out.returncode == 0, out.stderr
        with tarfile.open(fileobj=io.BytesIO(out.stdout)) as tf:
            assert tf.extractfile("note").read() == b"hi\n"
    finally:
        hood("rm", "-f", cid)


def test_cp_in_keeps_owners_and_archive_takes_the_containers_user(hood, tmp_path):
    """As dockerd's CopyUIDGID: without -a the tar's owners stay; with -a and a
    Config.User every entry is that user's (looked up in the container's passwd)."""
    import os

    src = tmp_path / "tree"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "f").write_text("x")
    for p in (src, src / "sub", src / "sub" / "f"):
        os.chown(p, 1234, 4321)
    made = hood("create", "--name", "cpowner", "-u", "nobody", "busybox", "true")
    assert made.returncode == 0, made.stderr
    try:
        assert hood("cp", str(src), "cpowner:/plain").returncode == 0
        r = hood("cp", "-a", str(src), "cpowner:/archived")
        assert r.returncode == 0, r.stderr
        for where, want in (("plain", (1234, 4321)), ("archived", (65534, 65534))):
            out = _hood_bytes(hood, "cp", f"cpowner:/{where}", "-")
            assert out.returncode == 0, out.stderr
            with tarfile.open(fileobj=io.BytesIO(out.stdout)) as tf:
                owners = {m.name: (m.uid, m.gid) for m in tf.getmembers()}
            assert owners == {n: want for n in (where, f"{where}/sub", f"{where}/sub/f")}, owners
    finally:
        hood("rm", "-f", "cpowner")


def test_cp_in_follows_a_symlink_source_only_with_L(hood, box, tmp_path):
    (tmp_path / "real").write_text("target")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert hood("cp", str(tmp_path / "link"), f"{box}:/data/asis").returncode == 0
    assert hood("cp", "-L", str(tmp_path / "link"), f"{box}:/data/followed").returncode == 0
    out = _hood_bytes(hood, "cp", f"{box}:/data/asis", "-")
    with tarfile.open(fileobj=io.BytesIO(out.stdout)) as tf:
        assert tf.getmember("asis").issym()
    out = _hood_bytes(hood, "cp", f"{box}:/data/followed", "-")
    with tarfile.open(fileobj=io.BytesIO(out.stdout)) as tf:
        assert tf.extractfile("followed").read() == b"target"


def test_cp_errors_are_one_line(hood, box, tmp_path):
    r = hood("cp", f"{box}:/data", str(tmp_path / "no" / "such" / "dir"))
    assert r.returncode == 1 and "does not exist" in r.stderr and len(r.stderr.splitlines()) == 1
    r = hood("cp", f"{box}:/nothere", str(tmp_path))
    assert r.returncode == 1 and "Could not find" in r.stderr and len(r.stderr.splitlines()) == 1
    r = hood("cp", str(tmp_path / "missing"), f"{box}:/data")
    assert r.returncode == 1 and "no such file" in r.stderr and "Traceback" not in r.stderr


def test_cp_from_stdin_takes_a_compressed_tar_and_names_relative_to_the_destination(hood, box):
    """docker's untar: compressed streams, and `/x` lands at DEST/x, not at the root."""
    import gzip

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tf:
        info = tarfile.TarInfo("/abs-name")
        info.size = 2
        tf.addfile(info, io.BytesIO(b"ok"))
    r = _hood_bytes(hood, "cp", "-", f"{box}:/data", input=gzip.compress(raw.getvalue()))
    assert r.returncode == 0, r.stderr
    out = _hood_bytes(hood, "cp", f"{box}:/data/abs-name", "-")
    assert out.returncode == 0, out.stderr
    with tarfile.open(fileobj=io.BytesIO(out.stdout)) as tf:
        assert tf.extractfile("abs-name").read() == b"ok"
    assert _hood_bytes(hood, "cp", f"{box}:/abs-name", "-").returncode == 1


def test_commit_of_an_unchanged_container_again_reuses_its_layer(hood, box):
    """A second commit of a stopped container makes the same layer: the commit stops
    writing it once the digest is known, and the image shares the stored one (one layer
    dir more than before the first commit, nothing left half-made)."""
    layers_before = set(os.listdir(hood.root / "overlay2"))
    images = []
    try:
        for tag in ("again:1", "again:2"):
            r = hood("commit", box, tag)
            assert r.returncode == 0 and r.stdout.startswith("sha256:"), r.stderr
            images.append(tag)
        diff_ids = [hood("inspect", "-f", "{{json .RootFS.Layers}}", t).stdout for t in images]
        assert diff_ids[0] == diff_ids[1]
        made = set(os.listdir(hood.root / "overlay2")) - layers_before
        assert len(made) == 1, made
        tmp = hood.root / "tmp"
        assert not (tmp.exists() and list(tmp.iterdir())), list(tmp.iterdir())
        fsck = hood("fsck")
        assert fsck.returncode == 0 and "0 leftover(s)" in fsck.stdout, fsck.stdout + fsck.stderr
        r = hood("run", "--rm", "again:2", "cat", "/data/sub/b")
        assert (r.returncode, r.stdout) == (0, "two\n"), r.stderr
    finally:
        for tag in images:
            hood("rmi", tag)


def test_commit_pauses_a_running_container_by_freezing_it(hood):
    """commit -p (the default) of a running container: frozen in its cgroup as docker
    pauses it, so its processes get no SIGSTOP/SIGCONT (a shell trapping CONT would see
    one); the commit holds what it had written, and it runs on after."""
    script = "trap 'echo cont >> /signals' CONT; echo ready > /ready; while :; do sleep 0.05; done"
    cid = hood("run", "-d", "busybox", "sh", "-c", script).stdout.strip()
    try:
        deadline = time.monotonic() + 10
        while hood("exec", cid, "cat", "/ready").stdout != "ready\n":
            assert time.monotonic() < deadline, "the container never got ready"
            time.sleep(0.1)
        r = hood("commit", cid, "frozen:1")
        assert r.returncode == 0 and r.stdout.startswith("sha256:"), r.stderr
        time.sleep(0.3)
        assert hood("exec", cid, "cat", "/signals").returncode != 0  # no file: no SIGCONT
        assert hood("inspect", "-f", "{{.State.Status}}", cid).stdout == "running\n"
        r = hood("run", "--rm", "frozen:1", "cat", "/ready")
        assert (r.returncode, r.stdout) == (0, "ready\n"), r.stderr
    finally:
        hood("rm", "-f", cid)
        hood("rmi", "frozen:1")
