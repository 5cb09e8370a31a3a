"""Faults no real registry produces on demand, from a scripted HTTP server on loopback."""

from __future__ import annotations

import contextlib
import dataclasses
import email.utils
import gzip
import io
import json
import os
import pickle
import random
import tempfile
import time
import zlib
from pathlib import Path

import pytest
import zstandard
from regkit import sha256
from support.faults import zstd_bomb

from hood.core.digest import Digest, VerifyingReader
from hood.core.errors import (
    AuthError,
    DigestMismatch,
    HoodError,
    ManifestError,
    NotFound,
    RegistryError,
)
from hood.core.imageconfig import ImageConfig
from hood.core.oci import DOCKER_MANIFEST, MAX_MANIFEST_SIZE, parse_document
from hood.registry.blobs import MIN_PROGRESS, origin_path
from hood.registry.client import RegistryClient
from hood.registry.credentials import Credentials

BLOB = random.Random(7).randbytes(300_000)
DIGEST = sha256(BLOB)
REPO = "lib/x"
BLOB_PATH = f"/v2/{REPO}/blobs/{DIGEST}"
MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "layers": []}).encode()
MDIGEST = sha256(MANIFEST)


def range_start(h) -> int | None:
    value = h.headers.get("Range")
    if not value:
        return None
    assert value.startswith("bytes=") and value.endswith("-"), value
    return int(value[6:-1])


def serve_range(h, start: int | None, content_range: str | None = None) -> None:
    if start is None:
        h.reply(200, BLOB)
        return
    cr = content_range or f"bytes {start}-{len(BLOB) - 1}/{len(BLOB)}"
    h.reply(206, BLOB[start:], {"Content-Range": cr})


def registry(blob=None, manifest=None):
    """A route: /v2/ answers 200; blob and manifest requests go to the given handlers."""

    def route(h):
        path = h.path.split("?")[0]
        if path == "/v2/":
            h.json(200, {})
        elif path == BLOB_PATH and blob is not None:
            blob(h)
        elif path.startswith(f"/v2/{REPO}/manifests/") and manifest is not None:
            manifest(h, path.rsplit("/", 1)[1])
        else:
            h.error(404, "NAME_UNKNOWN")

    return route


def fetch(client, partial, size=None, digest=DIGEST, n=8192) -> bytes:
    size = len(BLOB) if size is None else size
    out = io.BytesIO()
    with client.fetch_blob(REPO, Digest.parse(digest), size, partial) as blob:
        reader = VerifyingReader(blob, Digest.parse(digest), size, what="blob")
        while chunk := reader.read(n):
            out.write(chunk)
        reader.finish()
        fetch.last = blob  # for assertions on reconnects/resumed_from
    return out.getvalue()


@pytest.fixture
def partial(tmp_path):
    return tmp_path / "blob.partial"


def left_by(srv, partial, data: bytes, repo: str = REPO) -> None:
    """A partial download as an earlier fetch from `srv`'s `repo` leaves it."""
    partial.write_bytes(data)
    Path(origin_path(partial)).write_text(f"{srv.host}/{repo}")


def client_for(srv, retry, **kw) -> RegistryClient:
    return RegistryClient(srv.host, retry=retry, **kw)


# --- resuming blob downloads -------------------------------------------------------------------


