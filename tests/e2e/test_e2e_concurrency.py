"""Two pulls at once; a pull racing rmi; a pull killed mid-way then run again (issue 2 §7)."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from support import trees
from support.checks import assert_stored, layerdb_names
from support.faults import FaultyRegistry
from support.hood import Hood
from support.images import (
    DOCKER_LAYER_GZIP,
    Entry,
    Layer,
    build_image,
    busybox,
    busybox_layers,
    make_tar,
)

IMAGE = busybox()


def _noise(n: int, seed: bytes) -> bytes:
    out, block = bytearray(), hashlib.sha256(seed).digest()
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:n])


def _busybox_plus(n_bytes: int):
    """busybox's two layers (the same chain IDs as busybox()) and one more on top."""
    extra = [Entry("extra/", "dir"), Entry("extra/noise", data=_noise(n_bytes, b"extra"))]
    top = Layer(make_tar(extra), "gzip", DOCKER_LAYER_GZIP)
    return build_image("busybox-plus", [*busybox_layers(), top], docker=True)


def _layer_gets(reg: FaultyRegistry, image) -> Counter:
    wanted = {f"/blobs/{la.digest}" for la in image.layers}
    return Counter(p for m, p in list(reg.log) if m == "GET" for w in wanted if p.endswith(w))


