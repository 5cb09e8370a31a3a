"""A registry that misbehaves on purpose.

Speaks enough of the Registry HTTP API v2 (`/v2/`, manifests by tag or digest, blobs, HEAD and
GET) to serve one real fixture image to `hood pull`, with one chosen fault injected. Requests are
recorded in `.log` so a test can see how far the client got."""

from __future__ import annotations

import json
import re
import threading
import time
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
}


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
        self.manifest = self.image.manifest
        self.manifest_type = self.image.manifest_media_type
        if self.fault == "schema1":
            self.manifest, self.manifest_type = _schema1(self.repo, self.tag), SCHEMA1
        elif self.fault == "manifest-garbage":
            self.manifest = b'{"schemaVersion": 2, "mediaType": "\x00garbage'
        self.blobs = {self.image.config_digest: self.image.config}
        for layer in self.image.layers:
            self.blobs[layer.digest] = layer.blob
        # the layer the faults hit: the biggest one
        self.target = max(self.image.layers, key=lambda la: la.size).digest
        self._stop = threading.Event()

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

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
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

    def _manifest(self, h, ref: str, head: bool) -> None:
        if self.fault == "manifest-500":
            self._error(h, 500, "UNKNOWN", head)
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
        elif hit and self.fault in ("blob-endless", "blob-slow") and not head:
            self._stream_forever(h, body, headers)
            return
        self._send(h, 200, body, headers, head)

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


def _rebuild(image: Image, cfg: dict) -> Image:
    """The same layers under a new config document (manifest rebuilt to stay consistent)."""
    config = canonical(cfg)
    man = json.loads(image.manifest)
    man["config"]["digest"], man["config"]["size"] = sha256(config), len(config)
    return Image(image.name, config, canonical(man), image.manifest_media_type, image.layers)
