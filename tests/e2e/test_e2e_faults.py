"""A registry that lies or breaks: exit 1, one line on stderr, no traceback, nothing stored."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from support import trees
from support.checks import assert_store_empty, assert_stored
from support.faults import FaultyRegistry, zstd_frame
from support.images import (
    OCI_LAYER_GZIP,
    OCI_LAYER_ZSTD,
    Entry,
    Layer,
    build_image,
    busybox,
    busybox_layers,
    layers_image,
    make_tar,
)

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


# --- a registry that lies: one clear line, escaped, nothing stored ----------------------------

LIES = {  # fault -> what the one line on stderr must say
    "manifest-deep-json": r"manifest .*: JSON nested deeper than 200 levels",
    "config-deep-json": r"image config sha256:\w+: JSON nested deeper than 200 levels",
    "error-deep-json": r"not found: .*faulty:latest",
    "token-deep-json": r"token service .*: JSON nested deeper than 200 levels",
    "manifest-gzip-corrupt": r"manifest .*: the body is not valid gzip",
    "manifest-zstd-bomb": r"manifest .*: body larger than the 4194304 bytes allowed",
    "error-zstd-bomb": r"not found: .*faulty:latest",
    "token-gzip-corrupt": r"token service .*: the body is not valid gzip",
    "token-zstd-bomb": r"token service .*: body larger than the 1048576 bytes allowed",
    "blob-zstd-bomb": r"blob .*: the registry sent more than the \d+ bytes its descriptor promises",
    "blob-br-encoded": r'blob .*: the body came in Content-Encoding "br", which hood does not',
    "error-escapes": r"\\x1b\[31mred\\x1b\[0m\\nsecond line\\r\\x1b\]0;pwned\\a\\u202eevil",
    "mediatype-escapes": r'unsupported media type "application/x\\x1b\[2J\\x1b\]0;pwned\\a\\nevil"',
    "manifest-raw-escape": r"manifest .*: not valid JSON \(Invalid control character",
    "informational-flood": r"more than 5 informational \(1xx\) responses",
    "v2-404": r"does not look like a registry: .*/v2/ answered HTTP 404 without the "
    r"Docker-Distribution-API-Version header",
}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("fault", LIES)
def test_lying_registry_gets_one_clear_line(hood, fault):
    with FaultyRegistry(IMAGE, fault) as reg:
        r = hood.run("pull", reg.ref, env=reg.env, timeout=240, measure=True)
    r.failed()
    # bounded memory: a 2 GiB bomb is never inflated whole (hood itself needs ~100 MiB)
    assert r.peak_kib < 400 * 1024, f"hood used {r.peak_kib // 1024} MiB"
    assert re.search(LIES[fault], r.error), r.error
    # the registry's text never reaches the terminal raw
    assert not set(r.stderr.rstrip("\n")) & {"\x1b", "\x07", "\r", "\u202e", "\n"}, r.stderr
    if fault == "v2-404":
        assert "TLS" not in r.error and "--insecure-registry" not in r.error, r.error
    assert_store_empty(hood)


@pytest.mark.parametrize("fault", ["blob-gzip-encoded", "retry-after-unicode"])
def test_honest_oddities_still_pull(hood, fault):
    """A layer sent gzip-encoded on the wire is decoded; a Retry-After that is not
    RFC 9110 (`²`) is ignored, and the pull waits its own backoff and succeeds."""
    with FaultyRegistry(IMAGE, fault) as reg:
        hood.run("pull", reg.ref, env=reg.env).ok()
    if fault == "retry-after-unicode":
        assert [p for _, p in reg.log if "/manifests/" in p].count(f"/v2/{reg.repo}/manifests/"
                                                                   f"{reg.tag}") >= 3  # fmt: skip
    assert_stored(hood, IMAGE)


@pytest.mark.timeout(200)
def test_headers_one_byte_at_a_time_trip_the_minimum_rate(hood):
    start = time.monotonic()
    with FaultyRegistry(IMAGE, "headers-slow") as reg:
        r = hood.run("pull", reg.ref, env={**reg.env, "HOOD_REGISTRY_TIMEOUT": "1"}, timeout=150)
    r.failed()
    assert "bytes per second (HOOD_REGISTRY_MIN_RATE)" in r.error, r.error
    assert time.monotonic() - start < 60  # 5 tries of ~1 s, and the backoff between them


@pytest.mark.timeout(200)
def test_request_deadline(hood):
    """Above the minimum rate (set to 1 byte/s) but never done: the deadline ends it."""
    env = {"HOOD_REGISTRY_MIN_RATE": "1", "HOOD_REGISTRY_DEADLINE": "1.5"}
    start = time.monotonic()
    with FaultyRegistry(IMAGE, "headers-slow") as reg:
        r = hood.run("pull", reg.ref, env={**reg.env, **env}, timeout=150)
    r.failed()
    assert "no complete answer within 1.5 s (HOOD_REGISTRY_DEADLINE)" in r.error, r.error
    assert time.monotonic() - start < 60


@pytest.mark.timeout(200)
def test_bad_limit_settings_are_one_line(hood):
    with FaultyRegistry(IMAGE, "none") as reg:
        for name, value in (("HOOD_REGISTRY_DEADLINE", "soon"), ("HOOD_REGISTRY_MIN_RATE", "-1")):
            r = hood.run("pull", reg.ref, env={**reg.env, name: value}).failed()
            assert name in r.error, r.error


@pytest.mark.timeout(200)
def test_blob_dripping_one_byte_per_connection_gives_up(hood):
    """Each connection brings one new byte then stalls: no try counts as progress."""
    start = time.monotonic()
    with FaultyRegistry(IMAGE, "blob-drip", stall=60) as reg:
        r = hood.run("pull", reg.ref, env={**reg.env, "HOOD_REGISTRY_TIMEOUT": "1"}, timeout=150)
        blob_gets = [p for m, p in reg.log if m == "GET" and p.endswith(reg.target)]
    r.failed()
    assert len(blob_gets) <= 6, blob_gets  # the retry policy's tries, not one per byte
    assert time.monotonic() - start < 60
    assert_store_empty(hood)


def test_partial_download_from_a_liar_is_not_resumed_elsewhere(hood):
    """A lying registry sends half of other bytes for a layer and is cut off: the next pull
    of that layer from another registry starts over and succeeds the first time."""
    with FaultyRegistry(IMAGE, "blob-other-half") as liar:
        hood.run("pull", liar.ref, env=liar.env, timeout=120).failed()
    downloads = hood.root / "hood" / "downloads"
    partials = list(downloads.glob("*.partial"))
    assert partials and partials[0].stat().st_size > 0, "the liar left no partial download"
    assert (downloads / partials[0].name.replace(".partial", ".origin")).read_text() == (
        f"{liar.host}/{liar.repo}"
    )
    with FaultyRegistry(IMAGE, "none") as honest:
        hood.run("pull", honest.ref, env=honest.env).ok()
        ranged = [p for m, p in honest.log if m == "GET" and p.endswith(honest.target)]
    assert len(ranged) == 1, ranged
    assert_stored(hood, IMAGE)
    assert not list(downloads.glob("*.partial")) and not list(downloads.glob("*.origin"))


# --- zstd layers asking for a huge window ------------------------------------------------------


def _zstd_window_image(window_log: int):
    base = busybox_layers("gzip", docker=False)[0]
    top = Layer(make_tar([Entry("w/", "dir"), Entry("w/data", data=b"window\n" * 1000)]),
                "zstd", OCI_LAYER_ZSTD)  # fmt: skip
    top.__dict__["blob"] = zstd_frame(top.tar, window_log)  # the crafted frame is the blob
    return build_image("zstdwindow", [base, top]), top


def test_zstd_layer_asking_for_a_2gib_window_is_refused(hood):
    image, top = _zstd_window_image(31)
    with FaultyRegistry(image, "none") as reg:
        r = hood.run("pull", reg.ref, env=reg.env).failed()
    assert f"layer {top.digest}" in r.error, r.error
    assert "window larger than 128 MiB" in r.error, r.error
    snap = trees.store_snapshot(hood.root)  # the good base layer may stay, for the next pull
    assert snap["images"] == [] and snap["repositories"] == {}, snap
    assert len(snap["layers"]) <= 1, snap


def test_zstd_layer_with_a_64mib_window_pulls(hood):
    image, _ = _zstd_window_image(26)
    with FaultyRegistry(image, "none") as reg:
        hood.run("pull", reg.ref, env=reg.env).ok()
    assert_stored(hood, image)


# --- the number of layers ----------------------------------------------------------------------


def _layered(n: int):
    layers = [
        Layer(make_tar([Entry(f"f{i}", data=b"%d\n" % i)]), "gzip", OCI_LAYER_GZIP)
        for i in range(n)
    ]
    return build_image(f"layers{n}", layers)


def test_more_than_125_layers_refused_before_downloading(hood):
    with FaultyRegistry(_layered(126), "none") as reg:
        r = hood.run("pull", reg.ref, env=reg.env).failed()
        blobs = [p for _, p in reg.log if "/blobs/" in p]
    assert "max depth exceeded" in r.error and "126 layers" in r.error, r.error
    assert blobs == [], blobs  # not even the config
    assert_store_empty(hood)
    assert not (hood.root / "hood" / "downloads").exists() or not any(
        (hood.root / "hood" / "downloads").iterdir()
    )


@pytest.mark.timeout(300)
def test_125_layers_pull_and_run(hood):
    image = _layered(125)
    with FaultyRegistry(image, "none") as reg:
        hood.run("pull", reg.ref, env=reg.env, timeout=240).ok()
    assert_stored(hood, image)
    hood.run("inspect", reg.ref).ok()


def _fake_deep_image(hood, n: int, name: str) -> str:
    """An image of `n` layers written into the store by hand (layerdb entries and config;
    no layer files): what an old store, or docker's, may hold. Returns its image ID."""
    from hood.core import reference
    from hood.core.digest import Digest, chain_ids
    from hood.core.imageconfig import ImageConfig
    from hood.store.images import ImageStore
    from hood.store.layout import Layout

    diff_ids = [Digest.of_bytes(b"fake layer %d" % i) for i in range(n)]
    cfg = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers",
           "diff_ids": [str(d) for d in diff_ids]}}  # fmt: skip
    config = ImageConfig.parse(json.dumps(cfg).encode())
    store = ImageStore(Layout(hood.root))
    parent = None
    for diff_id, chain in zip(diff_ids, chain_ids(diff_ids), strict=True):
        meta = Path(store.layout.layerdb(chain))
        meta.mkdir(parents=True)
        (meta / "diff").write_text(str(diff_id))
        (meta / "cache-id").write_text(chain.hex)
        (meta / "size").write_text("1")
        if parent is not None:
            (meta / "parent").write_text(str(parent))
        parent = chain
    with store.locked():
        store.put_config(config)
        store.add_reference(reference.parse(f"{name}:latest"), config.id)
    return str(config.id)


