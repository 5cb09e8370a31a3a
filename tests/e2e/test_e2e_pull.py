"""hood pull against a real docker-registry (plain HTTP): tags, digests, formats, platforms."""

from __future__ import annotations

import json
import os
import re

import pytest
from support import trees
from support.checks import assert_store_empty, assert_stored, repositories

from hood.core.digest import Digest


def test_pull_by_tag(hood, plain_images):
    p = plain_images["busybox"]
    r = hood.run("pull", p.ref, env=p.registry.env).ok()
    img = p.image
    assert f"Digest: {img.manifest_digest}" in r.stdout
    assert f"Status: Downloaded newer image for {p.ref}" in r.stdout
    assert r.stdout.strip().splitlines()[-1] == p.ref
    for blob in img.blob_digests:  # one progress line per layer, by 12-hex short blob id
        assert blob.split(":")[1][:12] in r.stdout
    repo = f"{p.registry.host}/library/busybox"
    assert repositories(hood.root) == {
        repo: {f"{repo}:latest": img.id, f"{repo}@{img.manifest_digest}": img.id}
    }
    assert_stored(hood, img)


def test_pull_again_is_up_to_date(hood, plain_images):
    p = plain_images["busybox"]
    hood.run("pull", p.ref, env=p.registry.env).ok()
    before = trees.store_snapshot(hood.root)
    r = hood.run("pull", p.ref, env=p.registry.env).ok()
    assert f"Status: Image is up to date for {p.ref}" in r.stdout
    assert trees.store_snapshot(hood.root) == before


def test_pull_by_digest(hood, plain_images):
    p = plain_images["busybox"]
    hood.run("pull", p.digest_ref, env=p.registry.env).ok()
    repo = f"{p.registry.host}/library/busybox"
    assert repositories(hood.root) == {repo: {p.digest_ref: p.image.id}}
    assert_stored(hood, p.image)


def test_pull_quiet_prints_only_the_reference(hood, plain_images):
    p = plain_images["busybox"]
    r = hood.run("pull", "-q", p.ref, env=p.registry.env).ok()
    assert r.stdout == p.ref + "\n"


def test_pull_default_tag(hood, plain_images):
    p = plain_images["busybox"]
    r = hood.run("pull", f"{p.registry.host}/library/busybox", env=p.registry.env).ok()
    assert "Using default tag: latest" in r.stdout
    assert_stored(hood, p.image)


@pytest.mark.parametrize("name", ["busybox-oci", "layers", "zstd", "uncompressed"])
def test_pull_formats(hood, plain_images, name):
    """OCI manifests, gzip/zstd/uncompressed layers, whiteouts, opaque dirs, links, fifos."""
    p = plain_images[name]
    hood.run("pull", p.ref, env=p.registry.env).ok()
    assert_stored(hood, p.image)


@pytest.mark.parametrize("name", ["multiarch", "multiarch-docker"])
def test_pull_index_picks_this_machine(hood, plain_images, name):
    p = plain_images[name]
    hood.run("pull", p.ref, env=p.registry.env).ok()
    amd64 = p.thing.for_platform("linux", "amd64")
    assert_stored(hood, amd64)
    repo = f"{p.registry.host}/library/{name}"
    # RepoDigests name the index digest, as docker's do
    assert repositories(hood.root)[repo][f"{repo}@{p.thing.manifest_digest}"] == amd64.id


@pytest.mark.parametrize("platform", ["linux/arm64", "linux/arm64/v8"])
@pytest.mark.parametrize("name", ["multiarch", "multiarch-docker"])
def test_pull_platform(hood, plain_images, name, platform):
    p = plain_images[name]
    hood.run("pull", "--platform", platform, p.ref, env=p.registry.env).ok()
    arm = p.thing.for_platform("linux", "arm64", "v8")
    assert_stored(hood, arm)
    snap = trees.store_snapshot(hood.root)
    assert snap["images"] == [arm.id.split(":")[1]]


def test_pull_platform_none_matches_lists_available(hood, plain_images):
    p = plain_images["multiarch"]
    r = hood.run("pull", "--platform", "linux/s390x", p.ref, env=p.registry.env).failed()
    assert "linux/amd64" in r.error and "linux/arm64/v8" in r.error, r.error
    assert_store_empty(hood)


def test_pull_single_platform_image_for_other_platform_refused(hood, plain_images):
    p = plain_images["busybox"]
    r = hood.run("pull", "--platform", "linux/arm64", p.ref, env=p.registry.env)
    # docker refuses an image whose config names another platform
    r.failed()
    assert_store_empty(hood)


@pytest.mark.parametrize(
    "ref",
    ["Upper/Case:tag", "repo:" + "t" * 129, "repo@sha256:1234", "repo@", ":tag", "a//b"],
)
def test_invalid_reference(hood, ref):
    hood.run("pull", ref).failed()
    assert_store_empty(hood)


def test_unknown_tag(hood, plain_images):
    p = plain_images["busybox"]
    r = hood.run("pull", f"{p.registry.host}/library/busybox:nope", env=p.registry.env).failed()
    assert "nope" in r.error or "not found" in r.error.lower() or "unknown" in r.error.lower()
    assert_store_empty(hood)


def test_unknown_repository(hood, plain_images):
    p = plain_images["busybox"]
    r = hood.run("pull", f"{p.registry.host}/library/nothing:latest", env=p.registry.env)
    r.failed()
    assert_store_empty(hood)


