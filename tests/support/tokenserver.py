"""A Docker-style token service (the flow Docker Hub uses) for docker-registry's `auth: token`.

GET /token?service=S&scope=repository:NAME:ACTIONS[&scope=...] with optional Basic credentials
returns {"token", "access_token", "expires_in", "issued_at"}; the token is an RS256 JWT whose
header names the signing key by its libtrust key ID (`kid`), which docker-registry 2.8 looks up
among the public keys of `rootcertbundle`.

Policy: anonymous callers may pull repositories under `public/`; ALICE may do anything she asks;
wrong credentials get 401.
"""

from __future__ import annotations

import base64
import hashlib
import json
import ssl
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from .util import run

USERS = {"alice": "secret"}
ISSUER = "hood-test-token-issuer"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def libtrust_key_id(der_public_key: bytes) -> str:
    """The key ID format of docker/libtrust: base32 of the first 240 bits of sha256(DER), in 4s."""
    s = base64.b32encode(hashlib.sha256(der_public_key).digest()[:30]).decode().rstrip("=")
    return ":".join(s[i : i + 4] for i in range(0, len(s), 4))


@dataclass
class SigningKey:
    key: Path
    cert: Path
    kid: str

    @classmethod
    def create(cls, dirpath: Path) -> SigningKey:
        dirpath.mkdir(parents=True, exist_ok=True)
        key, cert = dirpath / "token.key", dirpath / "token.crt"
        run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=hood test token signer", "-keyout", key, "-out", cert])  # fmt: skip
        der = subprocess.run(
            ["openssl", "x509", "-in", cert, "-noout", "-pubkey"], capture_output=True, check=True
        ).stdout
        der = subprocess.run(
            ["openssl", "pkey", "-pubin", "-outform", "DER"],
            input=der,
            capture_output=True,
            check=True,
        ).stdout
        return cls(key, cert, libtrust_key_id(der))

    def sign(self, claims: dict) -> str:
        header = {"typ": "JWT", "alg": "RS256", "kid": self.kid}
        signing_input = (
            _b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + _b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        sig = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", str(self.key)],
            input=signing_input.encode(),
            capture_output=True,
            check=True,
        ).stdout
        return signing_input + "." + _b64url(sig)


def allowed_actions(user: str | None, repo: str, wanted: list[str]) -> list[str]:
    if user is not None:
        return wanted
    if repo.startswith("public/"):
        return [a for a in wanted if a == "pull"]
    return []


@dataclass
class TokenServer:
    """Serves /token on 127.0.0.1 (HTTPS when given a cert)."""

    signing: SigningKey
    service: str
    tls: tuple[Path, Path] | None = None  # (cert, key)
    requests: list[dict] = field(default_factory=list)
    expires_in: int = 300

    def start(self) -> TokenServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                owner._handle(self)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(self.tls[0]), str(self.tls[1]))
            self._httpd.socket = ctx.wrap_socket(self._httpd.socket, server_side=True)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def realm(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}/token"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        url = urlsplit(h.path)
        if url.path != "/token":
            h.send_error(404)
            return
        query = parse_qs(url.query)
        user = None
        auth = h.headers.get("Authorization", "")
        if auth.lower().startswith("basic "):
            try:
                name, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                name, password = "", ""
            if USERS.get(name) != password:
                self._reply(h, 401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad creds"}]})
                self.requests.append({"user": name, "scopes": query.get("scope", []), "ok": False})
                return
            user = name
        access = []
        for scope in query.get("scope", []):
            parts = scope.split(":")
            if len(parts) < 3 or parts[0] != "repository":
                continue
            repo, actions = ":".join(parts[1:-1]), parts[-1].split(",")
            granted = allowed_actions(user, repo, actions)
            access.append({"type": "repository", "name": repo, "actions": granted})
        self.requests.append({"user": user, "scopes": query.get("scope", []), "ok": True})
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": user or "",
            "aud": query.get("service", [self.service])[0],
            "exp": now + self.expires_in,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        token = self.signing.sign(claims)
        self._reply(
            h,
            200,
            {
                "token": token,
                "access_token": token,
                "expires_in": self.expires_in,
                "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            },
        )

    @staticmethod
    def _reply(h: BaseHTTPRequestHandler, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