def truncated_first(srv, h, then):
    """First blob GET: full Content-Length, half the body, connection closed. Then `then`."""
    if srv.bump("blob") == 1:
        h.reply(200, BLOB[: len(BLOB) // 2], length=len(BLOB))
        return
    then(h)


def test_truncated_body_resumes_with_range(scripted, fast_retry, partial):
    srv = scripted()
    srv.route = registry(
        blob=lambda h: truncated_first(srv, h, lambda h: serve_range(h, range_start(h)))
    )
    with client_for(srv, fast_retry) as c:
        assert fetch(c, partial) == BLOB
    gets = [s for s in srv.seen if s.path == BLOB_PATH]
    assert len(gets) == 2
    assert "range" not in gets[0].headers
    assert gets[1].headers["range"] == f"bytes={len(BLOB) // 2}-"
    assert fetch.last.reconnects == 1
    assert partial.read_bytes() == BLOB


def test_range_ignored_200_skips_what_we_have(scripted, fast_retry, partial):
    srv = scripted()
    srv.route = registry(blob=lambda h: truncated_first(srv, h, lambda h: h.reply(200, BLOB)))
    with client_for(srv, fast_retry) as c:
        assert fetch(c, partial) == BLOB
    assert [s.headers.get("range") for s in srv.seen if s.path == BLOB_PATH] == [
        None,
        f"bytes={len(BLOB) // 2}-",
    ]
    assert partial.read_bytes() == BLOB


def test_wrong_content_range_starts_over_without_range(scripted, fast_retry, partial):
    srv = scripted()

    def then(h):
        start = range_start(h)
        if start is not None:  # claims to start at 0 while we asked for `start`
            h.reply(206, BLOB, {"Content-Range": f"bytes 0-{len(BLOB) - 1}/{len(BLOB)}"})
        else:
            h.reply(200, BLOB)

    srv.route = registry(blob=lambda h: truncated_first(srv, h, then))
    with client_for(srv, fast_retry) as c:
        assert fetch(c, partial) == BLOB
    ranges = [s.headers.get("range") for s in srv.seen if s.path == BLOB_PATH]
    assert ranges == [None, f"bytes={len(BLOB) // 2}-", None]


def test_stalled_body_times_out_and_resumes(scripted, fast_retry, partial):
    srv = scripted()

    def blob(h):
        if srv.bump("blob") == 1:
            h.send_response(200)
            h.send_header("Content-Length", str(len(BLOB)))
            h.end_headers()
            h.wfile.write(BLOB[:1000])
            h.wfile.flush()
            time.sleep(2)
            h.close_connection = True
            return
        serve_range(h, range_start(h))

    srv.route = registry(blob=blob)
    start = time.monotonic()
    with client_for(srv, fast_retry, timeout=0.3) as c:
        assert fetch(c, partial) == BLOB
    assert time.monotonic() - start < 1.8
    assert [s.headers.get("range") for s in srv.seen if s.path == BLOB_PATH] == [
        None,
        "bytes=1000-",
    ]


def test_crash_replay_from_partial_then_range(scripted, fast_retry, partial):
    srv = scripted()
    left_by(srv, partial, BLOB[:100_000])

    def blob(h):
        assert range_start(h) == 100_000, h.headers.get("Range")
        serve_range(h, 100_000)

    srv.route = registry(blob=blob)
    with client_for(srv, fast_retry) as c:
        assert fetch(c, partial) == BLOB
    assert fetch.last.resumed_from == 100_000
    assert [s.headers.get("range") for s in srv.seen if s.path == BLOB_PATH] == ["bytes=100000-"]
    assert partial.read_bytes() == BLOB


def test_complete_partial_needs_no_network(scripted, fast_retry, partial):
    srv = scripted()
    left_by(srv, partial, BLOB)
    srv.route = registry(blob=lambda h: h.error(500, "UNKNOWN"))
    with client_for(srv, fast_retry) as c:
        assert fetch(c, partial) == BLOB
    assert BLOB_PATH not in srv.paths()


def test_partial_bigger_than_blob_is_discarded(scripted, fast_retry, partial):
    srv = scripted()
    left_by(srv, partial, BLOB + b"junk")
    srv.route = registry(blob=lambda h: serve_range(h, range_start(h)))
    with client_for(srv, fast_retry) as c:
        assert fetch(c, partial) == BLOB
    assert fetch.last.resumed_from == 0
    assert [s.headers.get("range") for s in srv.seen if s.path == BLOB_PATH] == [None]
    assert partial.read_bytes() == BLOB


def test_corrupt_partial_is_caught_by_the_callers_digest_check(scripted, fast_retry, partial):
    srv = scripted()
    left_by(srv, partial, b"\0" * 1000)
    srv.route = registry(blob=lambda h: serve_range(h, range_start(h)))
    with client_for(srv, fast_retry) as c, pytest.raises(DigestMismatch):
        fetch(c, partial)


def test_wrong_bytes_are_a_digest_mismatch(scripted, fast_retry, partial):
    srv = scripted()
    bad = bytes([BLOB[0] ^ 1]) + BLOB[1:]
    srv.route = registry(blob=lambda h: h.reply(200, bad))
    with client_for(srv, fast_retry) as c, pytest.raises(DigestMismatch, match="digest mismatch"):
        fetch(c, partial)


def test_longer_body_than_descriptor(scripted, fast_retry, partial):
    srv = scripted()
    srv.route = registry(blob=lambda h: h.reply(200, BLOB + b"x" * 10))
    with client_for(srv, fast_retry) as c, pytest.raises(DigestMismatch, match="300010"):
        fetch(c, partial)


def test_longer_chunked_body_than_descriptor(scripted, fast_retry, partial):
    srv = scripted()

    def blob(h):
        h.send_response(200)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for part in (BLOB, b"extra"):
            h.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
        h.wfile.write(b"0\r\n\r\n")

    srv.route = registry(blob=blob)
    with client_for(srv, fast_retry) as c, pytest.raises(DigestMismatch, match="more than"):
        fetch(c, partial)


def test_body_ending_early_forever_is_bounded(scripted, fast_retry, sleeps, partial):
    srv = scripted()
    srv.route = registry(blob=lambda h: h.reply(200, b"", length=len(BLOB)))
    with client_for(srv, fast_retry) as c, pytest.raises(RegistryError):
        fetch(c, partial)
    assert len([p for p in srv.paths() if p == BLOB_PATH]) == fast_retry.attempts
    assert len(sleeps.calls) == fast_retry.attempts - 1


def test_foreign_redirect_gets_no_authorization(scripted, fast_retry, partial):
    seen: list = []
    storage = scripted(shared=seen)
    storage.route = lambda h: serve_range(h, range_start(h))
    srv = scripted(shared=seen)
    good = "Basic " + __import__("base64").b64encode(b"alice:secret").decode()

    def route(h):
        if h.headers.get("Authorization") != good:
            h.reply(401, b"", {"WWW-Authenticate": 'Basic realm="r"'})
        elif h.path == BLOB_PATH:
            # "localhost" is another host than 127.0.0.1 (same machine)
            h.reply(307, b"", {"Location": f"http://localhost:{storage.port}/blob?sig=1"})
        else:
            h.json(200, {})

    srv.route = route
    with client_for(srv, fast_retry, credentials=Credentials("alice", "secret")) as c:
        assert fetch(c, partial) == BLOB
    assert storage.seen, "the redirect was not followed"
    assert all("authorization" not in s.headers for s in storage.seen)
    assert any(s.headers.get("authorization") == good for s in srv.seen if s.path == BLOB_PATH)


def test_redirect_loop_is_bounded(scripted, fast_retry, partial):
    srv = scripted()
    srv.route = registry(blob=lambda h: h.reply(307, b"", {"Location": BLOB_PATH}))
    with client_for(srv, fast_retry) as c, pytest.raises(RegistryError, match="too many redirects"):
        fetch(c, partial)


# --- retries -------------------------------------------------------------------------------------


def fail_then(srv, times: int, status: int, headers=None, code="UNKNOWN"):
    def manifest(h, ref):
        if srv.bump("m") <= times:
            h.error(status, code, headers=headers)
        else:
            h.reply(
                200, MANIFEST, {"Content-Type": DOCKER_MANIFEST, "Docker-Content-Digest": MDIGEST}
            )

    return manifest


def test_429_retry_after_seconds(scripted, fast_retry, sleeps):
    srv = scripted()
    srv.route = registry(manifest=fail_then(srv, 2, 429, {"Retry-After": "3"}, "TOOMANYREQUESTS"))
    with client_for(srv, fast_retry) as c:
        assert c.get_manifest(REPO, "latest").raw == MANIFEST
    assert sleeps.calls == [3.0, 3.0]


def test_429_retry_after_http_date(scripted, fast_retry, sleeps):
    srv = scripted()
    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    srv.route = registry(manifest=fail_then(srv, 1, 429, {"Retry-After": when}, "TOOMANYREQUESTS"))
    with client_for(srv, fast_retry) as c:
        assert c.get_manifest(REPO, "latest").raw == MANIFEST
    assert len(sleeps.calls) == 1 and 17 <= sleeps.calls[0] <= 21, sleeps.calls


def test_429_retry_after_too_long_gives_up_at_once(scripted, fast_retry, sleeps):
    srv = scripted()
    srv.route = registry(
        manifest=fail_then(srv, 99, 429, {"Retry-After": "3600"}, "TOOMANYREQUESTS")
    )
    with client_for(srv, fast_retry) as c, pytest.raises(RegistryError) as err:
        c.get_manifest(REPO, "latest")
    assert "too many requests" in str(err.value) and "3600" in str(err.value)
    assert "TOOMANYREQUESTS" in str(err.value)
    assert sleeps.calls == []


def test_5xx_then_success(scripted, fast_retry, sleeps):
    srv = scripted()
    srv.route = registry(manifest=fail_then(srv, 2, 503))
    with client_for(srv, fast_retry) as c:
        assert c.get_manifest(REPO, "latest").raw == MANIFEST
    assert sleeps.calls == [0.01, 0.02]


def test_5xx_forever_is_bounded_in_tries(scripted, fast_retry, sleeps):
    srv = scripted()
    srv.route = registry(manifest=fail_then(srv, 10**6, 500))
    with client_for(srv, fast_retry) as c, pytest.raises(RegistryError, match="HTTP 500") as err:
        c.get_manifest(REPO, "latest")
    assert f"{srv.host}/{REPO}:latest" in str(err.value)
    assert srv.count["m"] == fast_retry.attempts
    assert len(sleeps.calls) == fast_retry.attempts - 1


def test_5xx_forever_is_bounded_in_time(scripted, fast_retry, sleeps):
    from dataclasses import replace

    policy = replace(fast_retry, attempts=100, max_total=0.05)
    srv = scripted()
    srv.route = registry(manifest=fail_then(srv, 10**6, 502))
    with client_for(srv, policy) as c, pytest.raises(RegistryError, match="HTTP 502"):
        c.get_manifest(REPO, "latest")
    assert sum(sleeps.calls) <= 0.05
    assert srv.count["m"] < 10


def test_5xx_on_blob_then_success(scripted, fast_retry, partial):
    srv = scripted()

    def blob(h):
        if srv.bump("b") <= 2:
            h.error(503, "UNAVAILABLE")
        else:
            serve_range(h, range_start(h))

    srv.route = registry(blob=blob)
    with client_for(srv, fast_retry) as c:
        assert fetch(c, partial) == BLOB


# --- manifests -------------------------------------------------------------------------------------


def manifest_route(body: bytes, header: str | None, content_type=DOCKER_MANIFEST):
    def manifest(h, ref):
        headers = {"Content-Type": content_type}
        if header is not None:
            headers["Docker-Content-Digest"] = header
        h.reply(200, body, headers)

    return registry(manifest=manifest)


def test_manifest_by_digest_with_wrong_body(scripted, fast_retry):
    srv = scripted(manifest_route(MANIFEST + b" ", MDIGEST))
    with client_for(srv, fast_retry) as c, pytest.raises(DigestMismatch, match=MDIGEST):
        c.get_manifest(REPO, MDIGEST)


def test_manifest_by_tag_docker_content_digest_disagrees(scripted, fast_retry):
    srv = scripted(manifest_route(MANIFEST, sha256(b"other")))
    with (
        client_for(srv, fast_retry) as c,
        pytest.raises(DigestMismatch, match="Docker-Content-Digest"),
    ):
        c.get_manifest(REPO, "latest")


def test_manifest_by_tag_without_header_is_hashed(scripted, fast_retry):
    srv = scripted(manifest_route(MANIFEST, None))
    with client_for(srv, fast_retry) as c:
        got = c.get_manifest(REPO, "latest")
    assert str(got.digest) == MDIGEST and got.raw == MANIFEST


def test_manifest_invalid_digest_header(scripted, fast_retry):
    srv = scripted(manifest_route(MANIFEST, "sha256:../../etc/passwd"))
    with client_for(srv, fast_retry) as c, pytest.raises(DigestMismatch, match="invalid"):
        c.get_manifest(REPO, "latest")


def test_manifest_oversized_by_content_length(scripted, fast_retry):
    srv = scripted()

    def manifest(h, ref):
        h.send_response(200)
        h.send_header("Content-Length", str(MAX_MANIFEST_SIZE + 1))
        h.end_headers()
        h.close_connection = True

    srv.route = registry(manifest=manifest)
    with client_for(srv, fast_retry) as c, pytest.raises(ManifestError, match="larger"):
        c.get_manifest(REPO, "latest")


def test_manifest_oversized_chunked(scripted, fast_retry):
    srv = scripted()

    def manifest(h, ref):
        h.send_response(200)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        piece = b"x" * 65536
        try:
            for _ in range(MAX_MANIFEST_SIZE // len(piece) + 2):
                h.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            h.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass

    srv.route = registry(manifest=manifest)
    with client_for(srv, fast_retry) as c, pytest.raises(ManifestError, match="larger"):
        c.get_manifest(REPO, "latest")


def test_bad_references_never_reach_the_wire(scripted, fast_retry):
    srv = scripted(registry())
    with client_for(srv, fast_retry) as c:
        for repo in ("../x", "A/b", "a//b", "a/b?x"):
            with pytest.raises(RegistryError, match="invalid repository"):
                c.get_manifest(repo, "latest")
        for ref in ("../x", "sha256:1234", "a b", "sha256:" + "A" * 64):
            with pytest.raises(RegistryError):
                c.get_manifest(REPO, ref)
    assert not [p for p in srv.paths() if "manifests" in p]


# --- registry errors ---------------------------------------------------------------------------------


def test_error_array_in_messages(scripted, fast_retry):
    srv = scripted()

    def manifest(h, ref):
        if ref == "denied":
            h.error(403, "DENIED", "requested access to the resource is denied")
        elif ref == "unauth":
            h.error(401, "UNAUTHORIZED", "authentication required")
        elif ref == "name":
            h.error(404, "NAME_UNKNOWN", "repository name not known to registry")
        else:
            h.reply(500, b"<html>\x00oops</html>", {"Content-Type": "text/html"})

    srv.route = registry(manifest=manifest)
    with client_for(srv, fast_retry) as c:
        with pytest.raises(AuthError, match="DENIED: requested access"):
            c.get_manifest(REPO, "denied")
        with pytest.raises(AuthError, match="UNAUTHORIZED"):
            c.get_manifest(REPO, "unauth")
        with pytest.raises(NotFound, match=f"repository name not known.*{srv.host}/{REPO}:name"):
            c.get_manifest(REPO, "name")
        with pytest.raises(RegistryError, match=r'HTTP 500: "<html>\\x00oops</html>"') as err:
            c.get_manifest(REPO, "boom")
        assert not isinstance(err.value, (AuthError, NotFound))


# --- token service -------------------------------------------------------------------------------------


def token_registry(scripted, token_reply, accept=lambda auth: auth.startswith("Bearer ")):
    """A registry with a Bearer challenge whose realm is another (scripted) server."""
    ts = scripted()
    ts.route = token_reply
    srv = scripted()

    def route(h):
        if not accept(h.headers.get("Authorization", "")):
            challenge = f'Bearer realm="http://127.0.0.1:{ts.port}/token",service="svc"'
            if h.path != "/v2/":
                challenge += f',scope="repository:{REPO}:pull"'
            h.reply(401, b"{}", {"WWW-Authenticate": challenge})
        elif h.path.startswith(f"/v2/{REPO}/manifests/"):
            h.reply(200, MANIFEST, {"Content-Type": DOCKER_MANIFEST})
        else:
            h.json(200, {})

    srv.route = route
    return srv, ts


def test_token_body_too_large(scripted, fast_retry):
    srv, ts = token_registry(scripted, lambda h: h.reply(200, b"{" + b" " * (1 << 20) + b"}"))
    with client_for(srv, fast_retry) as c, pytest.raises(RegistryError, match="larger than"):
        c.get_manifest(REPO, "latest")


def test_token_body_garbage(scripted, fast_retry):
    srv, ts = token_registry(scripted, lambda h: h.reply(200, b"\x00not json"))
    with client_for(srv, fast_retry) as c, pytest.raises(RegistryError, match="not valid JSON"):
        c.get_manifest(REPO, "latest")


def test_token_body_without_token(scripted, fast_retry):
    srv, ts = token_registry(scripted, lambda h: h.json(200, {"expires_in": 60}))
    with client_for(srv, fast_retry) as c, pytest.raises(RegistryError, match="without a token"):
        c.get_manifest(REPO, "latest")


def test_access_token_field_and_query(scripted, fast_retry):
    srv, ts = token_registry(scripted, lambda h: h.json(200, {"access_token": "abc"}))
    with client_for(srv, fast_retry, credentials=Credentials("bob", "pw")) as c:
        assert c.get_manifest(REPO, "latest").raw == MANIFEST
    (req,) = ts.seen
    assert (
        req.path
        == f"/token?service=svc&scope=repository%3A{REPO.replace('/', '%2F')}%3Apull&account=bob"
    )
    assert req.headers["authorization"].startswith("Basic ")
    assert any(s.headers.get("authorization") == "Bearer abc" for s in srv.seen)


def test_token_refreshed_on_401_and_on_expiry(scripted, fast_retry):
    issued: list[str] = []

    def token_reply(h):
        issued.append(f"t{len(issued) + 1}")
        h.json(200, {"token": issued[-1], "expires_in": 100})

    # the registry only takes the newest token (so t1 is "expired" once t2 exists)
    srv, ts = token_registry(
        scripted, token_reply, lambda a: bool(issued) and a == f"Bearer {issued[-1]}"
    )
    now = [1000.0]
    with client_for(srv, fast_retry) as c:
        c.auth.clock = lambda: now[0]
        c.get_manifest(REPO, "latest")
        assert issued == ["t1"]
        c.get_manifest(REPO, "latest")
        assert issued == ["t1"]  # cached
        now[0] += 200  # past expiry: a new token before asking
        c.get_manifest(REPO, "latest")
        assert issued == ["t1", "t2"]
        issued.append("t3")  # the registry now rejects t2: refreshed on the 401
        c.get_manifest(REPO, "latest")
        assert issued[-1] == "t4"


def test_token_service_401_is_auth_error(scripted, fast_retry):
    srv, ts = token_registry(scripted, lambda h: h.error(401, "UNAUTHORIZED", "bad creds"))
    c = client_for(srv, fast_retry, credentials=Credentials("bob", "pw"))
    with c, pytest.raises(AuthError, match="bad creds.*hood login"):
        c.get_manifest(REPO, "latest")


def test_foreign_layer_urls_are_not_fetched(scripted, fast_retry, partial):
    elsewhere = scripted(lambda h: h.reply(200, BLOB))
    srv = scripted(registry())  # the registry lacks the blob
    url = f"http://{elsewhere.host}/layer.tar.gz"
    with client_for(srv, fast_retry) as c:
        blob = c.fetch_blob(REPO, Digest.parse(DIGEST), len(BLOB), partial, urls=[url])
        with blob, pytest.raises(NotFound, match=f"foreign layer.*{url}.*does not fetch"):
            blob.read(10)
    assert not elsewhere.seen


def test_foreign_layer_the_registry_has_is_taken_from_it(scripted, fast_retry, partial):
    srv = scripted(registry(blob=lambda h: serve_range(h, range_start(h))))
    with client_for(srv, fast_retry) as c:
        blob = c.fetch_blob(REPO, Digest.parse(DIGEST), len(BLOB), partial, urls=["https://x/y"])
        with blob:
            assert blob.read() == BLOB


def test_docker_hub_names():
    c = RegistryClient("docker.io", credentials=None)
    assert c.host == "registry-1.docker.io" and c.display_host == "docker.io"
    c.close()


def test_manifest_body_broken_off_is_asked_again(scripted, fast_retry):
    srv = scripted()

    def manifest(h, ref):
        if srv.bump("m") == 1:
            h.reply(200, MANIFEST[:10], {"Content-Type": DOCKER_MANIFEST}, length=len(MANIFEST))
        else:
            h.reply(200, MANIFEST, {"Content-Type": DOCKER_MANIFEST})

    srv.route = registry(manifest=manifest)
    with client_for(srv, fast_retry) as c:
        assert c.get_manifest(REPO, MDIGEST).raw == MANIFEST
    assert srv.count["m"] == 2


# --- a registry that lies: JSON nested without end -----------------------------------------------

DEEP = b"[" * 100_000 + b"]" * 100_000


def test_deep_json_manifest_is_refused_on_parsing(scripted, fast_retry):
    body = b'{"schemaVersion": 2, "layers": ' + DEEP + b"}"
    srv = scripted(manifest_route(body, sha256(body)))
    with client_for(srv, fast_retry) as c:
        got = c.get_manifest(REPO, "latest")
    with pytest.raises(ManifestError, match="manifest x: JSON nested deeper than 200 levels"):
        parse_document(got.raw, got.content_type, what="manifest x")


def test_deep_json_config_is_refused_on_parsing(scripted, fast_retry):
    config = b'{"rootfs": ' + DEEP + b"}"
    cdigest = sha256(config)
    srv = scripted()
    srv.route = lambda h: h.reply(200, config) if cdigest in h.path else h.json(200, {})
    with (
        client_for(srv, fast_retry) as c,
        c.fetch_blob_bytes(REPO, Digest.parse(cdigest), len(config)) as raw,
        pytest.raises(ManifestError, match="config: JSON nested deeper than 200"),
    ):
        ImageConfig.parse(raw, what="config")


def test_deep_json_token_is_a_clear_error(scripted, fast_retry):
    srv, ts = token_registry(scripted, lambda h: h.reply(200, b'{"token": ' + DEEP + b"}"))
    with client_for(srv, fast_retry) as c, pytest.raises(RegistryError, match="deeper than 200"):
        c.get_manifest(REPO, "latest")


@pytest.mark.parametrize("status", [404, 401, 403, 500])
@pytest.mark.parametrize("size", ["within", "beyond"])
def test_deep_json_error_body(scripted, fast_retry, status, size):
    """Within the 64 KiB error body cap, too deep to decode: shown as (escaped) text;
    beyond it: left out. Either way one clear error of the status's kind."""
    n = 30_000 if size == "within" else 100_000
    body = b"[" * n + b"]" * n
    srv = scripted(registry(manifest=lambda h, ref: h.reply(status, body)))
    kind = {404: NotFound, 401: AuthError, 403: AuthError, 500: RegistryError}[status]
    with client_for(srv, fast_retry) as c, pytest.raises(kind) as err:
        c.get_manifest(REPO, "latest")
    assert ('"[[[[' in str(err.value)) is (size == "within"), err.value
    assert len(str(err.value)) < 600


# --- compressed bodies: capped while inflating, a corrupt one is a clear line -------------------


def _rss_kib() -> int:
    """This process's resident memory now, in KiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


def within_memory(mib: int, attempt) -> None:
    """Run `attempt()` in a forked child and check how far the child's peak memory rose
    above what it started with (a high-water mark of its own, which earlier tests cannot
    hide). The child's exception, if any, is raised here again (its type and text)."""
    read_end, write_end = os.pipe()
    start = _rss_kib()
    pid = os.fork()
    if pid == 0:  # the child: run, report, and leave without any cleanup
        outcome = b""
        try:
            attempt()
        except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
            outcome = pickle.dumps((type(exc), str(exc)))
        os.write(write_end, outcome)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        outcome = f.read()
    _, _, usage = os.wait4(pid, 0)
    grown = (usage.ru_maxrss - start) // 1024
    assert grown < mib, f"memory grew by {grown} MiB"
    if outcome:
        kind, text = pickle.loads(outcome)
        raise kind(text)


BOMB = zstd_bomb(2 << 30)  # 64 KiB of zstd, 2 GiB of spaces


def bombed(status=200, extra=None):
    """A route answering with BOMB, zstd-encoded and chunked (no Content-Length to refuse
    it by)."""

    def answer(h, ref=None):
        h.send_response(status)
        for k, v in {"Content-Encoding": "zstd", **(extra or {})}.items():
            h.send_header(k, v)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        with contextlib.suppress(OSError):
            h.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(BOMB), BOMB))

    return answer


def test_zstd_bomb_manifest(scripted, fast_retry):
    srv = scripted(registry(manifest=bombed(extra={"Content-Type": DOCKER_MANIFEST})))

    def attempt():
        with client_for(srv, fast_retry) as c:
            c.get_manifest(REPO, "latest")

    with pytest.raises(ManifestError, match=f"larger than the {MAX_MANIFEST_SIZE} bytes"):
        within_memory(64, attempt)


@pytest.mark.parametrize("status", [404, 401, 500])
def test_zstd_bomb_error_body(scripted, fast_retry, status):
    srv = scripted(registry(manifest=bombed(status)))

    def attempt():
        with client_for(srv, fast_retry) as c:
            c.get_manifest(REPO, "latest")

    with pytest.raises(RegistryError if status != 404 else NotFound):
        within_memory(64, attempt)


def test_zstd_bomb_401_before_the_token_retry(scripted, fast_retry):
    """httpx reads a 401 body whole before the retry: it is read capped first. The
    registry takes only the second token, so the first request is retried after a 401."""
    ts = scripted()
    ts.route = lambda h: h.json(200, {"token": f"T{ts.bump('t')}"})
    srv = scripted()

    def route(h):
        if h.path == "/v2/":
            h.reply(401, b"", {"WWW-Authenticate": f'Bearer realm="http://{ts.host}/t"'})
        elif h.headers.get("Authorization") == "Bearer T2":
            h.reply(200, MANIFEST, {"Content-Type": DOCKER_MANIFEST})
        else:
            challenge = f'Bearer realm="http://{ts.host}/token",service="s"'
            h.send_response(401)
            h.send_header("WWW-Authenticate", challenge)
            h.send_header("Content-Encoding", "zstd")
            h.send_header("Transfer-Encoding", "chunked")
            h.end_headers()
            h.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(BOMB), BOMB))

    srv.route = route

    def attempt():
        with client_for(srv, fast_retry) as c:
            c.get_manifest(REPO, "latest")

    with pytest.raises(RegistryError, match="401 response: body larger than"):
        within_memory(64, attempt)