def _listed(hood) -> set[str]:
    out = hood.run("images", "--format", "{{.Repository}}").ok().stdout
    return set(out.split())


def test_deep_or_broken_chain_is_that_images_problem(hood):
    """An image deeper than 1,000 layers, and one whose parent chain loops: `images` and
    `inspect` of the others keep working, `inspect` of the broken one is one clear line,
    and fsck names both."""
    layered = layers_image()
    with FaultyRegistry(IMAGE, "none") as a, FaultyRegistry(layered, "none", repo="lib/l") as b:
        hood.run("pull", "-q", a.ref, env=a.env).ok()
        hood.run("pull", "-q", b.ref, env=b.env).ok()
        honest, looped = a.ref, b.ref
    deep = _fake_deep_image(hood, 1001, "deep")
    assert _listed(hood) >= {honest.rsplit(":", 1)[0], "deep"}
    hood.run("inspect", "deep").ok()
    # the top layer of the second image names itself as its parent
    top = layered.chain_ids[-1].split(":")[1]
    parent = trees.graph_root(hood.root) / "layerdb/sha256" / top / "parent"
    parent.write_text(layered.chain_ids[-1])
    listed = _listed(hood)
    assert honest.rsplit(":", 1)[0] in listed and "deep" in listed, listed
    assert looped.rsplit(":", 1)[0] not in listed, listed
    hood.run("inspect", honest).ok()
    r = hood.run("inspect", looped).failed()
    assert "parent chain loops" in r.error, r.error
    r = hood.run("inspect", honest, looped)
    assert r.status == 1 and json.loads(r.stdout)[0]["Id"] == IMAGE.id, r
    assert "parent chain loops" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = hood.run("fsck", "--json")
    assert r.status != 0 and "Traceback" not in r.stderr, r.stderr
    problems = {(f["path"], f["problem"]) for f in json.loads(r.stdout)["findings"]}
    assert any(p.endswith(f"{top}/parent") and "parent is" in t for p, t in problems), problems
    assert any(
        p.endswith(deep.split(":")[1]) and "1001 layers" in t and "max depth exceeded" in t
        for p, t in problems
    ), problems


