"""hood save and hood load against dockerd 20.10, skopeo and umoci; and archives that must be
refused with one line, leaving the store and everything outside it as they were."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import tarfile

import pytest
from support import trees
from support.checks import assert_stored
from support.hood import Hood

NAMES = ["busybox", "layers"]


@pytest.fixture(scope="module")
def pulled(plain_images, tmp_path_factory) -> Hood:
    hood = Hood(tmp_path_factory.mktemp("saveload") / "root")
    for name in NAMES:
        p = plain_images[name]
        hood.run("pull", "-q", p.ref, env=p.registry.env).ok()
    return hood


def _familiar(ref: str) -> str:
    return ref  # a registry on 127.0.0.1:PORT keeps its host in the familiar name


# ------------------------------------------------------------------------------ dockerd


@pytest.mark.dockerd
def test_docker_loads_hood_save(pulled, plain_images, dockerd, tmp_path):
    refs = [plain_images[n].ref for n in NAMES]
    archive = tmp_path / "hood.tar"
    pulled.run("save", "-o", archive, *refs).ok()
    dockerd.reset()
    out = dockerd.docker("load", "-i", str(archive)).stdout
    for name in NAMES:
        p = plain_images[name]
        assert f"Loaded image: {p.ref}" in out, out
        doc = json.loads(dockerd.docker("image", "inspect", p.ref).stdout)[0]
        assert doc["Id"] == p.image.id
        assert p.ref in doc["RepoTags"]
        assert doc["RootFS"]["Layers"] == p.image.diff_ids
    run = dockerd.docker(
        "run", "--rm", "--network", "none", plain_images["busybox"].ref, "cat", "/home/user/hello.txt"
    )
    assert run.stdout == "hello from hood\n"


@pytest.mark.dockerd
def test_hood_loads_docker_save(plain_images, dockerd, tmp_path):
    dockerd.reset()
    refs = []
    for name in NAMES:
        p = plain_images[name]
        dockerd.docker("pull", p.ref)
        refs.append(p.ref)
    archive = tmp_path / "docker.tar"
    dockerd.docker("save", "-o", str(archive), *refs)
    for how in ("file", "gzip-stdin"):
        hood = Hood(tmp_path / f"root-{how}")
        if how == "file":
            r = hood.run("load", "-i", archive).ok()
        else:
            proc = subprocess.run(
                hood.argv("load"), input=gzip.compress(archive.read_bytes(), 1),
                env=hood.environ(), capture_output=True, timeout=180,
            )  # fmt: skip
            assert proc.returncode == 0, proc.stderr
            r = type("R", (), {"stdout": proc.stdout.decode()})()
        for name in NAMES:
            p = plain_images[name]
            assert f"Loaded image: {p.ref}" in r.stdout, r.stdout
            doc = json.loads(hood.run("inspect", p.ref).ok().stdout)[0]
            assert doc["Id"] == p.image.id and p.ref in doc["RepoTags"]
            assert doc["RootFS"]["Layers"] == p.image.diff_ids
            assert_stored(hood, p.image)
    # loading again reads no layer: they are all there
    again = hood.run("load", "-i", archive).ok()
    assert again.stdout.count("Loaded image:") == len(NAMES)


# ------------------------------------------------------------------------------ skopeo, umoci


def test_skopeo_reads_hood_save_and_hood_loads_skopeo_archives(pulled, plain_images, tmp_path):
    p = plain_images["busybox"]
    archive = tmp_path / "hood.tar"
    pulled.run("save", "-o", archive, p.ref).ok()
    doc = json.loads(_run(["skopeo", "inspect", f"docker-archive:{archive}"]))
    assert doc["Layers"] == p.image.diff_ids  # docker-archive: layers are the tars
    _run(["skopeo", "copy", "-q", f"docker-archive:{archive}", f"oci:{tmp_path / 'oci'}:bb"])
    oci_save = tmp_path / "hood-oci.tar"
    pulled.run("save", "--format", "oci", "-o", oci_save, p.ref).ok()
    doc = json.loads(_run(["skopeo", "inspect", f"oci-archive:{oci_save}:latest"]))
    assert doc["Layers"] == p.image.diff_ids
    # skopeo's own archives load into hood
    skopeo_da = tmp_path / "skopeo-da.tar"
    skopeo_oa = tmp_path / "skopeo-oa.tar"
    _run(["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{p.ref}", f"docker-archive:{skopeo_da}:x/bb:1"])
    _run(["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{p.ref}", f"oci-archive:{skopeo_oa}:x/bb:2"])
    for archive in (skopeo_da, skopeo_oa):
        hood = Hood(tmp_path / f"root-{archive.stem}")
        hood.run("load", "-i", archive).ok()
    hood = Hood(tmp_path / "root-skopeo-da")
    assert json.loads(hood.run("inspect", "x/bb:1").ok().stdout)[0]["Id"] == p.image.id


def test_umoci_unpacks_hood_oci_layout_as_hood_unpacks(pulled, plain_images, tmp_path):
    for name in NAMES:
        p = plain_images[name]
        layout = tmp_path / f"layout-{name}"
        archive = tmp_path / f"{name}.tar"
        pulled.run("save", "--format", "oci", "-o", archive, p.ref).ok()
        layout.mkdir()
        with tarfile.open(archive) as tf:
            tf.extractall(layout, filter="fully_trusted")
        bundle = tmp_path / f"bundle-{name}"
        _run(["umoci", "unpack", "--image", f"{layout}:latest", str(bundle)])
        flat = tmp_path / f"flat-{name}"
        pulled.run("unpack", p.ref, flat).ok()
        assert trees.walk(bundle / "rootfs") == trees.walk(flat)


# ------------------------------------------------------------------------------ bad archives


def _tar(entries: list[tuple], path) -> None:
    """entries: (name, bytes) files, (name, "symlink"|"hardlink", target) links."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tf:
        for entry in entries:
            ti = tarfile.TarInfo(entry[0])
            if len(entry) == 3:
                ti.type = tarfile.SYMTYPE if entry[1] == "symlink" else tarfile.LNKTYPE
                ti.linkname = entry[2]
                tf.addfile(ti)
            else:
                ti.size = len(entry[1])
                tf.addfile(ti, io.BytesIO(entry[1]))


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _good_parts(image) -> tuple[bytes, bytes, list[bytes]]:
    tars = [layer.tar for layer in image.layers]
    return image.config, b"", tars