def test_zstd_bomb_token(scripted, fast_retry):
    srv, ts = token_registry(scripted, bombed())

    def attempt():
        with client_for(srv, fast_retry) as c:
            c.get_manifest(REPO, "latest")

    with pytest.raises(RegistryError, match="token service .*larger than"):
        within_memory(64, attempt)


def test_zstd_bomb_blob_keeps_streaming_and_is_capped(scripted, fast_retry, partial):
    srv = scripted(registry(blob=bombed()))

    def attempt():
        with client_for(srv, fast_retry) as c:
            fetch(c, partial)

    with pytest.raises(DigestMismatch):
        within_memory(64, attempt)
    assert partial.stat().st_size <= len(BLOB)


def test_zstd_bomb_config(scripted, fast_retry):
    srv = scripted(registry(blob=bombed()))

    def attempt():
        with (
            client_for(srv, fast_retry) as c,
            c.fetch_blob_bytes(REPO, Digest.parse(DIGEST), len(BLOB), limit=1 << 20),
        ):
            pass

    with pytest.raises(DigestMismatch, match="more than the"):
        within_memory(64, attempt)


CORRUPT_GZIP = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03not deflate at all"


def corrupt(h, ref=None):
    h.reply(200, CORRUPT_GZIP, {"Content-Encoding": "gzip", "Content-Type": DOCKER_MANIFEST})


