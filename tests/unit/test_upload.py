"""The registry client's push side against a small in-process registry that misbehaves on
cue: HEAD sizes, mounts (201, and 202 whose session is cancelled), resumable uploads that
break (500, 416, a Range with or without `bytes=`) and resume without sending a byte twice."""

from __future__ import annotations

import hashlib
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hood.core.digest import Digest
from hood.core.errors import DigestMismatch
from hood.registry.client import RegistryClient
from hood.registry.retry import RetryPolicy
from hood.registry.upload_session import _range_end


class FakeRegistry:
    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}  # "repo@digest" -> bytes
        self.sessions: dict[str, bytearray] = {}
        self.log: list[tuple[str, str, int, int]] = []  # method, path, status, body bytes
        self.fail_patch: dict[int, int] = {}  # n-th PATCH -> status to answer (body dropped)
        self.patches = 0
        self.range_prefix = ""  # "bytes=" to answer Range as the spec's examples do
        self.mount_ok = True
        self.cut_get_at = 0  # a blob GET hangs up after this many bytes, once
        registry = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):  # quiet
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if not size:
                            self.rfile.readline()
                            return out
                        out += self.rfile.read(size)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _reply(self, status: int, headers: dict | None = None, n: int = 0) -> None:
                registry.log.append((self.command, self.path, status, n))
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _route(self):
                url = urllib.parse.urlsplit(self.path)
                return url.path, dict(urllib.parse.parse_qsl(url.query))

            def do_GET(self):
                path, _ = self._route()
                if path == "/v2/":
                    return self._reply(200)
                if "/blobs/sha256:" in path:
                    repo, _, digest = path.removeprefix("/v2/").partition("/blobs/")
                    blob = registry.blobs.get(f"{repo}@{digest}")
                    if blob is None:
                        return self._reply(404)
                    start = int(self.headers.get("Range", "bytes=0-")[6:].split("-")[0])
                    body = blob[start:]
                    registry.log.append(("GET", self.path, 206 if start else 200, start))
                    self.send_response(206 if start else 200)
                    if start:
                        self.send_header(
                            "Content-Range", f"bytes {start}-{len(blob) - 1}/{len(blob)}"
                        )
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if registry.cut_get_at:
                        self.wfile.write(body[: registry.cut_get_at])
                        registry.cut_get_at = 0
                        self.close_connection = True
                        return
                    self.wfile.write(body)
                    return
                sid = path.rsplit("/", 1)[-1]
                if "/blobs/uploads/" in path and sid in registry.sessions:
                    n = len(registry.sessions[sid])
                    return self._reply(204, self._where(sid, n))
                return self._reply(404)

            def _where(self, sid: str, n: int) -> dict:
                repo = self.path.split("/blobs/")[0]
                return {
                    "Location": f"{repo}/blobs/uploads/{sid}?_state={n}",
                    "Range": f"{registry.range_prefix}0-{max(n - 1, 0)}",
                    "Docker-Upload-UUID": sid,
                }

            def do_HEAD(self):
                path, _ = self._route()
                repo, _, digest = path.removeprefix("/v2/").partition("/blobs/")
                blob = registry.blobs.get(f"{repo}@{digest}")
                if blob is None:
                    return self._reply(404)
                registry.log.append(("HEAD", self.path, 200, 0))
                self.send_response(200)
                self.send_header("Content-Length", str(len(blob)))
                self.end_headers()

            def do_POST(self):
                path, query = self._route()
                repo = path.removeprefix("/v2/").split("/blobs/")[0]
                if "mount" in query:
                    src = registry.blobs.get(f"{query['from']}@{query['mount']}")
                    if src is not None and registry.mount_ok:
                        registry.blobs[f"{repo}@{query['mount']}"] = src
                        return self._reply(201)
                sid = uuid.uuid4().hex
                registry.sessions[sid] = bytearray()
                self._reply(202, self._where(sid, 0))

            def do_PATCH(self):
                path, _ = self._route()
                sid = path.rsplit("/", 1)[-1]
                data = self._body()
                registry.patches += 1
                fail = registry.fail_patch.get(registry.patches)
                if sid not in registry.sessions:
                    return self._reply(404, n=len(data))
                if fail:
                    return self._reply(fail, n=len(data))  # nothing of it kept
                cr = self.headers.get("Content-Range")
                if cr and int(cr.split("-")[0]) != len(registry.sessions[sid]):
                    return self._reply(416, n=len(data))
                registry.sessions[sid] += data
                self._reply(202, self._where(sid, len(registry.sessions[sid])), len(data))

            def do_PUT(self):
                path, query = self._route()
                repo = path.removeprefix("/v2/").split("/blobs/")[0]
                sid = path.rsplit("/", 1)[-1]
                data = bytes(registry.sessions.pop(sid, b"")) + self._body()
                digest = "sha256:" + hashlib.sha256(data).hexdigest()
                if digest != query.get("digest"):
                    return self._reply(400)
                registry.blobs[f"{repo}@{digest}"] = data
                self._reply(201, {"Docker-Content-Digest": digest})

            def do_DELETE(self):
                path, _ = self._route()
                sid = path.rsplit("/", 1)[-1]
                self._reply(204 if registry.sessions.pop(sid, None) is not None else 404)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake():
    reg = FakeRegistry()
    yield reg
    reg.stop()