def _docker_archive(image, *, config_name="c.json", layer_names=None, manifest=None, extra=()):
    layer_names = layer_names or [f"l{i}/layer.tar" for i in range(len(image.layers))]
    doc = manifest if manifest is not None else json.dumps(
        [{"Config": config_name, "RepoTags": ["bad/image:1"], "Layers": layer_names}]
    ).encode()
    entries = [("manifest.json", doc), ("c.json", image.config)]
    entries += [(f"l{i}/layer.tar", layer.tar) for i, layer in enumerate(image.layers)]
    return entries + list(extra)


def _bad_archives(image, sentinel: str) -> dict[str, list[tuple]]:
    n = len(image.layers)
    good_layers = [f"l{i}/layer.tar" for i in range(n)]
    other = b"not the layer" + b"\0" * 1024
    deep = b"[" * 200_000 + b"]" * 200_000
    oci_manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": _sha(image.config), "size": len(image.config)},
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer.diff_id, "size": len(layer.tar)}
                for layer in image.layers
            ],
        }
    ).encode()
    wrong_name = [("oci-layout", b'{"imageLayoutVersion": "1.0.0"}')]
    wrong_name.append(("index.json", json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": _sha(oci_manifest), "size": len(oci_manifest)}
    ]}).encode()))  # fmt: skip
    wrong_name.append((f"blobs/sha256/{_sha(oci_manifest)[7:]}", oci_manifest))
    wrong_name.append((f"blobs/sha256/{_sha(image.config)[7:]}", image.config))
    for i, layer in enumerate(image.layers):
        body = layer.tar if i else other  # layer 0's file is other bytes under its name
        wrong_name.append((f"blobs/sha256/{layer.diff_id[7:]}", body))
    return {
        "config-dotdot": _docker_archive(image, config_name="../c.json"),
        "layer-absolute": _docker_archive(image, layer_names=[sentinel] + good_layers[1:]),
        "layer-dotdot": _docker_archive(image, layer_names=["../../sentinel"] + good_layers[1:]),
        "layer-symlink-out": _docker_archive(
            image, layer_names=["link.tar"] + good_layers[1:], extra=[("link.tar", "symlink", "../" * 8 + sentinel.lstrip("/"))]
        ),
        "layer-symlink-absolute": _docker_archive(
            image, layer_names=["link.tar"] + good_layers[1:], extra=[("link.tar", "symlink", sentinel)]
        ),
        "layer-hardlink-out": _docker_archive(
            image, layer_names=["hard.tar"] + good_layers[1:], extra=[("hard.tar", "hardlink", "../sentinel")]
        ),
        "diff-id-mismatch": [
            ("manifest.json", json.dumps([{"Config": "c.json", "RepoTags": ["bad/image:1"], "Layers": good_layers}]).encode()),
            ("c.json", image.config),
            ("l0/layer.tar", image.layers[0].tar),
            *[(f"l{i}/layer.tar", other) for i in range(1, n)],
        ],
        "blob-not-its-digest": wrong_name,
        "json-deep": [("manifest.json", deep)],
        "json-huge": [("manifest.json", b'["' + b"x" * (17 << 20) + b'"]')],
        "json-garbage": [("manifest.json", b"{not json")],
        "manifest-null": [("manifest.json", b"null")],
        "duplicate-entry": _docker_archive(image) + [("manifest.json", b"[]")],
        "missing-layer": [e for e in _docker_archive(image) if e[0] != "l0/layer.tar"],
        "layers-count": _docker_archive(image, layer_names=good_layers[:-1]),
    }


