"""`hood run` as an unprivileged user (uid 65534 through setpriv): a user namespace maps the
caller to 0 in the container; what cannot work that way is said in one line."""

from __future__ import annotations

import functools
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import fixture
import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
UID = 65534
CONFIG = {"Cmd": ["sh"], "Env": ["PATH=/bin"]}

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root (to make the user's data root) and setpriv",
)


@pytest.fixture(scope="module")
def home(layers):
    """A data root the user owns with the busybox image in it, a HOME and a volume dir."""
    base = Path(tempfile.mkdtemp(prefix="hood-rootless-"))
    fixture.store_image(base / "root", "busybox:latest", layers, CONFIG)
    (base / "home").mkdir()
    (base / "vol").mkdir()
    _give_to(base, UID, UID)
    yield base
    shutil.rmtree(base)


def _give_to(base: Path, uid: int, gid: int) -> None:
    """Everything under `base` (itself too) owned by uid:gid, links not followed."""
    for dirpath, dirnames, filenames in os.walk(base):
        for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
            os.lchown(name, uid, gid)


def _hood(home: Path, *args: str):
    return _hood_as(home, UID, UID, *args)


def _hood_as(
    base: Path, uid: int, gid: int, *args: str, path: str = str(SRC), timeout: float = 60
) -> subprocess.CompletedProcess:
    """hood as uid:gid (no supplementary groups) on the data root base/root, HOME base/home,
    its modules from `path` (PYTHONPATH)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(base / "home"),
        "PYTHONPATH": path,
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    return subprocess.run(
        ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", sys.executable]
        + ["-m", "hood.cli.main", "--root", str(base / "root"), *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
    )


# Directories the first container makes, as dockerd does.
# Made by the first container and kept: the parent dirs of container records and the
# store's lock file (taken to claim a container name).
MADE_ON_FIRST_USE = ("containers", "image/overlay2/layerdb/mounts", "hood/containers", "hood/lock",
                     "hood/notes", "hood/notes/rootless-one-id")  # fmt: skip


def _snapshot(root: Path) -> dict[str, tuple]:
    """Every entry of the store: type, mode, owner, and size and mtime for non-directories."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            key = (st.st_mode, st.st_uid, st.st_gid)
            if name in filenames:
                key += (st.st_size, st.st_mtime_ns)
            rel = os.path.relpath(path, root)
            if rel not in MADE_ON_FIRST_USE and rel.split("/")[:2] != ["hood", "seccomp"]:
                out[rel] = key  # (the seccomp filter's cache, made by the first run)
    return out


