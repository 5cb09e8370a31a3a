"""Two pulls at once; a pull killed mid-way then run again (issue 2 §7)."""

from __future__ import annotations

import signal
import time

from support import trees
from support.checks import assert_stored
from support.faults import FaultyRegistry
from support.images import busybox

IMAGE = busybox()


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
    if _has_fsck(hood):
        hood.run("fsck").ok()


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


def _has_fsck(hood) -> bool:
    return "fsck" in hood.run("--help").stdout