@pytest.fixture(scope="module")
def bad_store(plain_images, tmp_path_factory):
    """A store holding busybox, its snapshot, and a sentinel file beside it."""
    work = tmp_path_factory.mktemp("bad")
    hood = Hood(work / "root")
    p = plain_images["busybox"]
    hood.run("pull", "-q", p.ref, env=p.registry.env).ok()
    sentinel = work / "sentinel"
    sentinel.write_bytes(b"outside the archive\n")
    return hood, sentinel


BAD = [
    "config-dotdot", "layer-absolute", "layer-dotdot", "layer-symlink-out",
    "layer-symlink-absolute", "layer-hardlink-out", "diff-id-mismatch", "blob-not-its-digest",
    "json-deep", "json-huge", "json-garbage", "manifest-null", "duplicate-entry",
    "missing-layer", "layers-count", "truncated",
]  # fmt: skip


@pytest.mark.parametrize("case", BAD)
def test_bad_archive_is_refused_and_changes_nothing(case, bad_store, plain_images, tmp_path):
    hood, sentinel = bad_store
    image = plain_images["layers"].image  # not in the store: a load would add it
    before = trees.store_snapshot(hood.root)
    sentinel_before = sentinel.read_bytes(), sentinel.stat().st_mtime_ns
    archive = tmp_path / f"{case}.tar"
    if case == "truncated":
        _tar(_docker_archive(image), archive)
        data = archive.read_bytes()
        archive.write_bytes(data[: len(data) * 2 // 3])
    else:
        _tar(_bad_archives(image, str(sentinel))[case], archive)
    r = hood.run("load", "-i", archive).failed()
    assert "Traceback" not in r.stderr
    assert trees.store_snapshot(hood.root) == before, r.error
    assert (sentinel.read_bytes(), sentinel.stat().st_mtime_ns) == sentinel_before
    leftovers = list((hood.root / "tmp").glob("*")) if (hood.root / "tmp").exists() else []
    assert not leftovers, leftovers


def _run(cmd: list[str]) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, f"{cmd}: {proc.stderr}"
    return proc.stdout


# ------------------------------------------------------------------------------ killed load


def _many_files_archive(path) -> None:
    """A docker-archive of two layers of 10,000 small files each: their extraction (one
    child process a layer) takes long enough to be killed in, and to see that nothing
    goes on after."""
    from support.images import Entry, Layer, build_image, make_tar

    layers = []
    for n in range(2):
        entries = [Entry(f"d{n}/", "dir")] + [
            Entry(f"d{n}/f{i}", data=f"{n}:{i}\n".encode() * 64) for i in range(10000)
        ]
        layers.append(Layer(make_tar(entries), "none", "application/vnd.docker.image.rootfs.diff.tar"))
    image = build_image("many", layers, docker=True)
    entries = [("manifest.json", json.dumps([{"Config": "c.json", "RepoTags": ["many/files:1"],
               "Layers": [f"l{i}/layer.tar" for i in range(len(layers))]}]).encode()),
               ("c.json", image.config)]  # fmt: skip
    entries += [(f"l{i}/layer.tar", layer.tar) for i, layer in enumerate(layers)]
    _tar(entries, path)


def _processes_using(root) -> list[int]:
    """PIDs of the processes whose command line names `root` (hood and its children)."""
    import os

    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if str(root).encode() in f.read():
                    pids.append(int(pid))
        except OSError:
            continue
    return pids


def _count_files(root) -> int:
    import os

    return sum(len(files) for _, _, files in os.walk(root))


def test_killed_load_leaves_no_child_and_loads_again(tmp_path):
    """SIGKILL to a load while its layers extract (each in a child process): the children
    die with it (nothing goes on writing into the store), `fsck --repair` leaves a clean
    store, and the same load then succeeds."""
    import os
    import signal
    import time

    archive = tmp_path / "many.tar"
    _many_files_archive(archive)
    hood = Hood(tmp_path / "root")
    proc = hood.popen("load", "-q", "-i", str(archive), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while len(_processes_using(hood.root)) < 3:  # hood and its two extracting children
        assert proc.poll() is None and time.monotonic() < deadline, "the load never forked"
        time.sleep(0.01)
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(0.2)
    files = _count_files(hood.root)
    time.sleep(1)
    assert _count_files(hood.root) == files, "something went on writing into the store"
    deadline = time.monotonic() + 10
    while _processes_using(hood.root):
        assert time.monotonic() < deadline, f"outlived hood: {_processes_using(hood.root)}"
        time.sleep(0.05)
    hood.run("fsck", "--repair").ok()
    r = hood.run("fsck").ok()
    assert "0 error(s), 0 leftover(s)" in r.stdout, r.stdout
    r = hood.run("load", "-i", str(archive)).ok()
    assert "Loaded image: many/files:1" in r.stdout
    r = hood.run("unpack", "many/files:1", str(tmp_path / "rootfs")).ok()
    assert (tmp_path / "rootfs/d1/f9999").read_text() == "1:9999\n" * 64
    assert os.path.isdir(tmp_path / "rootfs/d0")
