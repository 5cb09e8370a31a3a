"""A registry that lies or breaks: exit 1, one line on stderr, no traceback, nothing stored."""

from __future__ import annotations

import pytest
from support.checks import assert_store_empty, assert_stored
from support.faults import FaultyRegistry
from support.images import busybox

IMAGE = busybox()

BY_TAG = [
    "blob-wrong-digest",
    "blob-truncated",
    "blob-short-length",
    "blob-long",
    "blob-endless",
    "config-wrong",
    "diffid-mismatch",
    "manifest-garbage",
    "manifest-digest-mismatch",
    "schema1",
    "unauthorized",
    "blob-500",
    "manifest-500",
]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("fault", BY_TAG)
def test_fault_by_tag(hood, fault):
    with FaultyRegistry(IMAGE, fault) as reg:
        r = hood.run("pull", reg.ref, env=reg.env, timeout=240)
    r.failed()
    assert reg.host in r.error or "sha256:" in r.error or "schema" in r.error.lower(), r.error
    if fault == "schema1":
        assert "schema 1" in r.error.lower() or "schema1" in r.error.lower(), r.error
    assert_store_empty(hood)


def test_manifest_by_digest_with_wrong_body(hood):
    with FaultyRegistry(IMAGE, "manifest-wrong-body") as reg:
        r = hood.run("pull", reg.digest_ref, env=reg.env)
    r.failed()
    assert_store_empty(hood)


@pytest.mark.timeout(400)
def test_stalled_body_times_out(hood):
    with FaultyRegistry(IMAGE, "blob-slow") as reg:
        # A short network timeout keeps the test quick; the stall is still retried.
        r = hood.run("pull", reg.ref, env={**reg.env, "HOOD_REGISTRY_TIMEOUT": "2"}, timeout=120)
    r.failed()
    assert_store_empty(hood)


def test_good_server_works(hood):
    """The fault server itself is sound: with no fault, the pull succeeds."""
    with FaultyRegistry(IMAGE, "none") as reg:
        hood.run("pull", reg.ref, env=reg.env).ok()
    assert_stored(hood, IMAGE)


def test_fault_then_fixed(hood):
    """A failed pull leaves nothing that stops the next one."""
    with FaultyRegistry(IMAGE, "blob-wrong-digest") as reg:
        hood.run("pull", reg.ref, env=reg.env).failed()
        reg.fault = "none"
        hood.run("pull", reg.ref, env=reg.env).ok()
    assert_stored(hood, IMAGE)