def test_unreachable_registry(hood):
    from support.util import free_port

    host = f"127.0.0.1:{free_port()}"
    r = hood.run("pull", f"{host}/library/busybox:latest", env={"HOOD_INSECURE_REGISTRIES": host})
    r.failed()
    assert host in r.error
    assert_store_empty(hood)


def test_tls_registry_not_trusted(hood, token_images):
    """Without HOOD_CERTS_D the test CA is unknown: a TLS error, clearly said."""
    p = token_images["public"]
    r = hood.run("pull", p.ref).failed()
    assert re.search(r"certif|tls|ssl", r.error, re.I), r.error
    assert_store_empty(hood)


def test_pull_progress_json_for_programs(hood, plain_images):
    """--progress json: one docker-API-shaped message per line, every layer through to
    'Pull complete', and the final status; nothing else on stdout."""
    import json

    p = plain_images["layers"]
    r = hood.run("pull", "--progress", "json", p.ref, env=p.registry.env).ok()
    messages = [json.loads(line) for line in r.stdout.splitlines()]
    assert all(isinstance(m.get("status"), str) for m in messages)
    shorts = {b.split(":")[1][:12] for b in p.image.blob_digests}
    complete = {m["id"] for m in messages if m["status"] == "Pull complete"}
    assert complete == shorts
    assert messages[-1]["status"] == f"Status: Downloaded newer image for {p.ref}"
    assert any(m["status"] == f"Digest: {p.image.manifest_digest}" for m in messages)
    for m in messages:
        if "progressDetail" in m:
            assert 0 <= m["progressDetail"]["current"] <= m["progressDetail"]["total"]


def test_pull_progress_tty_draws_bars(hood, plain_images):
    """--progress tty redraws each layer's line with docker's bar, even in a pipe."""
    p = plain_images["busybox"]
    r = hood.run("pull", "--progress", "tty", p.ref, env=p.registry.env).ok()
    assert "\x1b[" in r.stdout and "Pull complete" in r.stdout


def _in_process_puller(tmp_path):
    """A store under tmp_path and a function pulling a FaultyRegistry's image into it."""
    from hood.core.reference import parse
    from hood.registry.client import RegistryClient
    from hood.services import pull as pull_mod
    from hood.store.images import ImageStore
    from hood.store.layout import Layout

    store = ImageStore(Layout(tmp_path / "root"))

    def pull(reg):
        with RegistryClient(reg.host, insecure_registries=[reg.host], credentials=None) as client:
            return pull_mod.pull_image(store, client, parse(reg.ref))

    return store, pull


def test_pull_records_distribution_metadata_under_the_store_lock(tmp_path, monkeypatch):
    """v2metadata-by-diffid is read-modify-written: a concurrent pull of another repo
    with the same layers must not lose an entry, so every write holds the store lock,
    for layers pulled and for layers already stored."""
    from support.faults import FaultyRegistry
    from support.images import busybox

    from hood.store.lock import try_lock

    store, pull = _in_process_puller(tmp_path)
    unlocked: list[str] = []

    def checked(write):
        def wrapper(path, *args, **kw):
            if "distribution" in str(path):
                fd = try_lock(store.layout.lock_file)
                if fd is not None:
                    os.close(fd)
                    unlocked.append(str(path))
            return write(path, *args, **kw)

        return wrapper

    from hood.store import distribution as distribution_mod

    monkeypatch.setattr(distribution_mod, "write_atomic", checked(distribution_mod.write_atomic))
    image = busybox()
    for repo in ("library/one", "library/two"):  # the second finds the layers stored
        with FaultyRegistry(image, repo=repo) as reg:
            pull(reg)
    assert unlocked == []
    meta = store.layout.v2metadata_by_diffid(Digest.parse(image.diff_ids[0]))
    with open(meta, "rb") as f:
        repos = {e["SourceRepository"] for e in json.loads(f.read())}
    assert len(repos) == 2, repos


def test_pull_space_check_counts_only_blobs_still_to_download(tmp_path, monkeypatch):
    """Layers already stored, and a blob repeated in the image, need no more space:
    the check wants free space for the distinct compressed blobs still to come."""
    from support.faults import FaultyRegistry
    from support.images import DOCKER_LAYER_GZIP, Entry, Layer, build_image, busybox, make_tar

    from hood.core.errors import StoreError

    store, pull = _in_process_puller(tmp_path)
    base = busybox()
    with FaultyRegistry(base, repo="library/base") as reg:
        pull(reg)
    extra = Layer(make_tar([Entry("extra", data=os.urandom(64 * 1024))]), "gzip", DOCKER_LAYER_GZIP)
    image = build_image("plus", [*base.layers, extra, extra], docker=True)
    assert extra.size < sum(la.size for la in image.layers[:-1])
    real = os.statvfs
    free = extra.size + 100

    def statvfs(path):
        if str(path) == str(store.layout.overlay2):
            return os.statvfs_result((4096, 1, 0, 0, free, 0, 0, 0, 0, 255))
        return real(path)

    monkeypatch.setattr(os, "statvfs", statvfs)
    with FaultyRegistry(image, repo="library/plus") as reg:
        free = extra.size - 1
        with pytest.raises(StoreError, match="not enough disk space"):
            pull(reg)
        free = extra.size + 100
        pull(reg)
    assert store.has_image(Digest.parse(image.id))
