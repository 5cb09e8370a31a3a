"""Fixture images built in Python, written as OCI image layouts and pushed with skopeo.

Everything is deterministic (fixed mtimes, gzip mtime 0), so the digests are known truth: a
test compares what hood stored with the records returned here (manifest digest, config digest
= image ID, diff_ids, chain IDs, blob digests)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import zstandard

from .registry import Registry
from .util import run

MTIME = 1_700_000_000  # 2023-11-14T22:13:20Z
CREATED = "2023-11-14T22:13:20Z"

# media types
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = OCI_LAYER + "+gzip"
OCI_LAYER_ZSTD = OCI_LAYER + "+zstd"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def chain_ids(diff_ids: list[str]) -> list[str]:
    out: list[str] = []
    for d in diff_ids:
        out.append(d if not out else sha256(f"{out[-1]} {d}".encode()))
    return out


def canonical(doc: dict) -> bytes:
    return json.dumps(doc, indent=3).encode()  # any stable bytes will do: the digest is of them


# ---------------------------------------------------------------- tar building


@dataclass
class Entry:
    """One tar member. kind: file dir symlink hardlink fifo char block."""

    path: str
    kind: str = "file"
    data: bytes = b""
    mode: int | None = None
    uid: int = 0
    gid: int = 0
    target: str = ""  # symlink / hardlink target
    devmajor: int = 0
    devminor: int = 0
    xattrs: dict[str, str] = field(default_factory=dict)


_KINDS = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "fifo": tarfile.FIFOTYPE,
    "char": tarfile.CHRTYPE,
    "block": tarfile.BLKTYPE,
}


def make_tar(entries: list[Entry]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for e in entries:
            ti = tarfile.TarInfo(e.path)
            ti.type = _KINDS[e.kind]
            ti.mtime = MTIME
            ti.uid, ti.gid = e.uid, e.gid
            ti.uname = ti.gname = ""
            default = 0o755 if e.kind in ("dir", "symlink") else 0o644
            ti.mode = default if e.mode is None else e.mode
            if e.kind in ("symlink", "hardlink"):
                ti.linkname = e.target
                if e.kind == "symlink":
                    ti.mode = 0o777
            ti.devmajor, ti.devminor = e.devmajor, e.devminor
            if e.xattrs:
                ti.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in e.xattrs.items()}
            if e.kind == "file":
                ti.size = len(e.data)
                tf.addfile(ti, io.BytesIO(e.data))
            else:
                tf.addfile(ti)
    return buf.getvalue()


# ---------------------------------------------------------------- image records


@dataclass
class Layer:
    tar: bytes  # uncompressed
    compression: str  # "gzip" | "zstd" | "none"
    media_type: str

    @cached_property
    def blob(self) -> bytes:
        if self.compression == "gzip":
            return gzip.compress(self.tar, compresslevel=6, mtime=0)
        if self.compression == "zstd":
            return zstandard.ZstdCompressor(level=3).compress(self.tar)
        return self.tar

    @cached_property
    def digest(self) -> str:
        return sha256(self.blob)

    @cached_property
    def diff_id(self) -> str:
        return sha256(self.tar)

    @property
    def size(self) -> int:
        return len(self.blob)

    def members(self) -> list[tarfile.TarInfo]:
        with tarfile.open(fileobj=io.BytesIO(self.tar)) as tf:
            return tf.getmembers()

    def descriptor(self) -> dict:
        return {"mediaType": self.media_type, "size": self.size, "digest": self.digest}


@dataclass
class Image:
    """One single-platform image: its config and manifest bytes are the truth."""

    name: str
    config: bytes
    manifest: bytes
    manifest_media_type: str
    layers: list[Layer]

    @cached_property
    def config_doc(self) -> dict:
        return json.loads(self.config)

    @cached_property
    def manifest_doc(self) -> dict:
        return json.loads(self.manifest)

    @property
    def id(self) -> str:  # image ID = config digest
        return sha256(self.config)

    config_digest = id

    @property
    def manifest_digest(self) -> str:
        return sha256(self.manifest)

    @property
    def diff_ids(self) -> list[str]:
        return list(self.config_doc["rootfs"]["diff_ids"])

    @property
    def chain_ids(self) -> list[str]:
        return chain_ids(self.diff_ids)

    @property
    def blob_digests(self) -> list[str]:
        return [layer.digest for layer in self.layers]

    @property
    def platform(self) -> dict:
        p = {"architecture": self.config_doc["architecture"], "os": self.config_doc["os"]}
        if self.config_doc.get("variant"):
            p["variant"] = self.config_doc["variant"]
        return p

    @property
    def size(self) -> int:
        """Sum of the uncompressed layer sizes (tar bytes; docker's Size is of the files)."""
        return sum(len(layer.tar) for layer in self.layers)

    def blobs(self) -> dict[str, bytes]:
        out = {self.config_digest: self.config, self.manifest_digest: self.manifest}
        for layer in self.layers:
            out[layer.digest] = layer.blob
        return out


@dataclass
class Index:
    """An OCI index or a docker manifest list over several Images."""

    name: str
    manifest: bytes
    manifest_media_type: str
    images: list[Image]

    @property
    def manifest_digest(self) -> str:
        return sha256(self.manifest)

    @cached_property
    def manifest_doc(self) -> dict:
        return json.loads(self.manifest)

    def for_platform(self, os_: str, arch: str, variant: str | None = None) -> Image:
        for img in self.images:
            p = img.platform
            if p["os"] == os_ and p["architecture"] == arch and p.get("variant") == variant:
                return img
        raise KeyError(f"{os_}/{arch}/{variant}")

    def blobs(self) -> dict[str, bytes]:
        out = {self.manifest_digest: self.manifest}
        for img in self.images:
            out.update(img.blobs())
        return out


def build_image(
    name: str,
    layers: list[Layer],
    *,
    docker: bool = False,
    arch: str = "amd64",
    variant: str | None = None,
    config: dict | None = None,
    history: list[dict] | None = None,
) -> Image:
    cfg: dict = {
        "architecture": arch,
        "config": config
        or {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["sh"],
        },
        "created": CREATED,
        "history": history
        or [
            {"created": CREATED, "created_by": f"hood-tests: layer {i}"} for i in range(len(layers))
        ],
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
    }
    if variant:
        cfg["variant"] = variant
    config_bytes = canonical(cfg)
    manifest = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST,
        "config": {
            "mediaType": DOCKER_CONFIG if docker else OCI_CONFIG,
            "size": len(config_bytes),
            "digest": sha256(config_bytes),
        },
        "layers": [layer.descriptor() for layer in layers],
    }
    return Image(name, config_bytes, canonical(manifest), manifest["mediaType"], layers)


