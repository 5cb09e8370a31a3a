"""A logging HTTP proxy in front of a plain-HTTP registry, that can break an upload.

Every request is forwarded as it came (Host kept, so the registry's Locations point back at
the proxy) and logged as (method, path with query, status). With `cut_patch=N` the N-th
PATCH breaks off half-way: the proxy reads half its body, and either forwards that half to
the registry and hangs up on both (`forward_half=True`: the registry saw a client vanish
mid-body, as after a real network cut) or hangs up without forwarding anything."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import urllib.parse
from dataclasses import dataclass, field

from .util import free_port


@dataclass
class Logged:
    method: str
    path: str
    status: int  # 0: cut
    content_range: str = ""
    length: int = 0  # body bytes the proxy received (all of them, or up to the cut)
    range: str = ""  # the Range the registry answered with

    @property
    def holds(self) -> int:
        """What the answer's `Range: 0-N` says the registry holds (N+1; 0 for none)."""
        if not self.range:
            return 0
        return int(self.range.replace("bytes=", "").split("-")[1]) + 1

    @property
    def query(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))

    @property
    def route(self) -> str:
        return urllib.parse.urlsplit(self.path).path


@dataclass
class Proxy:
    upstream: str  # "127.0.0.1:PORT" of a plain-HTTP registry
    cut_patch: int = 0  # break the N-th PATCH (1-based); 0: never
    forward_half: bool = True
    log: list[Logged] = field(default_factory=list)
    host: str = ""

    def start(self) -> Proxy:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        port = free_port()
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(64)
        self.host = f"127.0.0.1:{port}"
        self.patches = 0
        self.lock = threading.Lock()
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        self.stopped = True
        with contextlib.suppress(OSError):
            self.sock.close()

    def __enter__(self) -> Proxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def clear(self) -> None:
        with self.lock:
            self.log.clear()

    # -------------------------------------------------------------------------------------
    def _accept(self) -> None:
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        try:
            if reader.peek(1)[:1] == b"\x16":  # a TLS handshake: this proxy speaks HTTP
                return
            while True:
                head = _read_head(reader)
                if head is None:
                    return
                if not self._one(conn, reader, head):
                    return
        except OSError:
            return
        finally:
            reader.close()
            conn.close()

    def _one(self, conn: socket.socket, reader, head: bytes) -> bool:  # type: ignore[no-untyped-def]
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = [tuple(x.strip() for x in line.split(":", 1)) for line in lines[1:] if line]
        lower = {k.lower(): v for k, v in headers}
        length = int(lower.get("content-length", "0") or 0)
        chunked = "chunked" in lower.get("transfer-encoding", "").lower()
        cut = False
        if method == "PATCH":
            with self.lock:
                self.patches += 1
                cut = self.patches == self.cut_patch
        up = socket.create_connection(tuple(_split(self.upstream)))
        up_reader = up.makefile("rb")
        try:
            if cut:
                if chunked:
                    # take a few chunks, hang up in the middle of the body
                    data = b""
                    for _ in range(4):
                        size_line = reader.readline()
                        size = int(size_line.split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            break
                        data += reader.read(size + 2)[:-2]
                    if self.forward_half:
                        up.sendall(_head(lines[0], headers) + b"%x\r\n" % len(data) + data + b"\r\n")
                else:
                    data = reader.read(max(1, length // 2))
                    if self.forward_half:
                        up.sendall(_head(lines[0], headers) + data)
                with self.lock:
                    self.log.append(
                        Logged(method, path, 0, lower.get("content-range", ""), len(data))
                    )
                return False  # hang up on both
            out_head = _head(lines[0], [*headers])
            up.sendall(out_head)
            if chunked:
                length = _copy_chunked(reader, up)
            else:
                left = length
                while left:
                    data = reader.read(min(left, 1 << 20))
                    if not data:
                        return False
                    up.sendall(data)
                    left -= len(data)
            status, response = _read_response(up_reader, method)
            conn.sendall(response)
            answered = re.search(rb"\r\nRange: *([^\r]*)\r\n", response.split(b"\r\n\r\n")[0] + b"\r\n", re.I)
            with self.lock:
                self.log.append(
                    Logged(
                        method, path, status, lower.get("content-range", ""), length,
                        answered.group(1).decode() if answered else "",
                    )
                )  # fmt: skip
            return "close" not in lower.get("connection", "").lower()
        finally:
            up_reader.close()
            up.close()


def _split(hostport: str) -> tuple[str, int]:
    host, _, port = hostport.rpartition(":")
    return host, int(port)


def _read_head(reader) -> bytes | None:  # type: ignore[no-untyped-def]
    lines = []
    while True:
        line = reader.readline(65536)
        if not line:
            return None
        if line in (b"\r\n", b"\n"):
            if not lines:
                continue
            return b"".join(lines).rstrip(b"\r\n")
        lines.append(line)


def _head(request_line: str, headers: list[tuple[str, ...]]) -> bytes:
    out = [request_line]
    for item in headers:
        if len(item) == 2 and item[0].lower() != "connection":
            out.append(f"{item[0]}: {item[1]}")
    out.append("Connection: close")
    return ("\r\n".join(out) + "\r\n\r\n").encode("latin-1")


def _copy_chunked(reader, up: socket.socket) -> int:  # type: ignore[no-untyped-def]
    total = 0
    while True:
        size_line = reader.readline()
        up.sendall(size_line)
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            trailer = reader.readline()
            up.sendall(trailer)
            return total
        up.sendall(reader.read(size + 2))
        total += size


def _read_response(up_reader, method: str) -> tuple[int, bytes]:  # type: ignore[no-untyped-def]
    head = _read_head(up_reader)
    assert head is not None, "the registry hung up"
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = [tuple(x.strip() for x in line.split(":", 1)) for line in lines[1:] if line]
    lower = {k.lower(): v for k, v in headers}
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        body = b""
    elif "content-length" in lower:
        body = up_reader.read(int(lower["content-length"]))
    elif "chunked" in lower.get("transfer-encoding", "").lower():
        parts = []
        while True:
            size = int(up_reader.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                up_reader.readline()
                break
            parts.append(up_reader.read(size))
            up_reader.readline()
        body = b"".join(parts)
    else:
        body = up_reader.read()
    out = [lines[0]]
    for k, v in headers:
        if k.lower() in ("transfer-encoding", "connection", "content-length"):
            continue
        out.append(f"{k}: {v}")
    if method == "HEAD" and "content-length" in lower:
        out.append(f"Content-Length: {lower['content-length']}")
    elif method != "HEAD":
        out.append(f"Content-Length: {len(body)}")
    return status, ("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + body
