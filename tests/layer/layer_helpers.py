"""Helpers to craft layer tars for the layer tests: tarfile for the ordinary, raw blocks
for the hostile."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

MTIME = 1_700_000_000


def _info(name: str, type_: bytes = tarfile.REGTYPE, **kw) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = type_
    ti.mtime = kw.pop("mtime", MTIME)
    ti.mode = kw.pop("mode", 0o755 if type_ == tarfile.DIRTYPE else 0o644)
    ti.uid = kw.pop("uid", 0)
    ti.gid = kw.pop("gid", 0)
    for key, value in kw.items():
        setattr(ti, key, value)
    return ti


class TarBuilder:
    """tar = TarBuilder(); tar.dir("a"); tar.file("a/b", b"x"); tar.bytes()"""

    def __init__(self, format: int = tarfile.PAX_FORMAT) -> None:
        self.buf = io.BytesIO()
        self.tf = tarfile.open(fileobj=self.buf, mode="w", format=format)  # noqa: SIM115

    def dir(self, name: str, **kw) -> TarBuilder:
        self.tf.addfile(_info(name, tarfile.DIRTYPE, **kw))
        return self

    def file(self, name: str, data: bytes = b"", **kw) -> TarBuilder:
        ti = _info(name, tarfile.REGTYPE, **kw)
        ti.size = len(data)
        self.tf.addfile(ti, io.BytesIO(data))
        return self

    def symlink(self, name: str, target: str, **kw) -> TarBuilder:
        self.tf.addfile(_info(name, tarfile.SYMTYPE, linkname=target, mode=0o777, **kw))
        return self

    def hardlink(self, name: str, target: str, **kw) -> TarBuilder:
        self.tf.addfile(_info(name, tarfile.LNKTYPE, linkname=target, **kw))
        return self

    def fifo(self, name: str, **kw) -> TarBuilder:
        self.tf.addfile(_info(name, tarfile.FIFOTYPE, **kw))
        return self

    def chardev(self, name: str, major: int, minor: int, **kw) -> TarBuilder:
        self.tf.addfile(_info(name, tarfile.CHRTYPE, devmajor=major, devminor=minor, **kw))
        return self

    def blockdev(self, name: str, major: int, minor: int, **kw) -> TarBuilder:
        self.tf.addfile(_info(name, tarfile.BLKTYPE, devmajor=major, devminor=minor, **kw))
        return self

    def raw(self, data: bytes) -> TarBuilder:
        """Append raw bytes (must keep 512 alignment for a valid tar)."""
        self.tf.fileobj.write(data)
        self.tf.offset += len(data)
        return self

    def bytes(self, trailing: bytes = b"") -> bytes:
        self.tf.close()
        return self.buf.getvalue() + trailing


def checksum(block: bytearray) -> None:
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\x00 " % sum(block)


def raw_header(
    name: bytes,
    typeflag: bytes = b"0",
    size: int = 0,
    linkname: bytes = b"",
    mode: int = 0o644,
    magic: bytes = b"ustar\x0000",
    prefix: bytes = b"",
) -> bytes:
    """A ustar header block with arbitrary (hostile) bytes in its name fields."""
    b = bytearray(512)
    b[0 : len(name[:100])] = name[:100]
    b[100:108] = b"%07o\x00" % mode
    b[108:116] = b"%07o\x00" % 0
    b[116:124] = b"%07o\x00" % 0
    b[124:136] = b"%011o\x00" % size
    b[136:148] = b"%011o\x00" % MTIME
    b[156:157] = typeflag
    b[157 : 157 + len(linkname[:100])] = linkname[:100]
    b[257:265] = magic
    b[345 : 345 + len(prefix)] = prefix
    checksum(b)
    return bytes(b)


def raw_entry(name: bytes, data: bytes = b"", typeflag: bytes = b"0", **kw) -> bytes:
    pad = (-len(data)) % 512
    return raw_header(name, typeflag, len(data), **kw) + data + bytes(pad)


def pax_record(key: bytes, value: bytes) -> bytes:
    body = b" " + key + b"=" + value + b"\n"
    n = len(body) + 1
    while len(str(n).encode()) + len(body) != n:
        n = len(str(n).encode()) + len(body)
    return str(n).encode() + body


def raw_pax(records: dict[bytes, bytes], name: bytes = b"PaxHeader") -> bytes:
    data = b"".join(pax_record(k, v) for k, v in records.items())
    return raw_entry(name, data, b"x")


def gnu_long(kind: bytes, value: bytes) -> bytes:
    return raw_entry(b"././@LongLink", value + b"\x00", kind, magic=b"ustar  \x00")


END = bytes(1024)


def docker_archive(path: Path, layers: list[bytes], tag: str) -> list[str]:
    """A `docker save`-style tar with the given uncompressed layers; returns diff_ids."""
    import hashlib

    diff_ids = ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers]
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created": "2024-01-01T00:00:00Z"} for _ in layers],
        }
    ).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    names = [f"l{i}/layer.tar" for i in range(len(layers))]
    manifest = json.dumps([{"Config": config_name, "RepoTags": [tag], "Layers": names}]).encode()
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as out:
        for name, data in [(config_name, config), ("manifest.json", manifest)] + list(
            zip(names, layers, strict=True)
        ):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            out.addfile(ti, io.BytesIO(data))
    return diff_ids


def tree(root: Path, *, times: bool = True, xattrs: bool = True) -> dict[str, tuple]:
    """A comparable description of a directory tree, never following symlinks:
    path -> (type, mode, uid, gid, size, content/link target, rdev, mtime, xattrs)."""
    import os
    import stat

    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = os.lstat(p)
            rel = str(p.relative_to(root))
            kind = stat.S_IFMT(st.st_mode)
            if stat.S_ISREG(st.st_mode):
                what: object = p.read_bytes()
            elif stat.S_ISLNK(st.st_mode):
                what = os.readlink(p)
            else:
                what = None
            xa: tuple = ()
            if xattrs and not stat.S_ISLNK(st.st_mode):
                xa = tuple(
                    sorted(
                        (k, os.getxattr(p, k, follow_symlinks=False))
                        for k in os.listxattr(p, follow_symlinks=False)
                    )
                )
            size = st.st_size if not stat.S_ISDIR(st.st_mode) else 0
            mtime = st.st_mtime_ns if times else 0
            out[rel] = (
                kind,
                stat.S_IMODE(st.st_mode),
                st.st_uid,
                st.st_gid,
                size,
                what,
                st.st_rdev,
                mtime,
                xa,
            )
    return out


def diff_trees(a: dict, b: dict) -> list[str]:
    problems = []
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            problems.append(f"{key}: {a.get(key)!r} != {b.get(key)!r}")
    return problems
