"""Faults no real registry produces on demand, from a scripted HTTP server on loopback."""

from __future__ import annotations

import email.utils
import io
import json
import random
import time

import pytest
from regkit import sha256

from hood.core.digest import Digest, VerifyingReader
from hood.core.errors import AuthError, DigestMismatch, ManifestError, NotFound, RegistryError
from hood.core.oci import DOCKER_MANIFEST, MAX_MANIFEST_SIZE
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
    partial.write_bytes(BLOB[:100_000])
    srv = scripted()

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
    partial.write_bytes(BLOB)
    srv = scripted()
    srv.route = registry(blob=lambda h: h.error(500, "UNKNOWN"))
    with client_for(srv, fast_retry) as c:
        assert fetch(c, partial) == BLOB
    assert BLOB_PATH not in srv.paths()


def test_partial_bigger_than_blob_is_discarded(scripted, fast_retry, partial):
    partial.write_bytes(BLOB + b"junk")
    srv = scripted()
    srv.route = registry(blob=lambda h: serve_range(h, range_start(h)))
    with client_for(srv, fast_retry) as c:
        assert fetch(c, partial) == BLOB
    assert fetch.last.resumed_from == 0
    assert [s.headers.get("range") for s in srv.seen if s.path == BLOB_PATH] == [None]
    assert partial.read_bytes() == BLOB


def test_corrupt_partial_is_caught_by_the_callers_digest_check(scripted, fast_retry, partial):
    partial.write_bytes(b"\0" * 1000)
    srv = scripted()
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
        with pytest.raises(RegistryError, match="HTTP 500: <html> oops") as err:
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
    with client_for(srv, fast_retry) as c, pytest.raises(RegistryError, match="invalid JSON"):
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