def test_corrupt_gzip_manifest_token_config_blob(scripted, fast_retry, partial):
    srv = scripted(registry(manifest=corrupt, blob=corrupt))
    with client_for(srv, fast_retry) as c:
        with pytest.raises(ManifestError, match="manifest .*not valid gzip"):
            c.get_manifest(REPO, "latest")
        with (
            pytest.raises(RegistryError, match="not valid gzip"),
            c.fetch_blob_bytes(REPO, Digest.parse(DIGEST), len(BLOB)),
        ):
            pass
        with pytest.raises(RegistryError, match="not valid gzip"):
            fetch(c, partial)
    srv, ts = token_registry(scripted, corrupt)
    with client_for(srv, fast_retry) as c, pytest.raises(RegistryError, match="not valid gzip"):
        c.get_manifest(REPO, "latest")


def test_corrupt_gzip_error_body_on_404(scripted, fast_retry):
    def manifest(h, ref):
        h.reply(404, CORRUPT_GZIP, {"Content-Encoding": "gzip"})

    srv = scripted(registry(manifest=manifest))
    with client_for(srv, fast_retry) as c, pytest.raises(NotFound, match="not found"):
        c.get_manifest(REPO, "latest")


@pytest.mark.parametrize("encoding", ["gzip", "x-gzip", "deflate", "deflate-raw", "zstd",
                                      "gzip, zstd", "identity"])  # fmt: skip