def test_rootless_run(home):
    root = home / "root"
    before = _snapshot(root)
    r = _hood(
        home,
        "run",
        "--rm",
        "-v",
        f"{home / 'vol'}:/data",
        "busybox",
        "sh",
        "-c",
        "id -u; id -g; cat /proc/self/uid_map; echo hi > /data/f; hostname | wc -c",
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[:2] == ["0", "0"]
    assert lines[2].split() == ["0", str(UID), "1"]
    assert lines[3] == "13"  # the short container ID
    st = os.stat(home / "vol" / "f")
    assert (st.st_uid, st.st_gid) == (UID, UID)  # the caller's on the host
    assert _snapshot(root) == before  # --rm: the store as it was


def test_rootless_diff(home):
    """diff without root: the container is read through overlay mounts made in hood's own
    user and mount namespaces, seen by nobody else; docker's A/C/D lines."""
    r = _hood(home, "run", "--name", "differ", "busybox", "sh", "-c",
              "echo x > /made; echo y >> /etc/passwd; rm /etc/group")  # fmt: skip
    assert r.returncode == 0, r.stderr
    try:
        r = _hood(home, "diff", "differ")
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines() == ["C /etc", "D /etc/group", "C /etc/passwd", "A /made"]
        mounts = Path("/proc/self/mountinfo").read_text()
        assert str(home) not in mounts  # nothing left mounted where the host sees it
    finally:
        assert _hood(home, "rm", "differ").returncode == 0


def test_rootless_exec(home):
    """exec without root: into the running container's user namespace (the caller's
    own), then its other namespaces; the command's exit status as docker's."""
    r = _hood(home, "run", "-d", "busybox", "sleep", "30")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    try:
        pid = _hood(home, "inspect", "-f", "{{.State.Pid}}", cid).stdout.strip()
        r = _hood(home, "exec", cid, "sh", "-c",
                  "id -u; readlink /proc/self/ns/mnt; readlink /proc/self/ns/user; exit 4")  # fmt: skip
        assert r.returncode == 4, r.stderr
        lines = r.stdout.splitlines()
        assert lines[0] == "0"
        assert lines[1:] == [os.readlink(f"/proc/{pid}/ns/mnt"), os.readlink(f"/proc/{pid}/ns/user")]
        r = _hood(home, "exec", cid, "nosuchcmd")
        assert r.returncode == 126 and "executable file not found" in r.stderr, r.stderr
    finally:
        assert _hood(home, "rm", "-f", cid).returncode == 0


def test_rootless_store_only_gains_the_container(home):
    root = home / "root"
    before = _snapshot(root)
    r = _hood(home, "run", "busybox", "sh", "-c", "echo x > /made; exit 4")
    assert r.returncode == 4, r.stderr
    cid = next((root / "containers").iterdir()).name
    mount_id = (root / "image/overlay2/layerdb/mounts" / cid / "mount-id").read_text()
    link = (root / "overlay2" / mount_id / "link").read_text()
    init_link = (root / "overlay2" / f"{mount_id}-init" / "link").read_text()
    after = _snapshot(root)
    assert {k: v for k, v in before.items() if after.get(k) != v} == {}
    mine = (
        f"containers/{cid}",
        f"hood/containers/{cid}",
        f"overlay2/{mount_id}",
        f"overlay2/{mount_id}-init",
        f"overlay2/l/{link}",
        f"overlay2/l/{init_link}",
        f"image/overlay2/layerdb/mounts/{cid}",
    )
    added = {k for k in after if k not in before}
    assert added
    assert all(any(k == m or k.startswith(m + "/") for m in mine) for k in added), added
    assert (root / "overlay2" / mount_id / "diff" / "made").stat().st_uid == UID
    assert "Exited (4)" in _hood(home, "ps", "-a").stdout
    assert _hood(home, "rm", cid).returncode == 0
    assert _snapshot(root) == before


def test_rootless_limits_and_users_reported(home):
    r = _hood(home, "run", "--rm", "--memory", "64m", "--pids-limit", "9", "busybox", "echo", "ran")
    if "discarded" not in r.stderr:
        pytest.skip("a cgroup is writable by the user here")
    assert r.returncode == 0 and r.stdout == "ran\n"
    warned = [ln for ln in r.stderr.splitlines() if "Said once" not in ln]
    assert len(warned) == 1 and warned[0].startswith("WARNING: rootless: ")
    assert "--memory, --pids-limit discarded" in r.stderr
    r = _hood(home, "run", "--rm", "-u", "1000", "busybox", "id")
    assert r.returncode == 125
    said = [ln for ln in r.stderr.splitlines() if "said once" not in ln.lower()]
    assert len(said) == 1 and "rootless: cannot run as 1000:1000" in said[0]
    r = _hood(home, "run", "--rm", "busybox", "sh", "-c", "touch /x; chown 1000 /x || echo no")
    assert r.stdout == "no\n"  # only one id is mapped, as docker-rootless without subuids
    r = _hood(home, "run", "--rm", "-t", "busybox", "tty")
    assert (r.returncode, r.stdout.replace("\r", "")) == (0, "/dev/pts/0\n")


def _store_as_user(root: Path, tars: list[bytes]) -> None:
    """The store a rootless `hood pull` makes: layers applied as a user would apply them
    (is_root=False: whiteouts as 0/0 devices, opaque dirs as user.overlay.opaque), then
    handed to the user."""
    from hood.core import reference
    from hood.core.digest import Digest, chain_id
    from hood.core.imageconfig import ImageConfig
    from hood.layer.apply import ApplyOptions, apply_layer
    from hood.store.images import ImageStore
    from hood.store.layout import Layout

    store = ImageStore(Layout(root))
    parent, diff_ids = None, []
    for data in tars:
        diff_id = Digest.of_bytes(data)
        diff_ids.append(str(diff_id))
        pending = store.layers.begin()
        with open(pending.tar_split, "wb") as ts:
            applied = apply_layer(
                io.BytesIO(data), pending.diff, tar_split=ts, options=ApplyOptions(is_root=False)
            )
        store.layers.register(pending, diff_id, parent, applied.size)
        parent = chain_id(parent, diff_id)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    cfg = ImageConfig.parse(json.dumps(config).encode())
    store.put_config(cfg)
    store.add_reference(reference.parse("hidden:latest"), cfg.id)


def _tar(entries: list[tuple[str, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_rootless_container_hides_what_upper_layers_delete(layers):
    """Layers applied by the user carry whiteouts (0/0 devices) and user.overlay.opaque
    markers; the rootless overlay (userxattr) honours both, as dockerd's does as root."""
    base = Path(tempfile.mkdtemp(prefix="hood-rootless-wh-"))
    try:
        lower = _tar([("gone", b"x"), ("opq", None), ("opq/old", b"old")])
        upper = _tar(
            [(".wh.gone", b""), ("opq", None), ("opq/.wh..wh..opq", b""), ("opq/new", b"n")]
        )
        _store_as_user(base / "root", [*layers, lower, upper])
        (base / "home").mkdir()
        _give_to(base, UID, UID)
        r = _hood(base, "run", "--rm", "hidden", "ls", "/", "/opq")
        assert r.returncode == 0, r.stderr
        assert "gone" not in r.stdout.split()
        assert "new" in r.stdout.split() and "old" not in r.stdout.split()
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)


def test_single_id_mapping_is_said_once(layers):
    base = Path(tempfile.mkdtemp(prefix="hood-rootless-once-"))
    try:
        fixture.store_image(base / "root", "busybox:latest", layers, CONFIG)
        (base / "home").mkdir()
        _give_to(base, UID, UID)
        first = _hood(base, "run", "--rm", "busybox", "true")
        assert first.returncode == 0, first.stderr
        lines = first.stderr.splitlines()
        assert len(lines) == 1 and "only your uid and gid are mapped" in lines[0], lines
        assert "/etc/subuid" in lines[0] and "uidmap" in lines[0]
        again = _hood(base, "run", "--rm", "busybox", "true")
        assert (again.returncode, again.stderr) == (0, "")
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)


SUBUSER = "hood-subids"
SUBRANGE = (231072, 65536)


@pytest.fixture(scope="module")
def subids_user():
    """A user with subordinate ids in /etc/subuid and /etc/subgid (restored after)."""
    import pwd

    if shutil.which("newuidmap") is None or shutil.which("newgidmap") is None:
        pytest.skip("newuidmap/newgidmap are not installed (Debian's uidmap)")
    made = False
    try:
        pw = pwd.getpwnam(SUBUSER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        SUBUSER], check=True)  # fmt: skip
        pw, made = pwd.getpwnam(SUBUSER), True
    saved = {}
    for path in ("/etc/subuid", "/etc/subgid"):
        f = Path(path)
        saved[path] = f.read_text() if f.exists() else None
        f.write_text((saved[path] or "") + f"{SUBUSER}:{SUBRANGE[0]}:{SUBRANGE[1]}\n")
    try:
        yield pw
    finally:
        for path, text in saved.items():
            if text is None:
                Path(path).unlink(missing_ok=True)
            else:
                Path(path).write_text(text)
        if made:
            subprocess.run(["userdel", SUBUSER], check=False)


def test_rootless_with_subordinate_ids(subids_user, layers):
    """The full range is mapped as podman maps it: 0 is the user, 1..65536 its
    subordinate ids; -u 1000 runs, chown to other ids and setgroups work."""
    uid, gid = subids_user.pw_uid, subids_user.pw_gid
    base = Path(tempfile.mkdtemp(prefix="hood-subids-"))
    try:
        fixture.store_image(base / "root", "busybox:latest", layers, CONFIG)
        (base / "home").mkdir()
        _give_to(base, uid, gid)
        run = functools.partial(_hood_as, base, uid, gid)

        r = run("run", "--rm", "busybox", "cat", "/proc/self/uid_map", "/proc/self/gid_map")
        assert r.returncode == 0, r.stderr
        assert "said once" not in r.stderr.lower(), r.stderr
        maps = [line.split() for line in r.stdout.splitlines()]
        assert maps == [["0", str(uid), "1"], ["1", str(SUBRANGE[0]), str(SUBRANGE[1])],
                        ["0", str(gid), "1"], ["1", str(SUBRANGE[0]), str(SUBRANGE[1])]]  # fmt: skip
        r = run("run", "--rm", "-u", "1000", "busybox", "id")
        assert (r.returncode, r.stdout) == (0, "uid=1000(alice) gid=1000(alice) groups=10(wheel),50(staff),1000(alice)\n"), r.stderr  # noqa: E501
        r = run("run", "--rm", "busybox", "sh", "-c",
                "touch /x && chown 1000:50 /x && stat -c '%u:%g' /x")  # fmt: skip
        assert (r.returncode, r.stdout) == (0, "1000:50\n"), r.stderr
        r = run("run", "--rm", "-u", "70000", "busybox", "true")
        assert r.returncode == 125 and "map only 0-65536" in r.stderr, r.stderr
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)


