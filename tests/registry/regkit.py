"""Helpers for the hood.registry tests: a scripted HTTP server and a credential helper script."""

from __future__ import annotations

import contextlib
import hashlib
import json
import ssl
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    host: str  # which server saw it


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args):
        pass

    def _dispatch(self):
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length else b""
        seen = Seen(
            self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, owner.host
        )
        with owner.lock:
            owner.seen.append(seen)
            if owner.shared is not None:
                owner.shared.append(seen)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            owner.route(self)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    # helpers for routes
    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
              length: int | None = None) -> None:  # fmt: skip
        self.send_response(status)
        headers = dict(headers or {})
        headers.setdefault("Docker-Distribution-API-Version", "registry/2.0")
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()
        if length is not None and length != len(body):
            self.close_connection = True

    def json(self, status: int, doc, headers: dict[str, str] | None = None) -> None:
        self.reply(
            status,
            json.dumps(doc).encode(),
            {"Content-Type": "application/json", **(headers or {})},
        )

    def error(self, status: int, code: str, message: str = "", headers=None) -> None:
        self.json(
            status,
            {"errors": [{"code": code, "message": message or code.lower().replace("_", " ")}]},
            headers,
        )

    def drop(self) -> None:
        """Close the connection without answering."""
        self.close_connection = True
        self.connection.shutdown(2)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: Scripted

    def handle_error(self, request, client_address):  # failed handshakes are expected
        pass


class Scripted:
    """An HTTP server on 127.0.0.1 (or `bind`) answering through `route(handler)`."""

    def __init__(
        self,
        route: Callable[[Handler], None] | None = None,
        shared: list | None = None,
        tls: tuple[Path, Path, Path | None] | None = None,  # (cert, key, CA for client certs)
    ):
        self.route = route or (lambda h: h.error(404, "NAME_UNKNOWN"))
        self.seen: list[Seen] = []
        self.shared = shared
        self.lock = threading.Lock()
        self.count: dict[str, int] = {}
        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self._httpd.owner = self
        if tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(tls[0]), str(tls[1]))
            if tls[2] is not None:
                ctx.verify_mode = ssl.CERT_REQUIRED
                ctx.load_verify_locations(cafile=str(tls[2]))
            self._httpd.socket = ctx.wrap_socket(self._httpd.socket, server_side=True)
        self.port = self._httpd.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def bump(self, key: str) -> int:
        """Count calls per key (for 'fail N times then succeed' scripts)."""
        with self.lock:
            self.count[key] = self.count.get(key, 0) + 1
            return self.count[key]

    def paths(self, method: str | None = None) -> list[str]:
        return [s.path for s in self.seen if method is None or s.method == method]

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def write_helper(bindir: Path, name: str, store: Path) -> Path:
    """A docker-credential-NAME script keeping a JSON {server: {Username, Secret}} in `store`."""
    bindir.mkdir(parents=True, exist_ok=True)
    script = bindir / f"docker-credential-{name}"
    script.write_text(
        f"""#!/usr/bin/env python3
import json, sys
store = {str(store)!r}
try:
    data = json.load(open(store))
except FileNotFoundError:
    data = {{}}
action = sys.argv[1]
if action == "get":
    server = sys.stdin.read().strip()
    with open(store + ".log", "a") as log:
        log.write("get " + server + "\\n")
    if server not in data:
        print("credentials not found in native keychain")
        sys.exit(1)
    print(json.dumps({{"ServerURL": server, **data[server]}}))
elif action == "store":
    doc = json.loads(sys.stdin.read())
    data[doc["ServerURL"]] = {{"Username": doc["Username"], "Secret": doc["Secret"]}}
    json.dump(data, open(store, "w"))
elif action == "erase":
    server = sys.stdin.read().strip()
    if server not in data:
        print("credentials not found in native keychain")
        sys.exit(1)
    del data[server]
    json.dump(data, open(store, "w"))
"""
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script