@pytest.fixture
def client(fake):
    policy = RetryPolicy(attempts=4, base_delay=0.0, jitter=0.0, sleep=lambda s: None)
    with RegistryClient(fake.host, insecure=True, credentials=None, retry=policy) as c:
        yield c


DATA = bytes(range(256)) * 4096  # 1 MiB


def _chunks(data: bytes, size: int = 100_000):
    def open_stream():
        return iter([data[i : i + size] for i in range(0, len(data), size)])

    return open_stream


def test_range_header_with_or_without_bytes():
    assert _range_end("0-1023") == 1024
    assert _range_end("bytes=0-1023") == 1024
    assert _range_end("0-0") == 0
    assert _range_end("0-0", empty_is_one=True) == 1
    assert _range_end("nonsense") is None


def test_blob_size_and_mounts(fake, client):
    digest = Digest.of_bytes(b"blob")
    assert client.blob_size("a/b", digest) is None
    fake.blobs[f"a/b@{digest}"] = b"blob"
    assert client.blob_size("a/b", digest) == 4
    assert client.mount_blob("c/d", digest, "a/b") is True
    assert fake.blobs[f"c/d@{digest}"] == b"blob"
    fake.mount_ok = False
    assert client.mount_blob("e/f", digest, "a/b") is False
    # the 202's upload session was cancelled, not left behind
    assert fake.log[-1][0] == "DELETE" and fake.log[-1][2] == 204
    assert not fake.sessions


@pytest.mark.parametrize("prefix", ["", "bytes="])
@pytest.mark.parametrize("known", [False, True], ids=["stream", "sized"])
def test_upload_resumes_after_a_500_and_sends_nothing_twice(fake, client, prefix, known):
    fake.range_prefix = prefix
    fake.fail_patch = {3: 500}
    piece = 300_000
    digest, size = client.upload_stream(
        "a/b",
        _chunks(DATA),
        piece=piece,
        digest=Digest.of_bytes(DATA) if known else None,
        size=len(DATA) if known else None,
    )
    assert digest == Digest.of_bytes(DATA) and size == len(DATA)
    assert fake.blobs[f"a/b@{digest}"] == DATA
    kept = sum(n for m, _, status, n in fake.log if m == "PATCH" and status == 202)
    assert kept == len(DATA)  # every byte went in once
    statuses = [(m, s) for m, _, s, _ in fake.log]
    assert ("PATCH", 500) in statuses and ("GET", 204) in statuses


def test_upload_after_416_asks_and_goes_on(fake, client):
    fake.fail_patch = {2: 416}
    digest, _ = client.upload_stream(
        "a/b", _chunks(DATA), piece=250_000, digest=Digest.of_bytes(DATA), size=len(DATA)
    )
    assert fake.blobs[f"a/b@{digest}"] == DATA


def test_upload_of_other_bytes_commits_nothing(fake, client):
    wrong = Digest.of_bytes(b"something else")
    with pytest.raises(DigestMismatch):
        client.upload_stream("a/b", _chunks(DATA), digest=wrong, size=len(DATA))
    assert not any(k.endswith(str(wrong)) for k in fake.blobs)
    assert not fake.sessions  # cancelled
    with pytest.raises(DigestMismatch):
        client.upload_stream("a/b", _chunks(DATA), size=len(DATA) - 1)


def test_upload_restarts_when_the_session_is_gone(fake, client, monkeypatch):
    """A registry that forgot the session (404 on the 2nd PATCH) gets a new one; the
    stream is produced again from its start."""
    opened = []

    def open_stream():
        opened.append(1)
        return _chunks(DATA)()

    handler = fake.server.RequestHandlerClass
    real_patch = handler.do_PATCH

    def do_patch(self):
        if fake.patches == 1:
            fake.sessions.clear()
        return real_patch(self)

    monkeypatch.setattr(handler, "do_PATCH", do_patch)
    digest, _ = client.upload_stream("a/b", open_stream, piece=400_000)
    assert fake.blobs[f"a/b@{digest}"] == DATA
    assert len(opened) == 2


def test_blob_stream_resumes_with_range(fake, client):
    digest = Digest.of_bytes(DATA)
    fake.blobs[f"a/b@{digest}"] = DATA
    fake.cut_get_at = 300_000
    with client.stream_blob("a/b", digest, len(DATA)) as stream:
        got = b"".join(iter(lambda: stream.read(1 << 16), b""))
        assert stream.read(10) == b""  # and stays at its end, asking nothing more
    assert got == DATA
    gets = [e for e in fake.log if e[0] == "GET" and "/blobs/sha256:" in e[1]]
    assert [e[2] for e in gets] == [200, 206] and gets[1][3] > 0


def test_small_blob_put_again_after_a_500(fake, client, monkeypatch):
    data = b'{"config": true}'
    digest = Digest.of_bytes(data)
    handler = fake.server.RequestHandlerClass
    real_put = handler.do_PUT
    calls = []

    def do_put(self):
        calls.append(1)
        if len(calls) == 1:
            self._body()
            return self._reply(500)
        return real_put(self)

    monkeypatch.setattr(handler, "do_PUT", do_put)
    client.upload_bytes("a/b", digest, data)
    assert fake.blobs[f"a/b@{digest}"] == data and len(calls) == 2
    with pytest.raises(DigestMismatch):
        client.upload_bytes("a/b", Digest.of_bytes(b"other"), data)