def test_encoded_bodies_are_decoded(scripted, fast_retry, partial, encoding):
    def encode(data: bytes) -> tuple[bytes, str]:
        out, header = data, encoding
        for token in [t.strip() for t in encoding.split(",")]:
            if token in ("gzip", "x-gzip"):
                out = gzip.compress(out)
            elif token == "deflate":
                out = zlib.compress(out)
            elif token == "deflate-raw":
                co = zlib.compressobj(wbits=-15)
                out, header = co.compress(out) + co.flush(), "deflate"
            elif token == "zstd":
                out = zstandard.ZstdCompressor().compress(out)
        return out, header

    def send(h, data, ref=None):
        body, header = encode(data)
        h.reply(200, body, {"Content-Encoding": header, "Content-Type": DOCKER_MANIFEST})

    srv = scripted(
        registry(manifest=lambda h, ref: send(h, MANIFEST), blob=lambda h: send(h, BLOB))
    )
    with client_for(srv, fast_retry) as c:
        assert c.get_manifest(REPO, MDIGEST).raw == MANIFEST
        with c.fetch_blob_bytes(REPO, Digest.parse(DIGEST), len(BLOB)) as data:
            assert data == BLOB
        assert fetch(c, partial) == BLOB


def test_encoded_blob_resumes_without_range(scripted, fast_retry, partial):
    """A ranged answer that is encoded cannot be decoded from its middle: asked for whole."""
    encoded = gzip.compress(BLOB)
    srv = scripted()

    def blob(h):
        n = srv.bump("b")
        if n == 1:  # half the encoded body, then the connection drops
            h.reply(200, encoded[: len(encoded) // 2], {"Content-Encoding": "gzip"},
                    length=len(encoded))  # fmt: skip
        elif range_start(h) is not None:
            h.reply(206, encoded, {"Content-Encoding": "gzip",
                                   "Content-Range": f"bytes 0-{len(encoded) - 1}/*"})  # fmt: skip
        else:
            h.reply(200, encoded, {"Content-Encoding": "gzip"})

    srv.route = registry(blob=blob)
    with client_for(srv, fast_retry) as c:
        assert fetch(c, partial) == BLOB
    ranges = [s.headers.get("range") for s in srv.seen if s.path == BLOB_PATH]
    assert ranges[0] is None and ranges[1] is not None and ranges[-1] is None, ranges


@pytest.mark.parametrize("encoding", ["br", "compress", "gzip, gzip, gzip, gzip"])
def test_unsupported_or_stacked_encodings_are_refused(scripted, fast_retry, encoding):
    srv = scripted(registry(manifest=lambda h, ref: h.reply(200, MANIFEST,
                                                             {"Content-Encoding": encoding})))  # fmt: skip
    with (
        client_for(srv, fast_retry) as c,
        pytest.raises(ManifestError, match="Content-Encoding|codings"),
    ):
        c.get_manifest(REPO, "latest")


# --- Retry-After that is not RFC 9110 -------------------------------------------------------------


@pytest.mark.parametrize("value", ["\u00b2", "\u0663", "1.5", "-3", "soon", "Tue, 31 Feb 2023 22:13:50 GMT"])  # fmt: skip
def test_retry_after_not_rfc9110_is_ignored(scripted, fast_retry, sleeps, value):
    srv = scripted()
    wire = value.encode().decode("latin-1")  # its UTF-8 bytes, as send_header writes latin-1
    srv.route = registry(manifest=fail_then(srv, 2, 429, {"Retry-After": wire}, "TOOMANYREQUESTS"))
    with client_for(srv, fast_retry) as c:
        assert c.get_manifest(REPO, "latest").raw == MANIFEST
    assert sleeps.calls == [0.01, 0.02]  # the policy's own backoff


def test_retry_after_unicode_on_the_last_429_is_a_clear_error(scripted, fast_retry):
    srv = scripted()
    srv.route = registry(manifest=fail_then(srv, 99, 429, {"Retry-After": "\u00b2"}, "TOOMANY"))
    with client_for(srv, fast_retry) as c, pytest.raises(RegistryError, match="too many requests"):
        c.get_manifest(REPO, "latest")


# --- registry text is escaped ---------------------------------------------------------------------

NASTY = "\x1b[31mred\x1b[0m\nsecond line\r\x1b]0;pwned\x07\u202eevil"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500])
def test_registry_messages_are_escaped(scripted, fast_retry, status):
    srv = scripted(registry(manifest=lambda h, ref: h.error(status, "CODE\n", NASTY)))
    with client_for(srv, fast_retry) as c, pytest.raises(HoodError) as err:
        c.get_manifest(REPO, "latest")
    text = str(err.value)
    assert "\\x1b[31mred\\x1b[0m\\nsecond line\\r\\x1b]0;pwned\\a\\u202eevil" in text, text
    assert not set(text) & {"\x1b", "\x07", "\r", "\n", "\u202e"}, text


