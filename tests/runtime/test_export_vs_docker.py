"""`hood export` against `docker export` of a container made from the same image (three layers
with whiteouts, an opaque dir, hardlinks, symlinks, fifos, setuid/setgid/sticky modes, owners
and an xattr), path by path: type, mode, owner, size, content, link target, xattrs."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.dockerd

SRC = Path(__file__).resolve().parents[2] / "src"

# What docker itself adds to every container's filesystem (the -init layer and the
# mount points of what it bind-mounts), not from the image.
DOCKER_ADDS = {
    ".dockerenv",
    "dev",
    "dev/console",
    "dev/pts",
    "dev/shm",
    "etc",
    "etc/hostname",
    "etc/hosts",
    "etc/mtab",
    "etc/resolv.conf",
    "proc",
    "sys",
}


def _members(data: bytes) -> dict[str, tuple]:
    out: dict[str, tuple] = {}
    contents: dict[str, str] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        for m in tf:
            # docker's headers also carry the S_IFMT bits in mode (Go's FileInfoHeader);
            # Python's tarfile writes permission bits only. Compare those.
            m.mode &= 0o7777
            name = m.name.removeprefix("./").rstrip("/")
            if not name or name == ".":
                continue
            xattrs = {k: v for k, v in m.pax_headers.items() if k.startswith("SCHILY.xattr.")}
            if m.isreg():
                digest = hashlib.sha256(tf.extractfile(m).read()).hexdigest()
                contents[name] = digest
                node = ("file", m.mode, m.uid, m.gid, m.size, digest, "")
            elif m.islnk():
                # a hardlink: the same file as its target, whichever of the pair came first
                target = m.linkname.removeprefix("./")
                node = ("file", m.mode, m.uid, m.gid, None, ("link", target), "")
            elif m.issym():
                node = ("symlink", None, m.uid, m.gid, 0, "", m.linkname)
            elif m.isdir():
                node = ("dir", m.mode, m.uid, m.gid, 0, "", "")
            elif m.isfifo():
                node = ("fifo", m.mode, m.uid, m.gid, 0, "", "")
            else:
                node = (f"type{m.type!r}", m.mode, m.uid, m.gid, 0, "", "")
            out[name] = (*node, tuple(sorted(xattrs.items())))
    # resolve hardlinks to their content and group them
    groups: dict[str, set[str]] = {}
    for name, node in list(out.items()):
        if isinstance(node[5], tuple):
            target = node[5][1]
            groups.setdefault(target, {target}).add(name)
            digest = contents[target]
            out[name] = (*node[:4], out[target][4], digest, "", node[7])
    for group in groups.values():
        key = tuple(sorted(group))
        for member in group:
            out[member] = (*out[member], key)
    return out


def _walk(top: Path) -> dict[str, tuple]:
    """A `hood unpack` directory in _members' shape (xattrs left out: unpack keeps them all,
    docker export none of user.*)."""
    import stat

    out: dict[str, tuple] = {}
    inodes: dict[tuple[int, int], list[str]] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for n in dirnames + filenames:
            full = os.path.join(dirpath, n)
            name = os.path.relpath(full, top)
            st = os.lstat(full)
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISREG(st.st_mode):
                with open(full, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
                node = ("file", mode, st.st_uid, st.st_gid, st.st_size, digest, "")
                if st.st_nlink > 1:
                    inodes.setdefault((st.st_dev, st.st_ino), []).append(name)
            elif stat.S_ISLNK(st.st_mode):
                node = ("symlink", None, st.st_uid, st.st_gid, 0, "", os.readlink(full))
            elif stat.S_ISDIR(st.st_mode):
                node = ("dir", mode, st.st_uid, st.st_gid, 0, "", "")
            elif stat.S_ISFIFO(st.st_mode):
                node = ("fifo", mode, st.st_uid, st.st_gid, 0, "", "")
            else:
                node = ("other", mode, st.st_uid, st.st_gid, 0, "", "")
            out[name] = (*node, ())
    for names in inodes.values():
        for name in names:
            out[name] = (*out[name], tuple(sorted(names)))
    return out


def test_export_same_as_docker(dockerd, registry, tmp_path):
    ref = f"{registry.host}/rt/layers"
    root = tmp_path / "root"
    env = dict(os.environ, PYTHONPATH=str(SRC), HOOD_INSECURE_REGISTRIES=registry.host)
    env.pop("HOOD_ROOT", None)
    hood = [sys.executable, "-m", "hood.cli.main", "--root", str(root)]

    def check(cmd: list[str], **kw) -> bytes:
        r = subprocess.run(cmd, capture_output=True, timeout=120, **kw)
        assert r.returncode == 0, r.stderr.decode()
        return r.stdout

    check([*hood, "pull", "-q", ref], env=env)
    (tmp_path / "unpacked").mkdir()
    check([*hood, "unpack", ref, str(tmp_path / "unpacked")], env=env)
    unpacked = _walk(tmp_path / "unpacked")
    cid = check([*hood, "create", ref, "true"], env=env).decode().strip()
    try:
        ours = _members(check([*hood, "export", cid], env=env))
    finally:
        subprocess.run([*hood, "rm", "-f", cid], env=env, capture_output=True)
    check([*dockerd, "pull", "-q", ref])
    did = check([*dockerd, "create", ref, "true"]).decode().strip()
    try:
        theirs = _members(check([*dockerd, "export", did]))
    finally:
        subprocess.run([*dockerd, "rm", "-f", did], capture_output=True)

    # what the init layer adds (hood's as docker's) is there, then left out: its times and
    # the image's own directories say when the container was made, not what it holds
    assert {n for n in DOCKER_ADDS if n in theirs} == {n for n in DOCKER_ADDS if n in ours}
    for name in DOCKER_ADDS:
        assert (name in ours) == (name in theirs), name
        if name in ours and name not in ("etc", "dev", "proc", "sys"):
            assert ours[name][0] == theirs[name][0] and ours[name][1] == theirs[name][1], name
        theirs.pop(name, None)
        ours.pop(name, None)
    assert sorted(ours) == sorted(theirs)
    assert sorted(unpacked) == sorted(theirs)
    for name in sorted(theirs):
        assert unpacked[name][:7] == theirs[name][:7], name
        assert unpacked[name][8:] == theirs[name][8:], name
    for name in sorted(theirs):
        assert ours[name] == theirs[name], name
    # the fixture's features all made it through
    assert "a/gone" not in ours and "dirgone" not in ours and "opq/x" not in ours
    assert ours["bin/suid"][1] == 0o4755 and ours["bin/sticky"][1] == 0o1777
    assert ours["links/hard"][-1] == ("links/hard", "links/orig")
    assert ours["special/fifo2"][0] == "fifo"
    # docker export carries no user.* xattrs (its archive reads only security.capability)
    assert ours["xattr/file"][7] == ()