def test_config_with_an_unpaired_surrogate_is_read_as_go_reads_it(hood):
    """`"\\ud800"` in a config: stored byte for byte, shown as U+FFFD (as Go decodes it),
    never a UnicodeEncodeError."""
    config = {"Env": ["LONE=a\ud800b"], "Labels": {"k\udc00": "v"}, "Cmd": ["sh"]}
    image = build_image("surrogate", busybox_layers("gzip", docker=False)[:1], config=config)
    assert b"\\ud800" in image.config  # the escape itself is what the registry serves
    with FaultyRegistry(image, "none") as reg:
        hood.run("pull", reg.ref, env=reg.env).ok()
        r = hood.run("inspect", reg.ref).ok()
    (doc,) = json.loads(r.stdout)
    assert doc["Config"]["Env"] == ["LONE=a\ufffdb"]
    assert doc["Config"]["Labels"] == {"k\ufffd": "v"}
    hood.run("inspect", "-f", "{{.Config.Env}}", reg.ref).ok()


@pytest.mark.parametrize("fault", ["manifest-deep-json", "manifest-raw-escape", "config-deep-json"])
def test_manifest_inspect_of_a_lying_registry(hood, fault):
    """`hood manifest inspect` reads the same documents: bounded, valid JSON, or one line
    (and never a raw terminal escape on stdout)."""
    with FaultyRegistry(IMAGE, fault) as reg:
        r = hood.run("manifest", "inspect", "--verbose", reg.ref, env=reg.env).failed()
    assert re.search(r"nested deeper than 200 levels|not valid JSON", r.error), r.error
    assert "\x1b" not in r.stdout + r.stderr