def build_index(name: str, images: list[Image], *, docker: bool = False) -> Index:
    doc = {
        "schemaVersion": 2,
        "mediaType": DOCKER_LIST if docker else OCI_INDEX,
        "manifests": [
            {
                "mediaType": img.manifest_media_type,
                "size": len(img.manifest),
                "digest": img.manifest_digest,
                "platform": img.platform,
            }
            for img in images
        ],
    }
    return Index(name, canonical(doc), doc["mediaType"], images)


# ---------------------------------------------------------------- the fixture images


def _busybox_entries() -> list[Entry]:
    busybox = Path("/bin/busybox").read_bytes()
    applets = subprocess.run(
        ["/bin/busybox", "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    entries = [Entry("bin/", "dir"), Entry("bin/busybox", data=busybox, mode=0o755)]
    entries += [
        Entry(f"bin/{a}", "symlink", target="busybox")
        for a in sorted(set(applets))
        if a != "busybox" and "/" not in a
    ]
    entries += [
        Entry("dev/", "dir"),
        Entry("etc/", "dir"),
        Entry("proc/", "dir"),
        Entry("root/", "dir", mode=0o700),
        Entry("sys/", "dir"),
        Entry("tmp/", "dir", mode=0o1777),
        Entry("usr/", "dir"),
        Entry("usr/sbin/", "dir"),
        Entry("var/", "dir"),
        Entry("var/run", "symlink", target="/run"),
    ]
    return entries


def busybox_layers(compression: str = "gzip", docker: bool = True) -> list[Layer]:
    gz_type = DOCKER_LAYER_GZIP if docker else OCI_LAYER_GZIP
    types = {"gzip": gz_type, "zstd": OCI_LAYER_ZSTD, "none": OCI_LAYER}
    l1 = Layer(make_tar(_busybox_entries()), compression, types[compression])
    etc = [
        Entry("etc/", "dir"),
        Entry(
            "etc/passwd",
            data=b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n",
        ),
        Entry("etc/group", data=b"root:x:0:\nnogroup:x:65534:\n"),
        Entry("home/", "dir"),
        Entry("home/user/", "dir", uid=1000, gid=1000),
        Entry("home/user/hello.txt", data=b"hello from hood\n", uid=1000, gid=1000),
    ]
    l2 = Layer(make_tar(etc), compression, types[compression])
    return [l1, l2]


BUSYBOX_CONFIG = {
    "Env": [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOOD_TEST=1",
    ],
    "Cmd": ["sh"],
    "WorkingDir": "/home/user",
    "Labels": {"org.example.fixture": "busybox"},
}


def busybox_history(n_layers: int) -> list[dict]:
    hist = [
        {"created": CREATED, "created_by": "/bin/sh -c #(nop) ADD file:busybox in / "},
        {"created": CREATED, "created_by": "/bin/sh -c #(nop) COPY etc home /"},
    ][:n_layers]
    hist += [
        {
            "created": CREATED,
            "created_by": "/bin/sh -c #(nop)  ENV HOOD_TEST=1",
            "empty_layer": True,
        },
        {
            "created": CREATED,
            "created_by": "/bin/sh -c #(nop) WORKDIR /home/user",
            "empty_layer": True,
        },
        {"created": CREATED, "created_by": '/bin/sh -c #(nop)  CMD ["sh"]', "empty_layer": True},
    ]
    return hist


def busybox(docker: bool = True, compression: str = "gzip", name: str = "busybox") -> Image:
    """Debian's busybox-static with applet symlinks; Env/Cmd/WorkingDir/Labels; history with
    empty_layer entries. Docker schema2 by default (like Docker Hub's)."""
    layers = busybox_layers(compression, docker)
    return build_image(
        name, layers, docker=docker, config=BUSYBOX_CONFIG, history=busybox_history(len(layers))
    )


def layers_image(docker: bool = False) -> Image:
    """Three layers crafted for whiteouts, opaque dirs, hardlinks, symlinks, fifos, setuid,
    ownership, xattrs and an empty layer."""
    gz = DOCKER_LAYER_GZIP if docker else OCI_LAYER_GZIP
    l1 = [
        Entry("a/", "dir"),
        Entry("a/keep", data=b"keep v1\n"),
        Entry("a/gone", data=b"to be whited out\n"),
        Entry("a/b/", "dir"),
        Entry("a/b/c", data=b"c\n"),
        Entry("dirgone/", "dir"),
        Entry("dirgone/inside", data=b"inside\n"),
        Entry("opq/", "dir", mode=0o750),
        Entry("opq/x", data=b"x\n"),
        Entry("opq/sub/", "dir"),
        Entry("opq/sub/y", data=b"y\n"),
        Entry("bin/", "dir"),
        Entry("bin/suid", data=b"#!/bin/sh\necho suid\n", mode=0o4755),
        Entry("bin/sgid", data=b"#!/bin/sh\necho sgid\n", mode=0o2755, gid=50),
        Entry("bin/sticky/", "dir", mode=0o1777),
        Entry("links/", "dir"),
        Entry("links/orig", data=b"hardlinked content\n", uid=1000, gid=1001, mode=0o640),
        Entry("links/hard", "hardlink", target="links/orig", uid=1000, gid=1001, mode=0o640),
        Entry("links/rel", "symlink", target="orig"),
        Entry("links/abs", "symlink", target="/a/keep"),
        Entry("links/dangling", "symlink", target="/nonexistent/target"),
        Entry("links/dirlink", "symlink", target="../a"),
        Entry("special/", "dir"),
        Entry("special/fifo", "fifo", mode=0o600),
        Entry("xattr/", "dir"),
        Entry("xattr/file", data=b"has xattr\n", xattrs={"user.hood": "yes"}),
        Entry("empty", data=b""),
        Entry("big", data=bytes(range(256)) * 4096),  # 1 MiB
    ]
    l2 = [
        Entry("a/", "dir"),
        Entry("a/.wh.gone"),
        Entry("a/keep", data=b"keep v2, changed in layer 2\n", mode=0o600),
        Entry("a/new", data=b"new in layer 2\n"),
        Entry(".wh.dirgone"),
        Entry("opq/", "dir", mode=0o755),
        Entry("opq/.wh..wh..opq"),
        Entry("opq/z", data=b"z only\n"),
        Entry("links/", "dir"),
        Entry("links/orig2", data=b"second pair\n"),
        Entry("links/hard3", "hardlink", target="links/orig2"),
        Entry("special/", "dir"),
        Entry("special/.wh.fifo"),
        Entry("special/fifo2", "fifo", mode=0o644),
        Entry("typechange", data=b"was a file\n"),
    ]
    l3: list[Entry] = []  # empty layer: a tar with only the end blocks
    layers = [Layer(make_tar(e), "gzip", gz) for e in (l1, l2, l3)]
    return build_image("layers", layers, docker=docker)


def zstd_image() -> Image:
    """OCI image: a gzip layer then a zstd layer."""
    base = busybox_layers("gzip", docker=False)[0]
    top = Layer(
        make_tar([Entry("zstd/", "dir"), Entry("zstd/hello", data=b"from a zstd layer\n" * 100)]),
        "zstd",
        OCI_LAYER_ZSTD,
    )
    return build_image("zstd", [base, top])


def uncompressed_image() -> Image:
    """OCI image whose layers are plain tars (application/vnd.oci.image.layer.v1.tar)."""
    return busybox(docker=False, compression="none", name="uncompressed")


def _arch_image(arch: str, variant: str | None, docker: bool, name: str) -> Image:
    gz = DOCKER_LAYER_GZIP if docker else OCI_LAYER_GZIP
    plat = f"linux/{arch}" + (f"/{variant}" if variant else "")
    layer = Layer(
        make_tar([Entry("etc/", "dir"), Entry("etc/platform", data=plat.encode() + b"\n")]),
        "gzip",
        gz,
    )
    return build_image(
        name,
        [layer],
        docker=docker,
        arch=arch,
        variant=variant,
        config={"Cmd": ["cat", "/etc/platform"], "Env": ["PLATFORM=" + plat]},
    )


def multiarch(docker: bool = False) -> Index:
    """An OCI index (or docker manifest list) for linux/amd64 and linux/arm64/v8."""
    name = "multiarch-docker" if docker else "multiarch"
    imgs = [
        _arch_image("amd64", None, docker, name),
        _arch_image("arm64", "v8", docker, name),
    ]
    return build_index(name, imgs, docker=docker)


# ---------------------------------------------------------------- layout + push


def write_dir(dirpath: Path, thing: Image | Index) -> Path:
    """containers/image's `dir:` transport layout (any manifest type, bytes kept as they are)."""
    dirpath.mkdir(parents=True, exist_ok=True)
    (dirpath / "version").write_text("Directory Transport Version: 1.1\n")
    (dirpath / "manifest.json").write_bytes(thing.manifest)
    images = thing.images if isinstance(thing, Index) else [thing]
    for img in images:
        if img is not thing:
            hexd = img.manifest_digest.split(":", 1)[1]
            (dirpath / f"{hexd}.manifest.json").write_bytes(img.manifest)
        for digest, data in img.blobs().items():
            if digest != img.manifest_digest:
                (dirpath / digest.split(":", 1)[1]).write_bytes(data)
    return dirpath


def write_layout(dirpath: Path, thing: Image | Index, tag: str = "latest") -> Path:
    """An OCI image layout holding `thing` under ref name `tag` (OCI media types only)."""
    blobs = dirpath / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    (dirpath / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    for digest, data in thing.blobs().items():
        (blobs / digest.split(":", 1)[1]).write_bytes(data)
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": thing.manifest_media_type,
                "digest": thing.manifest_digest,
                "size": len(thing.manifest),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (dirpath / "index.json").write_text(json.dumps(index))
    return dirpath


@dataclass
class Pushed:
    registry: Registry
    repo: str  # e.g. "library/busybox" or "public/busybox"
    tag: str
    thing: Image | Index

    @property
    def ref(self) -> str:
        return f"{self.registry.host}/{self.repo}:{self.tag}"

    @property
    def digest_ref(self) -> str:
        return f"{self.registry.host}/{self.repo}@{self.thing.manifest_digest}"

    @property
    def image(self) -> Image:
        """The image a pull on this machine (linux/amd64) resolves to."""
        if isinstance(self.thing, Image):
            return self.thing
        return self.thing.for_platform("linux", "amd64")


def remote_manifest_digest(registry: Registry, repo: str, tag: str) -> str:
    raw = run(
        [
            "skopeo",
            "inspect",
            "--raw",
            "--tls-verify=false",
            *(["--creds", ":".join(registry.creds)] if registry.creds else []),
            f"docker://{registry.host}/{repo}:{tag}",
        ]  # fmt: skip
    ).stdout
    return sha256(raw.encode())


def push(registry: Registry, thing: Image | Index, repo: str, tag: str = "latest") -> Pushed:
    """Push with `skopeo copy --preserve-digests` and check the registry has the same digest."""
    tmp = Path(tempfile.mkdtemp(prefix="hood-layout-"))
    try:
        write_dir(tmp / "dir", thing)
        cmd = ["skopeo", "copy", "--quiet", "--preserve-digests", *registry.skopeo_dest_args()]
        if isinstance(thing, Index):
            cmd.append("--all")
        cmd += [f"dir:{tmp / 'dir'}", f"docker://{registry.host}/{repo}:{tag}"]
        run(cmd, timeout=120)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    got = remote_manifest_digest(registry, repo, tag)
    if got != thing.manifest_digest:
        raise AssertionError(f"pushed {repo}:{tag} is {got}, built {thing.manifest_digest}")
    return Pushed(registry, repo, tag, thing)


def all_fixtures() -> dict[str, Image | Index]:
    return {
        "busybox": busybox(),
        "busybox-oci": busybox(docker=False, name="busybox-oci"),
        "layers": layers_image(),
        "zstd": zstd_image(),
        "uncompressed": uncompressed_image(),
        "multiarch": multiarch(),
        "multiarch-docker": multiarch(docker=True),
    }