def _modules_for(user_dir: Path, names: tuple[str, ...]) -> str:
    """The third-party modules hood's store needs, copied where the user can read them
    (the suite's interpreter may keep its own where only root can); a PYTHONPATH entry."""
    import importlib.util

    site = user_dir / "site"
    for name in names:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.submodule_search_locations, name
        shutil.copytree(spec.submodule_search_locations[0], site / name)
    return str(site)


def test_rootless_with_subordinate_ids_keeps_image_owners(subids_user, layers):
    """What the user loads is extracted in its user namespace, as podman does: the owners
    the image gives (root:shadow, 1000:50) are the container's, on the host they are the
    matching subordinate ids, and fsck, save and rmi work on those files afterwards."""
    uid, gid = subids_user.pw_uid, subids_user.pw_gid
    base = Path(tempfile.mkdtemp(prefix="hood-subids-owners-"))
    try:
        owned = fixture._tar([
            ("etc/shadow", "file", b"root:*:1::::::\n", 0o640, 0, 42),
            ("data", "dir", b"", 0o750, 1000, 50),
            ("data/f", "file", b"only 1000\n", 0o600, 1000, 50),
        ])  # fmt: skip
        fixture.docker_archive(base / "img.tar", "owners:latest", [*layers, owned], CONFIG)
        (base / "home").mkdir()
        site = _modules_for(base, ("fastcrc", "isal", "zstandard"))
        _give_to(base, uid, gid)
        run = functools.partial(_hood_as, base, uid, gid, path=f"{SRC}:{site}", timeout=120)

        r = run("load", "-i", str(base / "img.tar"))
        assert r.returncode == 0 and "Loaded image: owners:latest" in r.stdout, r.stderr
        r = run("run", "--rm", "owners", "stat", "-c", "%u:%g %a", "/etc/shadow", "/data", "/data/f")
        assert (r.returncode, r.stdout) == (0, "0:42 640\n1000:50 750\n1000:50 600\n"), r.stderr
        r = run("run", "--rm", "-u", "1000", "owners", "cat", "/data/f")
        assert (r.returncode, r.stdout) == (0, "only 1000\n"), r.stderr
        cid = run("run", "-d", "owners", "sleep", "30").stdout.strip()
        r = run("exec", "-u", "1000", cid, "sh", "-c", "id -u; cat /data/f")
        assert (r.returncode, r.stdout) == (0, "1000\nonly 1000\n"), r.stderr
        assert run("rm", "-f", cid).returncode == 0
        shadow = next((base / "root/overlay2").glob("*/diff/etc/shadow"))
        st = shadow.stat()
        assert (st.st_uid, st.st_gid) == (uid, SUBRANGE[0] + 41)  # 0 is the user; 42 is 1 + 41
        r = run("fsck")
        assert r.returncode == 0 and "0 error(s)" in r.stdout, r.stdout + r.stderr
        r = run("save", "-o", str(base / "saved.tar"), "owners")
        assert r.returncode == 0, r.stderr
        with tarfile.open(base / "saved.tar") as tf:
            assert "manifest.json" in tf.getnames()
        r = run("rmi", "owners")
        assert r.returncode == 0, r.stderr
        assert [p.name for p in (base / "root/overlay2").iterdir()] == ["l"]
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)


