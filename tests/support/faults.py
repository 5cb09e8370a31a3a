"""A registry that misbehaves on purpose.

Speaks enough of the Registry HTTP API v2 (`/v2/`, manifests by tag or digest, blobs, HEAD and
GET, and for the `token-*` faults a Bearer challenge with its token service at `/token`) to
serve one real fixture image to `hood pull`, with one chosen fault injected. Requests are
recorded in `.log` so a test can see how far the client got."""

from __future__ import annotations

import contextlib
import gzip
import json
import re
import threading
import time
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .images import Image, canonical, sha256

SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"

FAULTS = {
    "none": "behaves",
    "blob-wrong-digest": "a layer's body is other bytes of the same length",
    "blob-truncated": "a layer's body stops half-way (connection closed, Content-Length full)",
    "blob-short-length": "Content-Length says fewer bytes than the blob; body cut to match",
    "blob-long": "a layer's body has extra bytes (and a Content-Length counting them)",
    "blob-endless": "a layer's body never ends (chunked, no Content-Length)",
    "blob-slow": "a layer's body sends a few bytes then stalls for a long time",
    "blob-throttle": "a layer's body comes slowly (32 KiB per 0.1 s) but completely",
    "blob-500": "every blob request gets 500, forever",
    "manifest-500": "every manifest request gets 500, forever",
    "config-wrong": "the config blob is altered (no longer hashes to the image ID)",
    "diffid-mismatch": "the config's diff_ids do not match the layers (all digests consistent)",
    "manifest-garbage": "the manifest body is not JSON (Docker-Content-Digest matches it)",
    "manifest-digest-mismatch": "Docker-Content-Digest disagrees with the manifest body",
    "manifest-wrong-body": "by digest: the body served does not hash to the digest asked for",
    "schema1": "a legacy schema 1 signed manifest",
    "unauthorized": "401 with a Basic challenge for everything past /v2/",
    # JSON nested without end, wherever JSON comes from
    "manifest-deep-json": "the manifest is JSON nested 100,000 deep (Docker-Content-Digest fits)",
    "config-deep-json": "the config blob is JSON nested 100,000 deep (the manifest names it)",
    "error-deep-json": "every manifest request gets a 404 whose error body is nested 100,000 deep",
    "token-deep-json": "a Bearer challenge whose token service answers JSON nested 100,000 deep",
    # compressed HTTP bodies (Content-Encoding), asked for or not
    "manifest-gzip-corrupt": "the manifest comes with Content-Encoding: gzip and is not gzip",
    "manifest-zstd-bomb": "the manifest comes as 64 KiB of zstd that inflates to 2 GiB",
    "error-zstd-bomb": "every manifest request gets a 404 whose zstd error body inflates to 2 GiB",
    "token-gzip-corrupt": "a Bearer challenge whose token answer is gzip-encoded garbage",
    "token-zstd-bomb": "a Bearer challenge whose token answer is zstd inflating to 2 GiB",
    "blob-zstd-bomb": "a layer comes zstd-encoded, inflating to 2 GiB (far more than its size)",
    "blob-gzip-encoded": "a layer comes gzip-encoded (as transport only): decoded, it is right",
    "blob-br-encoded": "a layer comes with Content-Encoding: br, which hood does not decode",
    # headers no parser expects
    "retry-after-unicode": "the manifest gets 429 with Retry-After: \u00b2 twice, then is served",
    # registry text meant for a terminal
    "error-escapes": "every manifest request gets a 404 whose message holds escapes and newlines",
    "mediatype-escapes": "a layer's mediaType holds terminal escapes and a newline",
    "manifest-raw-escape": "the manifest holds a raw ESC in a string (not JSON; digest fits)",
    # waits no read timeout catches
    "informational-flood": "the manifest request is answered by 100 Continue, for ever",
    "headers-slow": "the manifest's status line and headers come one byte per 0.2 s",
    "blob-drip": "a layer sends one new byte per connection (honouring Range), then stalls",
    # partial downloads
    "blob-other-half": "a layer's first GET gets half of other bytes, cut off; then 503s",
    # not a registry at all
    "v2-404": "/v2/ answers 404 without Docker-Distribution-API-Version (a web server)",
}

DEEP = b"[" * 100_000 + b"]" * 100_000


def zstd_bomb(total: int = 2 << 30, fill: bytes = b" ") -> bytes:
    """A valid zstd frame of `total` bytes of `fill`, 4 bytes per 128 KiB (RLE blocks)."""
    block = 128 << 10
    out = bytearray(b"\x28\xb5\x2f\xfd\x00" + bytes([(20 - 10) << 3]))  # 1 MiB window
    count = total // block
    rle = ((block << 3) | (1 << 1)).to_bytes(3, "little") + fill
    out += rle * (count - 1)
    out += ((block << 3) | (1 << 1) | 1).to_bytes(3, "little") + fill
    return bytes(out)


