"""Debian's docker-registry (distribution 2.8) on 127.0.0.1: plain, TLS + token auth, basic auth."""

from __future__ import annotations

import base64
import json
import shutil
import ssl
import subprocess
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from .tokenserver import ISSUER, USERS, SigningKey, TokenServer
from .util import free_port, make_ca, run, stop_process, wait_until

REGISTRY_BIN = shutil.which("docker-registry") or "/usr/bin/docker-registry"
USER, PASSWORD = "alice", USERS["alice"]


@dataclass
class Registry:
    """A running registry and what a client needs to reach it."""

    kind: str  # "plain" | "token" | "basic"
    host: str  # "127.0.0.1:PORT"
    scheme: str  # "http" | "https"
    workdir: Path
    creds: tuple[str, str] | None = None  # what push needs; pulls may be anonymous
    ca_cert: Path | None = None
    certs_d: Path | None = None  # HOST:PORT/ca.crt under it
    env: dict[str, str] = field(default_factory=dict)  # give these to hood
    token_server: TokenServer | None = None
    access_log: bool = False  # log every request (read them with requests())
    _proc: subprocess.Popen | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / "registry.log"

    def log_mark(self) -> int:
        """Where the log ends now: requests(since=mark) lists only what came after."""
        return self.log_path.stat().st_size

    def requests(self, since: int = 0) -> list[tuple[str, str, int]]:
        """(method, path with query, status) of each request in the access log."""
        import re

        with open(self.log_path, "rb") as f:
            f.seek(since)
            text = f.read().decode("utf-8", "replace")
        out = []
        for m in re.finditer(r'"([A-Z]+) (\S+) HTTP/[\d.]+" (\d{3}) ', text):
            out.append((m.group(1), m.group(2), int(m.group(3))))
        return out

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def ref(self, name: str) -> str:
        return f"{self.host}/{name}"

    def skopeo_dest_args(self) -> list[str]:
        args = ["--dest-tls-verify=false"]
        if self.creds:
            args.append(f"--dest-creds={self.creds[0]}:{self.creds[1]}")
        return args

    def skopeo_src_args(self) -> list[str]:
        args = ["--src-tls-verify=false"]
        if self.creds:
            args.append(f"--src-creds={self.creds[0]}:{self.creds[1]}")
        return args

    def docker_config(self, dirpath: Path, user: str = USER, password: str = PASSWORD) -> Path:
        """Write DIR/config.json with `auths` for this registry; returns DIR (for DOCKER_CONFIG)."""
        dirpath.mkdir(parents=True, exist_ok=True)
        auth = base64.b64encode(f"{user}:{password}".encode()).decode()
        (dirpath / "config.json").write_text(json.dumps({"auths": {self.host: {"auth": auth}}}))
        return dirpath

    def stop(self) -> None:
        if self._proc is not None:
            stop_process(self._proc)
            self._proc = None
        if self.token_server is not None:
            self.token_server.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _start(reg: Registry, auth_yaml: str, tls_yaml: str) -> Registry:
    storage = reg.workdir / "storage"
    storage.mkdir()
    config = reg.workdir / "config.yml"
    config.write_text(
        f"""version: 0.1
log:
  level: error
  accesslog:
    disabled: {"false" if reg.access_log else "true"}
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: {reg.host}
  secret: hood-test-secret
{tls_yaml}{auth_yaml}"""
    )
    log = open(reg.workdir / "registry.log", "wb")  # noqa: SIM115 - lives as long as the process
    reg._proc = subprocess.Popen(
        [REGISTRY_BIN, "serve", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    log.close()
    ctx = None
    if reg.scheme == "https":
        ctx = ssl.create_default_context(cafile=str(reg.ca_cert))

    def ready() -> bool:
        if reg._proc.poll() is not None:
            raise RuntimeError(
                f"docker-registry exited: {(reg.workdir / 'registry.log').read_text()[-2000:]}"
            )
        try:
            urllib.request.urlopen(f"{reg.url}/v2/", timeout=2, context=ctx)
        except urllib.error.HTTPError as exc:
            return exc.code == 401
        except (urllib.error.URLError, ConnectionError):
            return False
        return True

    try:
        wait_until(ready, 20, f"docker-registry on {reg.host}")
    except BaseException:
        reg.stop()
        raise
    return reg


def _new(kind: str, scheme: str, access_log: bool = False) -> Registry:
    workdir = Path(tempfile.mkdtemp(prefix=f"hood-registry-{kind}-"))
    host = f"127.0.0.1:{free_port()}"
    return Registry(kind=kind, host=host, scheme=scheme, workdir=workdir, access_log=access_log)


def start_plain(access_log: bool = False) -> Registry:
    """Plain HTTP, no auth."""
    reg = _new("plain", "http", access_log)
    reg.env = {"HOOD_INSECURE_REGISTRIES": reg.host}
    return _start(reg, "", "")


def _tls(reg: Registry, extra_hosts: list[str] = ()) -> str:
    ca, crt, key = make_ca(reg.workdir / "tls", ["127.0.0.1", "localhost"])
    reg.ca_cert = ca
    reg.certs_d = reg.workdir / "certs.d"
    for h in [reg.host, *extra_hosts]:
        (reg.certs_d / h).mkdir(parents=True)
        shutil.copy(ca, reg.certs_d / h / "ca.crt")
    reg.env = {"HOOD_CERTS_D": str(reg.certs_d)}
    return f"  tls:\n    certificate: {crt}\n    key: {key}\n"


def start_token(access_log: bool = False) -> Registry:
    """TLS (own CA, trusted through HOOD_CERTS_D) with Bearer token auth from a TokenServer.

    Anonymous pull only under `public/`; alice/secret may pull and push anything."""
    reg = _new("token", "https", access_log)
    reg.creds = (USER, PASSWORD)
    signing = SigningKey.create(reg.workdir / "signing")
    tls_yaml = _tls(reg)
    service = f"hood-test-registry-{reg.host}"
    ts = TokenServer(
        signing, service, tls=(reg.workdir / "tls/server.crt", reg.workdir / "tls/server.key")
    ).start()
    reg.token_server = ts
    # the token service is another host:port: trust the same CA there too
    (reg.certs_d / ts.host).mkdir(parents=True)
    shutil.copy(reg.ca_cert, reg.certs_d / ts.host / "ca.crt")
    auth_yaml = (
        "auth:\n  token:\n"
        f"    realm: {ts.realm}\n    service: {service}\n    issuer: {ISSUER}\n"
        f"    rootcertbundle: {signing.cert}\n"
    )
    return _start(reg, auth_yaml, tls_yaml)


def start_basic(tls: bool = False, access_log: bool = False) -> Registry:
    """htpasswd (bcrypt) basic auth; alice/secret."""
    reg = _new("basic", "https" if tls else "http", access_log)
    reg.creds = (USER, PASSWORD)
    htpasswd = reg.workdir / "htpasswd"
    out = run(["htpasswd", "-Bbn", USER, PASSWORD]).stdout
    htpasswd.write_text(out.strip() + "\n")
    tls_yaml = _tls(reg) if tls else ""
    if not tls:
        reg.env = {"HOOD_INSECURE_REGISTRIES": reg.host}
    auth_yaml = f"auth:\n  htpasswd:\n    realm: hood-basic\n    path: {htpasswd}\n"
    return _start(reg, auth_yaml, tls_yaml)