def test_media_types_and_headers_are_escaped(scripted, fast_retry):
    body = json.dumps({"schemaVersion": 2, "mediaType": "x/\x1b[2Jevil\n", "layers": []})
    srv = scripted(manifest_route(body.encode(), "sha256:\x1b[2J", "text/\x1b]0;t\x07"))
    with client_for(srv, fast_retry) as c, pytest.raises(DigestMismatch) as err:
        c.get_manifest(REPO, "latest")
    assert '"sha256:\\x1b[2J"' in str(err.value)
    srv = scripted(manifest_route(body.encode(), None, "text/\x1b]0;t\x07"))
    with client_for(srv, fast_retry) as c:
        got = c.get_manifest(REPO, "latest")
    with pytest.raises(ManifestError) as err:
        parse_document(got.raw, got.content_type)
    assert '"x/\\x1b[2Jevil\\n"' in str(err.value) and "\x1b" not in str(err.value)


# --- waits no read timeout catches ---------------------------------------------------------------


def raw_route(write):
    """A route answering manifest requests by writing raw bytes (`write(h)`)."""

    def manifest(h, ref):
        with contextlib.suppress(OSError):
            write(h)
        h.close_connection = True

    return registry(manifest=manifest)


def test_endless_100_continue_is_given_up(scripted, fast_retry):
    def flood(h):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            h.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n" * 32)
            h.wfile.flush()

    srv = scripted(raw_route(flood))
    start = time.monotonic()
    with client_for(srv, fast_retry) as c, pytest.raises(RegistryError) as err:
        c.get_manifest(REPO, "latest")
    assert "more than 5 informational (1xx) responses" in str(err.value), err.value
    assert time.monotonic() - start < 10
    assert len([p for p in srv.paths() if "/manifests/" in p]) == fast_retry.attempts