def zstd_frame(payload: bytes, window_log: int) -> bytes:
    """`payload` as a valid zstd frame (raw blocks) whose header asks for a 2**window_log
    byte window, whatever the payload needs."""
    out = bytearray(b"\x28\xb5\x2f\xfd\x00" + bytes([(window_log - 10) << 3]))
    block = 128 << 10
    pieces = [payload[i : i + block] for i in range(0, len(payload), block)] or [b""]
    for i, piece in enumerate(pieces):
        last = 1 if i == len(pieces) - 1 else 0
        out += ((len(piece) << 3) | last).to_bytes(3, "little") + piece
    return bytes(out)


def _schema1(repo: str, tag: str) -> bytes:
    doc = {
        "schemaVersion": 1,
        "name": repo,
        "tag": tag,
        "architecture": "amd64",
        "fsLayers": [{"blobSum": sha256(b"")}],
        "history": [{"v1Compatibility": json.dumps({"id": "0" * 64, "os": "linux"})}],
        "signatures": [],
    }
    return json.dumps(doc, indent=3).encode()


@dataclass
class FaultyRegistry:
    image: Image
    fault: str = "none"
    repo: str = "library/faulty"
    tag: str = "latest"
    stall: float = 3600.0
    log: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.fault not in FAULTS:
            raise ValueError(f"unknown fault {self.fault!r}; known: {', '.join(FAULTS)}")
        if self.fault == "diffid-mismatch":
            cfg = json.loads(self.image.config)
            cfg["rootfs"]["diff_ids"] = [
                sha256(b"not layer %d" % i) for i in range(len(cfg["rootfs"]["diff_ids"]))
            ]
            self.image = _rebuild(self.image, cfg)
        elif self.fault == "config-deep-json":
            self.image = _rebuild_raw(self.image, b'{"rootfs": ' + DEEP + b"}")
        self.manifest = self.image.manifest
        self.manifest_type = self.image.manifest_media_type
        if self.fault == "schema1":
            self.manifest, self.manifest_type = _schema1(self.repo, self.tag), SCHEMA1
        elif self.fault == "manifest-garbage":
            self.manifest = b'{"schemaVersion": 2, "mediaType": "\x00garbage'
        elif self.fault == "manifest-deep-json":
            self.manifest = b'{"schemaVersion": 2, "layers": ' + DEEP + b"}"
        elif self.fault == "manifest-raw-escape":
            self.manifest = self.manifest.replace(b'"schemaVersion"', b'"x": "\x1b[2J\x1b]0;t\x07",'
                                                  b' "schemaVersion"', 1)  # fmt: skip
        elif self.fault == "mediatype-escapes":
            man = json.loads(self.manifest)
            man["layers"][0]["mediaType"] = "application/x\x1b[2J\x1b]0;pwned\x07\nevil"
            self.manifest = canonical(man)
        self.blobs = {self.image.config_digest: self.image.config}
        for layer in self.image.layers:
            self.blobs[layer.digest] = layer.blob
        # the layer the faults hit: the biggest one
        self.target = max(self.image.layers, key=lambda la: la.size).digest
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    @property
    def manifest_digest(self) -> str:
        return sha256(self.manifest)

    @property
    def ref(self) -> str:
        return f"{self.host}/{self.repo}:{self.tag}"

    @property
    def digest_ref(self) -> str:
        return f"{self.host}/{self.repo}@{self.manifest_digest}"

    @property
    def env(self) -> dict[str, str]:
        return {"HOOD_INSECURE_REGISTRIES": self.host}

    def start(self) -> FaultyRegistry:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                owner._handle(self, head=False)

            def do_HEAD(self):
                owner._handle(self, head=True)

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self.port = self._httpd.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FaultyRegistry:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------ handling

    def _send(self, h, status: int, body: bytes, headers: dict[str, str], head: bool) -> None:
        h.send_response(status)
        headers.setdefault("Content-Length", str(len(body)))
        headers.setdefault("Docker-Distribution-API-Version", "registry/2.0")
        for k, v in headers.items():
            h.send_header(k, v)
        h.end_headers()
        if not head:
            h.wfile.write(body)

    def _error(self, h, status: int, code: str, head: bool) -> None:
        body = json.dumps({"errors": [{"code": code, "message": code.lower()}]}).encode()
        self._send(h, status, body, {"Content-Type": "application/json"}, head)

    def _handle(self, h: BaseHTTPRequestHandler, head: bool) -> None:
        path = h.path.split("?", 1)[0]
        self.log.append((h.command, path))
        if self.fault == "v2-404":
            _raw(h, b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nServer: nginx\r\n"
                    b"Content-Length: 22\r\n\r\n<h1>404 Not Found</h1>")  # fmt: skip
            return
        if self.fault.startswith("token-"):
            if path == "/token":
                self._token(h)
                return
            if h.headers.get("Authorization") != "Bearer good":
                challenge = f'Bearer realm="http://{self.host}/token",service="faulty"'
                if path not in ("/v2/", "/v2"):
                    challenge += f',scope="repository:{self.repo}:pull"'
                self._send(h, 401, b"{}", {"WWW-Authenticate": challenge}, head)
                return
        if path in ("/v2/", "/v2"):
            self._send(h, 200, b"{}", {"Content-Type": "application/json"}, head)
            return
        if self.fault == "unauthorized":
            h.send_response(401)
            h.send_header("WWW-Authenticate", 'Basic realm="faulty"')
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        m = re.fullmatch(r"/v2/(.+)/(manifests|blobs)/([^/]+)", path)
        if not m or m.group(1) != self.repo:
            self._error(h, 404, "NAME_UNKNOWN", head)
            return
        kind, ref = m.group(2), m.group(3)
        if kind == "manifests":
            self._manifest(h, ref, head)
        else:
            self._blob(h, ref, head)

    def _token(self, h) -> None:
        if self.fault == "token-zstd-bomb":
            self._chunked(h, 200, zstd_bomb(), {"Content-Encoding": "zstd"})
        elif self.fault == "token-deep-json":
            self._send(
                h, 200, b'{"token": ' + DEEP + b"}", {"Content-Type": "application/json"}, False
            )
        else:  # token-gzip-corrupt
            headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
            self._send(h, 200, b"\x1f\x8b\x08\x00 not gzip at all", headers, False)

    def _manifest(self, h, ref: str, head: bool) -> None:
        if self.fault == "manifest-500":
            self._error(h, 500, "UNKNOWN", head)
            return
        if self.fault == "error-deep-json":  # within the 64 KiB an error body may have
            body = b"[" * 30_000 + b"]" * 30_000
            self._send(h, 404, body, {"Content-Type": "application/json"}, head)
            return
        if self.fault == "error-zstd-bomb":  # chunked: no Content-Length to refuse it by
            headers = {"Content-Type": "application/json", "Content-Encoding": "zstd"}
            self._chunked(h, 404, zstd_bomb(), headers)
            return
        if self.fault == "error-escapes":
            message = "\x1b[31mred\x1b[0m\nsecond line\r\x1b]0;pwned\x07\u202eevil"
            body = json.dumps({"errors": [{"code": "MANIFEST_UNKNOWN", "message": message}]})
            self._send(h, 404, body.encode(), {"Content-Type": "application/json"}, head)
            return
        if self.fault == "informational-flood":
            try:
                while not self._stop.is_set():
                    h.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n" * 64)
                    h.wfile.flush()
            except OSError:
                pass
            h.close_connection = True
            return
        if self.fault == "headers-slow":
            head_bytes = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Filler: " + b"x" * 200
            try:
                for i in range(len(head_bytes)):
                    if self._stop.wait(0.2):
                        break
                    h.wfile.write(head_bytes[i : i + 1])
                    h.wfile.flush()
            except OSError:
                pass
            h.close_connection = True
            return
        if self.fault == "retry-after-unicode" and self.bump("manifest") <= 2:
            body = b'{"errors": [{"code": "TOOMANYREQUESTS", "message": "slow down"}]}'
            headers = {"Content-Type": "application/json", "Retry-After": "\u00b2"}
            self._send(h, 429, body, headers, head)
            return
        if ref not in (self.tag, self.manifest_digest):
            self._error(h, 404, "MANIFEST_UNKNOWN", head)
            return
        body, digest = self.manifest, self.manifest_digest
        if self.fault == "manifest-digest-mismatch":
            digest = sha256(body + b"x")
        if self.fault == "manifest-wrong-body" and ref.startswith("sha256:"):
            body = body.replace(b'"schemaVersion"', b'"schemaVersion" ', 1)
        headers = {"Content-Type": self.manifest_type, "Docker-Content-Digest": digest}
        if self.fault == "manifest-gzip-corrupt":
            body, headers["Content-Encoding"] = b"\x1f\x8b\x08\x00\x00garbage" + body, "gzip"
        elif self.fault == "manifest-zstd-bomb":
            headers["Content-Encoding"] = "zstd"
            self._chunked(h, 200, zstd_bomb(), headers)
            return
        self._send(h, 200, body, headers, head)

    def _blob(self, h, digest: str, head: bool) -> None:
        if self.fault == "blob-500":
            self._error(h, 500, "UNKNOWN", head)
            return
        if digest not in self.blobs:
            self._error(h, 404, "BLOB_UNKNOWN", head)
            return
        body = self.blobs[digest]
        headers = {"Content-Type": "application/octet-stream", "Docker-Content-Digest": digest}
        hit = digest == self.target
        if self.fault == "config-wrong" and digest == self.image.config_digest:
            body = body.replace(b'"os"', b'"os" ', 1)
        elif hit and self.fault == "blob-wrong-digest":
            body = bytes(b ^ 0x55 for b in body[:64]) + body[64:]
        elif hit and self.fault == "blob-long":
            body = body + b"\0" * 4096
        elif hit and self.fault == "blob-short-length":
            body = body[: len(body) - 100]
        elif hit and self.fault == "blob-truncated" and not head:
            headers["Content-Length"] = str(len(body))
            self._send(h, 200, body[: len(body) // 2], headers, head)
            h.wfile.flush()
            h.close_connection = True
            return
        elif hit and self.fault == "blob-throttle" and not head:
            self._throttled(h, body, headers)
            return
        elif hit and self.fault == "blob-zstd-bomb" and not head:
            headers["Content-Encoding"] = "zstd"
            self._chunked(h, 200, zstd_bomb(), headers)
            return
        elif hit and self.fault == "blob-gzip-encoded":
            body, headers["Content-Encoding"] = gzip.compress(body), "gzip"
        elif hit and self.fault == "blob-br-encoded":
            body, headers["Content-Encoding"] = zlib.compress(body), "br"
        elif hit and self.fault == "blob-drip" and not head:
            self._drip(h, body, headers)
            return
        elif hit and self.fault == "blob-other-half" and not head:
            if self.bump("other-half") == 1:
                other = bytes(b ^ 0x55 for b in body)
                headers["Content-Length"] = str(len(body))
                self._send(h, 200, other[: len(body) // 2], headers, head)
                h.wfile.flush()
                h.close_connection = True
            else:
                self._error(h, 503, "UNAVAILABLE", head)
            return
        elif hit and self.fault in ("blob-endless", "blob-slow") and not head:
            self._stream_forever(h, body, headers)
            return
        self._send(h, 200, body, headers, head)

    def _chunked(self, h, status: int, body: bytes, headers: dict[str, str]) -> None:
        h.send_response(status)
        headers.setdefault("Docker-Distribution-API-Version", "registry/2.0")
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        with contextlib.suppress(OSError):
            h.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))

    def bump(self, key: str) -> int:
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1
            return self._counts[key]

    def _drip(self, h, body: bytes, headers: dict[str, str]) -> None:
        """One byte from where the client asks (Range), then a stall."""
        start = 0
        asked = re.fullmatch(r"bytes=(\d+)-", h.headers.get("Range", ""))
        if asked:
            start = int(asked.group(1))
            h.send_response(206)
            headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
        else:
            h.send_response(200)
        headers["Content-Length"] = str(len(body) - start)
        for k, v in headers.items():
            h.send_header(k, v)
        h.end_headers()
        try:
            h.wfile.write(body[start : start + 1])
            h.wfile.flush()
        except OSError:
            return
        self._stop.wait(self.stall)
        h.close_connection = True

    def _throttled(self, h, body: bytes, headers: dict[str, str]) -> None:
        h.send_response(200)
        headers["Content-Length"] = str(len(body))
        for k, v in headers.items():
            h.send_header(k, v)
        h.end_headers()
        try:
            for i in range(0, len(body), 32768):
                if self._stop.is_set():
                    return
                h.wfile.write(body[i : i + 32768])
                h.wfile.flush()
                time.sleep(0.1)
        except OSError:
            pass

    def _stream_forever(self, h, body: bytes, headers: dict[str, str]) -> None:
        h.send_response(200)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        h.close_connection = True

        def chunk(data: bytes) -> None:
            h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            h.wfile.flush()

        try:
            if self.fault == "blob-slow":
                chunk(body[:100])
                self._stop.wait(self.stall)
                return
            chunk(body)
            filler = b"\0" * 65536
            deadline = time.monotonic() + 600
            while not self._stop.is_set() and time.monotonic() < deadline:
                chunk(filler)
        except OSError:
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # clients hanging up are expected
        pass


def _raw(h, data: bytes) -> None:
    """Write a whole response as given (no header added), then close."""
    try:
        h.wfile.write(data)
        h.wfile.flush()
    except OSError:
        pass
    h.close_connection = True


def _rebuild(image: Image, cfg: dict) -> Image:
    """The same layers under a new config document (manifest rebuilt to stay consistent)."""
    return _rebuild_raw(image, canonical(cfg))


def _rebuild_raw(image: Image, config: bytes) -> Image:
    """The same layers under other config bytes (manifest rebuilt to stay consistent)."""
    man = json.loads(image.manifest)
    man["config"]["digest"], man["config"]["size"] = sha256(config), len(config)
    return Image(image.name, config, canonical(man), image.manifest_media_type, image.layers)
