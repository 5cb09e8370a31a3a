"""hood copy between every pair of places (docker://, docker-archive:, oci:, oci-archive:,
hood:), whole indexes with --all, and hood digests on each place."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from support import registry as registries
from support.hood import Hood
from support.images import sha256

KINDS = ["docker", "docker-archive", "oci", "oci-archive", "hood"]
KEEPS_MANIFEST = {"docker", "oci", "oci-archive"}  # places that hold blobs and manifests


@pytest.fixture(scope="module")
def dest_registry():
    try:
        reg = registries.start_plain(access_log=True)
    except (FileNotFoundError, RuntimeError, TimeoutError) as exc:
        pytest.skip(f"cannot start a docker-registry: {exc}")
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def sources(plain_images, tmp_path_factory):
    """busybox (docker schema 2, gzip) in each kind of place; (hood store, name by kind)."""
    work = tmp_path_factory.mktemp("copy-src")
    hood = Hood(work / "root")
    p = plain_images["busybox"]
    env = p.registry.env
    hood.run("pull", "-q", p.ref, env=env).ok()
    hood.run("save", "-o", work / "bb.tar", p.ref).ok()
    hood.run("copy", f"docker://{p.ref}", f"oci:{work / 'oci'}:bb", env=env).ok()
    hood.run("copy", f"docker://{p.ref}", f"oci-archive:{work / 'oci.tar'}:bb", env=env).ok()
    names = {
        "docker": f"docker://{p.ref}",
        "docker-archive": f"docker-archive:{work / 'bb.tar'}",
        "oci": f"oci:{work / 'oci'}:bb",
        "oci-archive": f"oci-archive:{work / 'oci.tar'}:bb",
        "hood": f"hood:{p.ref}",
    }
    return hood, names


def _dest(kind: str, tmp_path, reg, label: str) -> str:
    return {
        "docker": f"docker://{reg.ref('copies/' + label + ':1')}",
        "docker-archive": f"docker-archive:{tmp_path / 'out.tar'}:copies/{label}:1",
        "oci": f"oci:{tmp_path / 'out-oci'}:x",
        "oci-archive": f"oci-archive:{tmp_path / 'out-oci.tar'}:x",
        "hood": f"hood:copies/{label}:1",
    }[kind]


def _digests(hood: Hood, place: str, env: dict) -> dict:
    r = hood.run("digests", "--json", place, env=env)
    assert r.status == 0, r.stdout[-3000:] + r.stderr
    return json.loads(r.stdout)


@pytest.mark.parametrize("dst", KINDS)
@pytest.mark.parametrize("src", KINDS)
def test_copy_between_places(src, dst, sources, dest_registry, plain_images, tmp_path):
    store, names = sources
    image = plain_images["busybox"].image
    env = {"HOOD_INSECURE_REGISTRIES": f"{plain_images['busybox'].registry.host},{dest_registry.host}"}
    # hood: as destination is a store of its own, empty (hood: to hood: is one store)
    hood = store if src == "hood" or dst != "hood" else Hood(tmp_path / "root")
    target = _dest(dst, tmp_path, dest_registry, f"{src}-{dst}")
    r = hood.run("copy", "--json", names[src], target, env=env).ok()
    report = json.loads(r.stdout)
    (copied,) = report["images"]
    assert copied["id"] == image.id
    assert [layer["diffID"] for layer in copied["layers"]] == image.diff_ids
    if src in KEEPS_MANIFEST and dst in KEEPS_MANIFEST:
        assert copied["manifest"]["kept"], copied["manifest"]
        assert copied["manifest"]["digest"] == image.manifest_digest
        assert all(layer["kept"] for layer in copied["layers"])
    if dst == "docker-archive":
        assert all(layer["written"]["digest"] == layer["diffID"] for layer in copied["layers"])
    # what the destination holds now reads back, every digest recomputed
    got = _digests(hood, target, env)
    assert got["ok"], json.dumps(got)[:2000]
    (read,) = got["images"]
    assert read["id"] == image.id
    diff_ids = [c["digest"] for layer in read["layers"] for c in layer["checks"] if c["name"] == "diff ID"]
    assert diff_ids == image.diff_ids


def test_copy_registry_to_registry_keeps_digests_and_mounts(plain_images, dest_registry, tmp_path):
    """Across registries blobs stream through (nothing lands in the store); within one
    registry they are mounted."""
    p = plain_images["layers"]
    hood = Hood(tmp_path / "root")
    env = {"HOOD_INSECURE_REGISTRIES": f"{p.registry.host},{dest_registry.host}"}
    first = dest_registry.ref("r2r/layers:1")
    hood.run("copy", f"docker://{p.ref}", f"docker://{first}", env=env).ok()
    assert _remote_digest(dest_registry, "r2r/layers:1") == p.thing.manifest_digest
    assert not (hood.root / "image").exists() or not any(
        (hood.root / "image/overlay2/layerdb").glob("sha256/*")
    ), "a registry-to-registry copy stores nothing"
    tmp = hood.root / "tmp"
    assert not tmp.exists() or not any(tmp.iterdir()), list(tmp.iterdir())
    mark = dest_registry.log_mark()
    r = hood.run("copy", f"docker://{first}", f"docker://{dest_registry.ref('r2r/other:1')}", env=env).ok()
    assert "mounted from" in r.stdout
    sent = dest_registry.requests(mark)
    mounts = [s for s in sent if s[0] == "POST" and "mount=" in s[1]]
    assert len(mounts) == len(p.image.layers) and all(s[2] == 201 for s in mounts), sent
    assert not [s for s in sent if s[0] == "PATCH"], "no layer went up again"
    assert _remote_digest(dest_registry, "r2r/other:1") == p.thing.manifest_digest


@pytest.mark.parametrize("name", ["multiarch", "multiarch-docker"])
def test_copy_all_keeps_the_index(name, plain_images, dest_registry, tmp_path):
    """--all copies every platform and the index itself, digest kept: registry → registry,
    → oci → oci-archive → registry again."""
    p = plain_images[name]
    hood = Hood(tmp_path / "root")
    env = {"HOOD_INSECURE_REGISTRIES": f"{p.registry.host},{dest_registry.host}"}
    want = p.thing.manifest_digest
    hops = [
        f"docker://{p.ref}",
        f"docker://{dest_registry.ref(name + '/a:1')}",
        f"oci:{tmp_path / 'oci'}:idx",
        f"oci-archive:{tmp_path / 'idx.tar'}:idx",
        f"docker://{dest_registry.ref(name + '/b:1')}",
    ]
    for src, dst in zip(hops, hops[1:], strict=False):
        report = json.loads(hood.run("copy", "--all", "--json", src, dst, env=env).ok().stdout)
        assert report["index"]["kept"] and report["index"]["digest"] == want, report["index"]
        assert len(report["images"]) == 2
        assert all(i["manifest"]["kept"] for i in report["images"])
    assert _remote_digest(dest_registry, f"{name}/b:1") == want
    for img in p.thing.images:
        raw = _remote_raw(dest_registry, f"{name}/b", img.manifest_digest)
        assert sha256(raw) == img.manifest_digest


def test_copy_all_into_a_single_image_place_is_refused(plain_images, tmp_path):
    p = plain_images["multiarch"]
    hood = Hood(tmp_path / "root")
    r = hood.run("copy", "--all", f"docker://{p.ref}", f"docker-archive:{tmp_path / 'x.tar'}", env=p.registry.env)
    r.failed()
    assert "without --all" in r.error
    assert not (tmp_path / "x.tar").exists()


def test_copy_with_conversions_says_what_changed(plain_images, dest_registry, tmp_path):
    p = plain_images["busybox"]
    hood = Hood(tmp_path / "root")
    env = {"HOOD_INSECURE_REGISTRIES": f"{p.registry.host},{dest_registry.host}"}
    target = dest_registry.ref("conv/zstd:1")
    r = hood.run(
        "copy", "--json", "--dest-compress-format", "zstd", f"docker://{p.ref}", f"docker://{target}", env=env
    ).ok()
    (image,) = json.loads(r.stdout)["images"]
    assert image["id"] == p.image.id and image["config"]["kept"]
    assert not image["manifest"]["kept"] and "format" in image["manifest"]["why"]
    for layer in image["layers"]:
        assert not layer["kept"] and "zstd" in layer["why"] and "diff ID stays" in layer["why"]
    got = _digests(hood, f"docker://{target}", env)
    assert got["ok"] and got["images"][0]["id"] == p.image.id
    # the human summary names kept and new digests
    out = hood.run("copy", "--format", "oci", f"docker://{p.ref}", f"oci:{tmp_path / 'o'}:x", env=env).ok()
    assert "manifest" in out.stdout and "new (the manifest's format changed (docker to oci))" in out.stdout
    assert "digests kept" in out.stdout


def test_skopeo_reads_what_hood_writes(sources, plain_images, tmp_path):
    store, names = sources
    # A copy that keeps digests keeps a docker manifest in the layout: skopeo reads it as
    # the layout's only image (by ref it looks for OCI types only) ...
    oci_dir = names["oci"].split(":")[1]
    doc = json.loads(_run(["skopeo", "inspect", f"oci:{oci_dir}"]))
    assert len(doc["Layers"]) == 2
    # ... and --format oci makes the OCI manifest that skopeo and umoci find by ref.
    p = plain_images["busybox"]
    store.run("copy", "--format", "oci", f"docker://{p.ref}", f"oci:{tmp_path / 'o'}:bb", env=p.registry.env).ok()
    doc = json.loads(_run(["skopeo", "inspect", f"oci:{tmp_path / 'o'}:bb"]))
    assert doc["Digest"] != p.image.manifest_digest and len(doc["Layers"]) == 2
    archive = names["docker-archive"].split(":", 1)[1]
    doc = json.loads(_run(["skopeo", "inspect", f"docker-archive:{archive}"]))
    assert len(doc["Layers"]) == 2
    _run(["skopeo", "copy", "-q", f"docker-archive:{archive}", f"dir:{tmp_path / 'd1'}"])
    oci_tar = names["oci-archive"].split(":")[1]
    _run(["skopeo", "copy", "-q", f"oci-archive:{oci_tar}", f"dir:{tmp_path / 'd2'}"])
    assert (tmp_path / "d2/manifest.json").exists()


def test_digests_finds_a_changed_blob(sources, tmp_path):
    store, names = sources
    src = names["oci"].split(":")[1]
    shutil.copytree(src, tmp_path / "oci")
    index = json.loads((tmp_path / "oci/index.json").read_text())
    manifest = json.loads(
        (tmp_path / "oci/blobs/sha256" / index["manifests"][0]["digest"][7:]).read_text()
    )
    blob = tmp_path / "oci/blobs/sha256" / manifest["layers"][-1]["digest"][7:]
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF
    blob.write_bytes(bytes(data))
    r = store.run("digests", "--json", f"oci:{tmp_path / 'oci'}:bb")
    assert r.status == 1
    doc = json.loads(r.stdout)
    checks = doc["images"][0]["layers"][-1]["checks"]
    blob_check = next(c for c in checks if c["name"] == "blob digest")
    assert blob_check["status"] == "mismatch" and blob_check["recomputed"] != blob_check["digest"]


def _run(cmd: list[str]) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{cmd}: {proc.stderr}"
    return proc.stdout


def _remote_raw(reg, repo: str, ref: str) -> bytes:
    proc = subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{reg.host}/{repo}{'@' if ':' in ref else ':'}{ref}"],
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _remote_digest(reg, repo_tag: str) -> str:
    repo, _, tag = repo_tag.rpartition(":")
    return sha256(_remote_raw(reg, repo, tag))