def test_a_few_informational_responses_are_fine(scripted, fast_retry):
    head = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n" * 2
    ok = (b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s"
          % (DOCKER_MANIFEST.encode(), len(MANIFEST), MANIFEST))  # fmt: skip
    srv = scripted(raw_route(lambda h: h.wfile.write(head + ok)))
    with client_for(srv, fast_retry) as c:
        assert c.get_manifest(REPO, MDIGEST).raw == MANIFEST


def dribble(data: bytes, every: float):
    def write(h):
        for i in range(len(data)):
            h.wfile.write(data[i : i + 1])
            h.wfile.flush()
            time.sleep(every)

    return write


SLOW_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Filler: " + b"x" * 400


@pytest.mark.parametrize("part", ["headers", "body"])
def test_one_byte_at_a_time_trips_the_minimum_rate(scripted, fast_retry, part):
    if part == "headers":
        write = dribble(SLOW_HEAD, 0.05)
    else:

        def write(h):
            h.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(MANIFEST))
            h.wfile.flush()
            dribble(MANIFEST, 0.05)(h)

    srv = scripted(raw_route(write))
    policy = dataclasses.replace(fast_retry, attempts=2)
    start = time.monotonic()
    with client_for(srv, policy, timeout=0.5) as c, pytest.raises(RegistryError) as err:
        c.get_manifest(REPO, MDIGEST)
    assert "bytes per second (HOOD_REGISTRY_MIN_RATE)" in str(err.value), err.value
    assert time.monotonic() - start < 5  # two tries of about half a second each


def test_deadline_ends_an_answer_above_the_minimum_rate(scripted, fast_retry):
    srv = scripted(raw_route(dribble(SLOW_HEAD, 0.01)))
    policy = dataclasses.replace(fast_retry, attempts=2)
    start = time.monotonic()
    with (
        client_for(srv, policy, timeout=0.5, deadline=0.8, min_rate=1) as c,
        pytest.raises(RegistryError, match=r"no complete answer within 0\.8 s"),
    ):
        c.get_manifest(REPO, MDIGEST)
    assert time.monotonic() - start < 4


def test_limits_from_the_environment(scripted, fast_retry, monkeypatch):
    srv = scripted(raw_route(dribble(SLOW_HEAD, 0.01)))
    monkeypatch.setenv("HOOD_REGISTRY_DEADLINE", "0.6")
    monkeypatch.setenv("HOOD_REGISTRY_MIN_RATE", "0")  # off
    policy = dataclasses.replace(fast_retry, attempts=1)
    with (
        client_for(srv, policy, timeout=0.3) as c,
        pytest.raises(RegistryError, match=r"within 0\.6 s \(HOOD_REGISTRY_DEADLINE\)"),
    ):
        c.get_manifest(REPO, MDIGEST)
    monkeypatch.setenv("HOOD_REGISTRY_MIN_RATE", "fast")
    with pytest.raises(RegistryError, match="HOOD_REGISTRY_MIN_RATE='fast' is not a number"):
        client_for(srv, policy)


def test_a_slow_but_honest_registry_is_waited_for(scripted, fast_retry):
    """Thinking before the first byte (within the read timeout), then a steady trickle
    above the minimum rate, and a blob whose reader is slow: none of it trips a limit."""

    def manifest(h, ref):
        time.sleep(0.4)
        h.reply(200, MANIFEST, {"Content-Type": DOCKER_MANIFEST})

    def blob(h):
        h.send_response(200)
        h.send_header("Content-Length", str(len(BLOB)))
        h.end_headers()
        for i in range(0, len(BLOB), 30_000):  # 300 KB/s
            h.wfile.write(BLOB[i : i + 30_000])
            h.wfile.flush()
            time.sleep(0.1)

    srv = scripted(registry(manifest=manifest, blob=blob))
    with client_for(srv, fast_retry, timeout=0.5, min_rate=100_000) as c:
        assert c.get_manifest(REPO, MDIGEST).raw == MANIFEST
        with c.fetch_blob(REPO, Digest.parse(DIGEST), len(BLOB), Path(tempfile.mktemp())) as b:
            got = b.read(1000)
            time.sleep(1.0)  # the consumer dawdles: not the registry's fault
            got += b.read()
    assert got == BLOB


