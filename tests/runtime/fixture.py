"""A busybox-static image put straight into a hood data root (through hood's store API), and
the same layers as a docker-archive for `docker load`."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path

MTIME = 1_700_000_000
BUSYBOX = "/bin/busybox"

PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
    "nobody:x:65534:65534:nobody:/home:/bin/false\n"
    "alice:x:1000:1000:Alice:/home/alice:/bin/sh\n"
)
GROUP = "root:x:0:\ndaemon:x:1:\nwheel:x:10:root,alice\nstaff:x:50:alice\nalice:x:1000:\nnogroup:x:65534:\n"


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _tar(entries: list[tuple]) -> bytes:
    """entries: (path, kind, data_or_target, mode, uid, gid)"""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for path, kind, payload, mode, uid, gid in entries:
            ti = tarfile.TarInfo(path)
            ti.mtime = MTIME
            ti.mode = mode
            ti.uid, ti.gid = uid, gid
            if kind == "dir":
                ti.type = tarfile.DIRTYPE
                tf.addfile(ti)
            elif kind == "symlink":
                ti.type = tarfile.SYMTYPE
                ti.linkname = payload
                tf.addfile(ti)
            elif kind == "hardlink":
                ti.type = tarfile.LNKTYPE
                ti.linkname = payload
                tf.addfile(ti)
            else:
                ti.size = len(payload)
                tf.addfile(ti, io.BytesIO(payload))
    return buf.getvalue()


def busybox_layers() -> list[bytes]:
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True).stdout.split()
    base = [
        ("bin", "dir", b"", 0o755, 0, 0),
        ("bin/busybox", "file", Path(BUSYBOX).read_bytes(), 0o755, 0, 0),
    ]
    for a in sorted(set(applets)):
        if a not in ("busybox",):
            base.append((f"bin/{a}", "hardlink", "bin/busybox", 0o755, 0, 0))
    for d, mode in (
        ("etc", 0o755),
        ("root", 0o700),
        ("tmp", 0o1777),
        ("home", 0o755),
        ("home/alice", 0o755),
        ("var", 0o755),
        ("usr", 0o755),
        ("proc", 0o755),
        ("sys", 0o755),
        ("dev", 0o755),
    ):
        base.append((d, "dir", b"", mode, 1000 if d == "home/alice" else 0, 0))
    base += [
        ("etc/passwd", "file", PASSWD.encode(), 0o644, 0, 0),
        ("etc/group", "file", GROUP.encode(), 0o644, 0, 0),
        ("etc/notexec", "file", b"#!/bin/sh\necho hi\n", 0o644, 0, 0),
        ("etc/script", "file", b'#!/bin/sh\necho script "$@"\nexit 3\n', 0o755, 0, 0),
    ]
    second = [
        ("srv", "dir", b"", 0o755, 0, 0),
        ("srv/app", "dir", b"", 0o755, 0, 0),
        ("srv/app/hello.txt", "file", b"hello from layer 2\n", 0o644, 0, 0),
        ("etc/escape", "symlink", "/../../../../tmp", 0o777, 0, 0),
    ]
    return [_tar(base), _tar(second)]


def image_config(diff_ids: list[str], config: dict) -> bytes:
    doc = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2023-11-14T22:13:20Z",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2023-11-14T22:13:20Z", "created_by": "fixture"}] * len(diff_ids),
    }
    return json.dumps(doc, sort_keys=True).encode()


def store_image(root: Path, name: str, layers: list[bytes], config: dict) -> str:
    """Put the image into hood's data root with hood's own store; returns the image ID."""
    from hood.core import reference
    from hood.core.digest import Digest, chain_id
    from hood.core.imageconfig import ImageConfig
    from hood.layer.apply import apply_layer
    from hood.store.images import ImageStore
    from hood.store.layout import Layout

    layout = Layout(root)
    store = ImageStore(layout)
    parent = None
    diff_ids = []
    for tar in layers:
        diff_id = Digest.parse(_sha(tar))
        diff_ids.append(str(diff_id))
        chain = chain_id(parent, diff_id)
        if not store.layers.exists(chain):
            pending = store.layers.begin()
            with open(pending.tar_split, "wb") as ts:
                applied = apply_layer(io.BytesIO(tar), pending.diff, tar_split=ts)
            store.layers.register(pending, diff_id, parent, applied.size)
        parent = chain
    cfg = ImageConfig.parse(image_config(diff_ids, config))
    store.put_config(cfg)
    store.add_reference(reference.parse(name), cfg.id)
    return str(cfg.id)


def docker_archive(path: Path, name: str, layers: list[bytes], config: dict) -> None:
    diff_ids = [_sha(t) for t in layers]
    cfg = image_config(diff_ids, config)
    cfg_name = hashlib.sha256(cfg).hexdigest() + ".json"
    files = [(cfg_name, cfg)]
    layer_names = []
    for t in layers:
        n = hashlib.sha256(t).hexdigest() + "/layer.tar"
        layer_names.append(n)
        files.append((n, t))
    manifest = [{"Config": cfg_name, "RepoTags": [name], "Layers": layer_names}]
    files.append(("manifest.json", json.dumps(manifest).encode()))
    with tarfile.open(path, "w") as tf:
        for n, data in files:
            ti = tarfile.TarInfo(n)
            ti.size = len(data)
            ti.mtime = MTIME
            tf.addfile(ti, io.BytesIO(data))