def test_two_concurrent_pulls_of_one_image(hood, plain_images):
    p = plain_images["layers"]
    procs = [hood.popen("pull", p.ref, env=p.registry.env, text=True) for _ in range(2)]
    results = [proc.communicate(timeout=180) for proc in procs]
    for proc, (_out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
    assert_stored(hood, p.image)
    snap = trees.store_snapshot(hood.root)
    assert len(snap["layers"]) == len(p.image.chain_ids)
    assert len(snap["overlay2"]) == len(p.image.chain_ids)
    hood.run("fsck").ok()


def test_two_concurrent_pulls_fetch_each_layer_once(hood):
    """The second pull waits on the blob the first is bringing, then finds it stored."""
    image = _busybox_plus(256 * 1024)
    with FaultyRegistry(image, repo="library/twice") as reg:
        procs = [hood.popen("pull", reg.ref, env=reg.env, text=True) for _ in range(2)]
        for proc in procs:
            _out, err = proc.communicate(timeout=180)
            assert proc.returncode == 0, err
        gets = _layer_gets(reg, image)
    assert_stored(hood, image)
    assert sorted(gets.values()) == [1] * len(image.layers), gets
    snap = trees.store_snapshot(hood.root)
    assert len(snap["overlay2"]) == len(snap["layers"]) == len(image.layers)
    hood.run("fsck").ok()


def _wait_until_fetching(proc, reg) -> None:
    """Until the pull has asked the registry for its slow layer (reg.target)."""
    deadline = time.monotonic() + 60
    while not any(m == "GET" and p.endswith(reg.target) for m, p in list(reg.log)):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the pull never started its own layer"
        time.sleep(0.02)


def test_pull_racing_rmi_of_an_image_sharing_its_layers(hood, plain_images):
    """`rmi A` while B (A's layers plus one) is being pulled: A's layers already in the
    store are B's lower layers; rmi must leave them, B must complete, fsck must pass."""
    a = plain_images["busybox"]
    hood.run("pull", a.ref, env=a.registry.env).ok()
    b = _busybox_plus(160 * 1024)
    with FaultyRegistry(b, "blob-throttle", repo="library/plus") as reg:
        reg.target = b.layers[-1].digest  # only B's own layer comes slowly
        proc = hood.popen("pull", reg.ref, env=reg.env, text=True)
        _wait_until_fetching(proc, reg)
        removed = hood.run("rmi", a.ref).ok()
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    assert f"Deleted: {a.image.id}" in removed.stdout
    for chain in a.image.chain_ids:  # B stands on them
        assert f"Deleted: {chain}" not in removed.stdout
    assert_stored(hood, b)
    assert layerdb_names(hood.root) == set(b.chain_ids)
    assert hood.run("images", "-q").stdout.split() == [b.id.split(":")[1][:12]]
    hood.run("fsck").ok()


def test_pull_and_rmi_started_together(hood, plain_images):
    """No waiting for a particular moment: whatever the interleaving, both end well."""
    a = plain_images["busybox"]
    b = _busybox_plus(64 * 1024)
    for _ in range(3):
        hood.run("pull", a.ref, env=a.registry.env).ok()
        with FaultyRegistry(b, repo="library/plus") as reg, ThreadPoolExecutor(1) as pool:
            proc = hood.popen("pull", reg.ref, env=reg.env, text=True)
            rmi = pool.submit(hood.run, "rmi", a.ref)
            _out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            rmi.result().ok()
        assert_stored(hood, b)
        hood.run("fsck").ok()
        hood.run("rmi", b.id).ok()
        assert trees.store_snapshot(hood.root)["layers"] == []


def test_two_concurrent_pulls_sharing_layers(hood, plain_images):
    a, b = plain_images["busybox"], plain_images["busybox-oci"]
    procs = [hood.popen("pull", x.ref, env=x.registry.env, text=True) for x in (a, b)]
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
    assert_stored(hood, a.image)
    assert_stored(hood, b.image)
    assert len(trees.store_snapshot(hood.root)["layers"]) == len(a.image.chain_ids)


def test_killed_pull_then_rerun_completes(hood):
    with FaultyRegistry(IMAGE, "blob-throttle") as reg:
        proc = hood.popen("pull", reg.ref, env=reg.env)
        deadline = time.monotonic() + 60
        while not any(m == "GET" and p.endswith(reg.target) for m, p in list(reg.log)):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the pull never started the big layer"
            time.sleep(0.05)
        time.sleep(0.5)  # some bytes of it in flight
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        snap = trees.store_snapshot(hood.root)
        assert snap["images"] == [] and snap["repositories"] == {}, snap
        reg.fault = "none"
        hood.run("pull", reg.ref, env=reg.env).ok()
        resumed = [p for m, p in reg.log if m == "RANGE"]
    assert_stored(hood, IMAGE)
    print("resumed with Range:", resumed)


def test_fsck_repair_during_a_pull_leaves_it_alone(hood, plain_images):
    """fsck --repair while a pull is mid-layer: the pull's partial download, its
    half-extracted layer and the layers it leans on are live, not leftovers."""
    a = plain_images["busybox"]
    hood.run("pull", a.ref, env=a.registry.env).ok()
    b = _busybox_plus(160 * 1024)
    with FaultyRegistry(b, "blob-throttle", repo="library/plus") as reg:
        reg.target = b.layers[-1].digest
        proc = hood.popen("pull", reg.ref, env=reg.env, text=True)
        _wait_until_fetching(proc, reg)
        hood.run("rmi", a.ref).ok()  # A's layers now matter only to the running pull
        repaired = hood.run("fsck", "--repair").ok()
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    assert "(repaired)" not in repaired.stdout, repaired.stdout
    assert_stored(hood, b)
    hood.run("fsck").ok()


def _repeated_blob_image():
    """Old docker images repeat the empty layer's blob: [E, X, E, E], X the big one."""
    empty = Layer(make_tar([]), "gzip", DOCKER_LAYER_GZIP)
    big = [Entry("x/", "dir"), Entry("x/noise", data=_noise(192 * 1024, b"repeat"))]
    x = Layer(make_tar(big), "gzip", DOCKER_LAYER_GZIP)
    return build_image("repeated", [empty, x, empty, empty], docker=True)


def test_pull_image_repeating_a_layer_blob_does_not_hang(tmp_path):
    """Every use of a repeated blob gets its own layer (one per chain ID, as dockerd
    stores it) from one download, whichever job gets to the blob first."""
    image = _repeated_blob_image()
    assert len(set(image.blob_digests)) == 2 and len(set(image.chain_ids)) == 4
    with FaultyRegistry(image, "blob-throttle", repo="library/repeated") as reg:
        for attempt in range(5):
            hood = Hood(tmp_path / f"root{attempt}")
            hood.run("pull", reg.ref, env=reg.env, timeout=60).ok()
            assert_stored(hood, image)
            snap = trees.store_snapshot(hood.root)
            assert len(snap["overlay2"]) == len(snap["layers"]) == 4
            hood.run("fsck").ok()
        gets = _layer_gets(reg, image)
    assert sorted(gets.values()) == [5, 5], gets  # each distinct blob once per pull


def test_layer_begin_survives_a_sweep_between_create_and_lock(tmp_path, monkeypatch):
    """Another pull's sweep may take a fresh marker before it is locked (it looks like
    one left by a process killed inside begin()): begin() starts again, not fails."""
    import fcntl
    import types

    from hood.store import layers as layers_mod
    from hood.store.images import ImageStore
    from hood.store.layout import Layout

    store = ImageStore(Layout(tmp_path / "root"))
    swept = []

    def flock(fd, op):
        if not swept:  # the first marker: swept before we lock it
            swept.extend(store.layers.sweep_incomplete() or ["marker"])
        return fcntl.flock(fd, op)

    monkeypatch.setattr(
        layers_mod,
        "fcntl",
        types.SimpleNamespace(
            flock=flock,
            **{k: getattr(fcntl, k) for k in ("LOCK_EX", "LOCK_SH", "LOCK_NB", "LOCK_UN")},
        ),
    )
    pending = store.layers.begin()
    assert swept and os.path.isdir(pending.diff)
    assert os.path.exists(os.path.join(store.layout.incomplete, pending.cache_id))
    store.layers.abandon(pending)