def test_one_new_byte_per_connection_is_no_progress(scripted, fast_retry, sleeps, partial):
    def blob(h):
        start = range_start(h) or 0
        h.send_response(206 if start else 200)
        if start:
            h.send_header("Content-Range", f"bytes {start}-{len(BLOB) - 1}/{len(BLOB)}")
        h.send_header("Content-Length", str(len(BLOB) - start))
        h.end_headers()
        h.wfile.write(BLOB[start : start + 1])
        h.wfile.flush()
        time.sleep(1)
        h.close_connection = True

    srv = scripted(registry(blob=blob))
    with client_for(srv, fast_retry, timeout=0.2) as c, pytest.raises(RegistryError):
        fetch(c, partial)
    assert len([p for p in srv.paths() if p == BLOB_PATH]) == fast_retry.attempts
    assert partial.stat().st_size == fast_retry.attempts


BIG = random.Random(8).randbytes(3 * MIN_PROGRESS + 12_345)
BIG_DIGEST = sha256(BIG)


def test_real_progress_resets_the_tries(scripted, fast_retry, partial):
    """Each connection brings more than MIN_PROGRESS, then drops: the download goes on."""
    path = f"/v2/{REPO}/blobs/{BIG_DIGEST}"
    srv = scripted()

    def route(h):
        if h.path != path:
            h.json(200, {})
            return
        start = range_start(h) or 0
        piece = BIG[start : start + MIN_PROGRESS + 1000]
        if start:
            cr = f"bytes {start}-{len(BIG) - 1}/{len(BIG)}"
            h.reply(206, piece, {"Content-Range": cr}, length=len(BIG) - start)
        else:
            h.reply(200, piece, length=len(BIG))

    srv.route = route
    policy = dataclasses.replace(fast_retry, attempts=2)
    with client_for(srv, policy) as c:
        assert fetch(c, partial, size=len(BIG), digest=BIG_DIGEST) == BIG
    assert len([p for p in srv.paths() if p == path]) == 4


def test_body_broken_off_again_and_again_uses_the_policy_budget(scripted, fast_retry, sleeps):
    """get_manifest's and fetch_blob_bytes's "ask again" follow RetryPolicy.wait: its tries
    and its total budget, not a sleep of their own."""
    srv = scripted()

    def broken(h, ref=None):
        h.reply(200, MANIFEST[:10], {"Content-Type": DOCKER_MANIFEST}, length=len(MANIFEST))

    srv.route = registry(manifest=broken, blob=broken)
    policy = dataclasses.replace(fast_retry, attempts=100, max_total=0.05)
    with client_for(srv, policy) as c:
        with pytest.raises(RegistryError):
            c.get_manifest(REPO, MDIGEST)
        assert sum(sleeps.calls) <= 0.05 and srv.count.get("m", 0) == 0
        gets = len(srv.paths())
        assert gets < 10, srv.paths()
        sleeps.calls.clear()
        with pytest.raises(RegistryError), c.fetch_blob_bytes(REPO, Digest.parse(DIGEST), 1000):
            pass
        assert sum(sleeps.calls) <= 0.05 and len(srv.paths()) - gets < 10


# --- partial downloads are resumed only from where they came from --------------------------------


def test_partial_from_another_registry_is_started_over(scripted, fast_retry, partial):
    """A liar sends half of other bytes for the digest and is cut off; the next fetch of
    the digest from an honest registry starts from byte 0 and succeeds the first time."""
    other = bytes(b ^ 0x55 for b in BLOB)
    liar = scripted()

    def lie(h):
        if liar.bump("blob") == 1:  # half of other bytes, then the connection drops
            h.reply(200, other[: len(BLOB) // 2], length=len(BLOB))
        else:
            h.error(503, "UNAVAILABLE")

    liar.route = registry(blob=lie)
    with client_for(liar, fast_retry) as c, pytest.raises(RegistryError):
        fetch(c, partial)
    assert partial.read_bytes() == other[: len(BLOB) // 2]
    assert Path(origin_path(partial)).read_text() == f"{liar.host}/{REPO}"
    honest = scripted(registry(blob=lambda h: serve_range(h, range_start(h))))
    with client_for(honest, fast_retry) as c:
        assert fetch(c, partial) == BLOB
    assert fetch.last.resumed_from == 0
    assert [s.headers.get("range") for s in honest.seen if s.path == BLOB_PATH] == [None]
    assert Path(origin_path(partial)).read_text() == f"{honest.host}/{REPO}"


def test_partial_from_another_repository_or_of_unknown_origin_starts_over(
    scripted, fast_retry, partial
):
    srv = scripted(registry(blob=lambda h: serve_range(h, range_start(h))))
    for origin in (f"{srv.host}/lib/other", None):
        partial.write_bytes(b"\0" * 1000)
        if origin is None:
            Path(origin_path(partial)).unlink(missing_ok=True)
        else:
            Path(origin_path(partial)).write_text(origin)
        with client_for(srv, fast_retry) as c:
            assert fetch(c, partial) == BLOB
        assert fetch.last.resumed_from == 0


# --- something that is not a registry ------------------------------------------------------------


def test_v2_answering_404_without_the_api_header_is_said_so(scripted, fast_retry):
    def route(h):
        body = b"<h1>Not Found</h1>"
        h.send_response(404)
        h.send_header("Content-Type", "text/html")
        h.send_header("Server", "nginx\x1b[2J")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    srv = scripted(route)
    with client_for(srv, fast_retry) as c, pytest.raises(RegistryError) as err:
        c.get_manifest(REPO, "latest")
    text = str(err.value)
    assert (
        f"{srv.host} does not look like a registry: http://{srv.host}/v2/ answered HTTP 404 "
        in (text)
    ), text
    assert "TLS" not in text and "insecure-registry" not in text, text
    assert 'nginx\\x1b[2J"' in text and '"<h1>Not Found</h1>"' in text, text