def test_run_options_rootless(layers):
    """The run options without root: volumes filled from the image when the container
    starts (no overlay can be mounted at create), --init, capabilities, lowered ulimits,
    a --device bound from the host, hosts, /dev/shm's size and --mount tmpfs."""
    base = Path(tempfile.mkdtemp(prefix="hood-rootless-opts-"))
    try:
        fixture.store_image(base / "root", "busybox:latest", layers, CONFIG)
        (base / "home").mkdir()
        _give_to(base, UID, UID)
        script = ("grep CapEff /proc/self/status; ulimit -n; test -c /dev/n2 && echo n2;"
                  " tail -1 /etc/hosts; cat /srv/app/hello.txt; echo x > /srv/y;"
                  " cat /proc/1/comm; df /dev/shm | tail -1 | tr -s ' ' | cut -d' ' -f2;"
                  " grep -c ' /t tmpfs' /proc/mounts")  # fmt: skip
        r = _hood(base, "run", "--rm", "--init", "--cap-drop", "chown", "--ulimit",
                  "nofile=50:60", "--device", "/dev/null:/dev/n2", "--add-host", "foo:1.2.3.4",
                  "--shm-size", "4m", "-v", "rv:/srv", "--mount", "type=tmpfs,dst=/t",
                  "busybox", "sh", "-c", script)  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert r.stdout == (
            "CapEff:\t00000000a80425fa\n50\nn2\n1.2.3.4\tfoo\nhello from layer 2\nhood-init\n"
            "4096\n1\n"
        )
        data = base / "root" / "volumes" / "rv" / "_data"
        assert sorted(os.listdir(data)) == ["app", "y"]
        assert data.stat().st_uid == UID
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)
