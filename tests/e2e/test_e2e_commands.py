"""images, inspect, tag, rmi after a real pull (issue 2 §8)."""

from __future__ import annotations

import json
import re

import pytest
from support import trees
from support.checks import assert_store_empty, repositories

INSPECT_KEYS = [
    "Id", "RepoTags", "RepoDigests", "Parent", "Comment", "Created", "Container",
    "ContainerConfig", "DockerVersion", "Author", "Config", "Architecture", "Os", "Size",
    "VirtualSize", "GraphDriver", "RootFS", "Metadata",
]  # fmt: skip


@pytest.fixture
def busybox_pulled(hood, plain_images):
    p = plain_images["busybox"]
    hood.run("pull", p.ref, env=p.registry.env).ok()
    return hood, p


def test_images_table(busybox_pulled):
    hood, p = busybox_pulled
    out = hood.run("images").ok().stdout.splitlines()
    assert re.split(r"\s{2,}", out[0].strip()) == [
        "REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE",
    ]  # fmt: skip
    cols = re.split(r"\s{2,}", out[1].strip())
    assert cols[:3] == [f"{p.registry.host}/library/busybox", "latest", p.image.id[7:19]]
    assert cols[3].endswith("ago"), cols
    assert re.fullmatch(r"[\d.]+(B|kB|MB|GB)", cols[4]), cols


def test_images_quiet_digests_no_trunc(busybox_pulled):
    hood, p = busybox_pulled
    assert hood.run("images", "-q").ok().stdout == p.image.id[7:19] + "\n"
    assert hood.run("images", "-q", "--no-trunc").ok().stdout == p.image.id + "\n"
    out = hood.run("images", "--digests").ok().stdout.splitlines()
    assert "DIGEST" in out[0]
    assert p.image.manifest_digest in out[1]


def test_images_filter_by_repo(busybox_pulled):
    hood, p = busybox_pulled
    assert p.image.id[7:19] in hood.run("images", f"{p.registry.host}/library/busybox").ok().stdout
    assert hood.run("images", "-q", "nothing/here").ok().stdout == ""


def test_inspect(busybox_pulled):
    hood, p = busybox_pulled
    img = p.image
    doc = json.loads(hood.run("inspect", p.ref).ok().stdout)
    assert isinstance(doc, list) and len(doc) == 1
    d = doc[0]
    present = [k for k in d if k in INSPECT_KEYS]
    assert present == [k for k in INSPECT_KEYS if k in d], "key order differs from docker's"
    for k in ("Id", "RepoTags", "RepoDigests", "Config", "Architecture", "Os", "RootFS"):
        assert k in d, k
    assert d["Id"] == img.id
    assert d["RepoTags"] == [p.ref]
    assert d["RepoDigests"] == [f"{p.registry.host}/library/busybox@{img.manifest_digest}"]
    cfg = img.config_doc["config"]
    for k in ("Env", "Cmd", "WorkingDir", "Labels"):
        assert d["Config"][k] == cfg[k], k
    assert d["Architecture"] == "amd64" and d["Os"] == "linux"
    assert d["RootFS"] == {"Type": "layers", "Layers": img.diff_ids}
    assert d["Created"].startswith("2023-11-14T22:13:20")
    assert d["GraphDriver"]["Name"] == "overlay2"
    data = d["GraphDriver"]["Data"]
    assert set(data) == {"LowerDir", "MergedDir", "UpperDir", "WorkDir"}
    assert data["UpperDir"].startswith(str(hood.root / "overlay2")) and data["UpperDir"].endswith(
        "/diff"
    )
    assert len(data["LowerDir"].split(":")) == len(img.layers) - 1
    assert d["Size"] > 1_900_000  # busybox alone is ~2 MB


def test_inspect_by_id_and_prefix(busybox_pulled):
    hood, p = busybox_pulled
    hexid = p.image.id.split(":")[1]
    for name in (p.image.id, hexid, hexid[:12], hexid[:5]):
        d = json.loads(hood.run("inspect", name).ok().stdout)
        assert d[0]["Id"] == p.image.id, name


def test_inspect_format(busybox_pulled):
    hood, p = busybox_pulled
    assert hood.run("inspect", "-f", "{{.Id}}", p.ref).ok().stdout == p.image.id + "\n"


def test_inspect_unknown(hood):
    hood.run("inspect", "no/such:image").failed()


def test_tag_and_rmi(busybox_pulled):
    hood, p = busybox_pulled
    hood.run("tag", p.ref, "mine:v1").ok()
    d = json.loads(hood.run("inspect", "mine:v1").ok().stdout)[0]
    assert d["Id"] == p.image.id
    assert sorted(d["RepoTags"]) == sorted([p.ref, "mine:v1"])
    assert repositories(hood.root)["mine"] == {"mine:v1": p.image.id}
    # untag only: the image stays
    r = hood.run("rmi", "mine:v1").ok()
    assert "Untagged: mine:v1" in r.stdout
    assert "mine" not in repositories(hood.root)
    assert trees.store_snapshot(hood.root)["images"] == [p.image.id.split(":")[1]]
    # last reference: image and layers go
    r = hood.run("rmi", p.ref).ok()
    assert f"Untagged: {p.ref}" in r.stdout
    assert f"Deleted: {p.image.id}" in r.stdout
    assert_store_empty(hood)
    assert trees.store_snapshot(hood.root)["overlay2"] == []
    assert [n for n in (hood.root / "overlay2/l").iterdir()] == []


def test_rmi_keeps_shared_layers(hood, plain_images):
    for name in ("busybox", "busybox-oci"):
        p = plain_images[name]
        hood.run("pull", p.ref, env=p.registry.env).ok()
    hood.run("rmi", plain_images["busybox"].ref).ok()
    assert_stored_ok = trees.stored_tree(hood.root, plain_images["busybox-oci"].image.id)
    assert assert_stored_ok == trees.expected_tree(plain_images["busybox-oci"].image)


def test_rmi_unknown(hood):
    hood.run("rmi", "no/such:image").failed()


def test_tag_unknown_source(hood):
    hood.run("tag", "no/such:image", "x:y").failed()


def test_unsafe_data_root_refused(tmp_path, plain_images):
    """A data root that is a symlink, or writable by everyone, is refused before any write."""
    from support.hood import Hood

    p = plain_images["busybox"]
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    r = Hood(link).run("pull", p.ref, env=p.registry.env).failed()
    assert "symlink" in r.error
    assert list(real.iterdir()) == []
    open_root = tmp_path / "open"
    open_root.mkdir()
    open_root.chmod(0o777)
    r = Hood(open_root).run("pull", p.ref, env=p.registry.env).failed()
    assert "writable by everyone" in r.error
    assert list(open_root.iterdir()) == []


def test_rmi_refuses_an_image_a_container_uses(busybox_pulled):
    """As docker: the image stays while a container was created from it; -f only untags."""
    hood, p = busybox_pulled
    cid = hood.run("create", p.ref, "true").ok().stdout.strip()
    r = hood.run("rmi", p.ref).failed()
    assert "conflict" in r.error and cid[:12] in r.error
    r = hood.run("rmi", p.image.id).failed()
    assert "conflict" in r.error
    r = hood.run("rmi", "-f", p.ref).ok()
    assert f"Untagged: {p.ref}" in r.stdout
    assert "Deleted:" not in r.stdout
    assert hood.run("inspect", "--format", "{{.Id}}", p.image.id).ok().stdout.strip() == p.image.id
    hood.run("rm", cid).ok()
    r = hood.run("rmi", p.image.id).ok()
    assert f"Deleted: {p.image.id}" in r.stdout
    assert_store_empty(hood)
