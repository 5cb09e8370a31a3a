"""Registry credentials from docker's config file and its credential helpers.

The file is `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. Per registry it can
hold, under `auths`, a base64 `auth` ("user:password"), separate `username`/`password`, or an
`identitytoken` (an OAuth2 refresh token). `credHelpers` maps a host to a helper name and
`credsStore` names the helper for every other host: `docker-credential-NAME get|store|erase`
speaks JSON on stdin/stdout. Docker Hub's key is `https://index.docker.io/v1/`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hood.core.errors import AuthError

DOCKER_HUB_KEY = "https://index.docker.io/v1/"
_DOCKER_HUB_HOSTS = {
    "docker.io",
    "index.docker.io",
    "registry-1.docker.io",
    "registry.hub.docker.com",
}
_TOKEN_USER = "<token>"  # what credential helpers answer for an identity token
_HELPER_TIMEOUT = 60.0
_MAX_CONFIG = 16 * 1024 * 1024


@dataclass(frozen=True)
class Credentials:
    """What to authenticate with: a user and password, or an identity (refresh) token."""

    username: str = ""
    password: str = ""
    identity_token: str = ""

    def __repr__(self) -> str:  # never show secrets in tracebacks or logs
        return f"Credentials(username={self.username!r}, password=***, identity_token=***)"

    @property
    def has_basic(self) -> bool:
        return bool(self.username or self.password)


def config_dir() -> Path:
    env = os.environ.get("DOCKER_CONFIG")
    if env:
        return Path(env)
    return Path(os.path.expanduser("~")) / ".docker"


def config_path() -> Path:
    return config_dir() / "config.json"


def server_key(host: str) -> str:
    """The key docker uses in `auths`/`credHelpers` for a registry host."""
    host = _hostname(host)
    return DOCKER_HUB_KEY if host in _DOCKER_HUB_HOSTS else host


def _hostname(key: str) -> str:
    """`https://host:5000/v1/` → `host:5000` (docker's ConvertToHostname)."""
    text = key.strip()
    for prefix in ("http://", "https://"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    return text.split("/", 1)[0]


def _load(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            data = f.read(_MAX_CONFIG + 1)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise AuthError(f"cannot read docker config {path}: {exc.strerror}") from None
    if len(data) > _MAX_CONFIG:
        raise AuthError(f"docker config {path} is larger than {_MAX_CONFIG} bytes")
    if not data.strip():
        return {}
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise AuthError(f"docker config {path} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise AuthError(f"docker config {path} is not a JSON object")
    return doc


def _helper_for(doc: dict[str, Any], host: str) -> str | None:
    helpers = doc.get("credHelpers")
    if isinstance(helpers, dict):
        wanted = _hostname(server_key(host))
        for key, name in helpers.items():
            if isinstance(name, str) and name and _hostname(server_key(key)) == wanted:
                return name
    store = doc.get("credsStore")
    return store if isinstance(store, str) and store else None


def _auth_entry(doc: dict[str, Any], host: str) -> tuple[str, dict[str, Any]] | None:
    auths = doc.get("auths")
    if not isinstance(auths, dict):
        return None
    wanted = _hostname(server_key(host))
    if server_key(host) in auths and isinstance(auths[server_key(host)], dict):
        return server_key(host), auths[server_key(host)]
    for key, entry in auths.items():
        if isinstance(entry, dict) and _hostname(server_key(_hostname(key))) == wanted:
            return key, entry
    return None


def _from_entry(entry: dict[str, Any], host: str, path: Path) -> Credentials | None:
    username = entry.get("username") or ""
    password = entry.get("password") or ""
    token = entry.get("identitytoken") or ""
    auth = entry.get("auth") or ""
    if auth:
        try:
            decoded = base64.b64decode(str(auth), validate=False).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise AuthError(
                f"docker config {path}: the `auth` of {host} is not base64 of user:password; "
                f"run `hood login {host}` again"
            ) from None
        user, sep, pw = decoded.partition(":")
        if not sep:
            raise AuthError(
                f"docker config {path}: the `auth` of {host} has no ':' between user and "
                f"password; run `hood login {host}` again"
            )
        username, password = user, pw
    if not (username or password or token):
        return None
    return Credentials(str(username), str(password), str(token))


def _helper_command(name: str) -> str:
    if "/" in name or not name.strip():
        raise AuthError(f"invalid credential helper name {name!r} in {config_path()}")
    return f"docker-credential-{name}"


def _run_helper(name: str, action: str, payload: str) -> subprocess.CompletedProcess[str]:
    command = _helper_command(name)
    try:
        return subprocess.run(
            [command, action],
            input=payload,
            capture_output=True,
            text=True,
            timeout=_HELPER_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise AuthError(
            f"credential helper {command} (configured in {config_path()}) is not on PATH; "
            "install it or remove it from the config"
        ) from None
    except subprocess.TimeoutExpired:
        raise AuthError(f"credential helper {command} {action} did not answer in time") from None


def _helper_get(name: str, host: str) -> Credentials | None:
    key = server_key(host)
    proc = _run_helper(name, "get", key)
    out = proc.stdout.strip()
    if proc.returncode != 0:
        message = (out or proc.stderr.strip())[:300]
        if "credentials not found" in message.lower():
            return None
        raise AuthError(
            f"credential helper docker-credential-{name} get {key} failed: {message or proc.returncode}"
        )
    try:
        doc = json.loads(out)
    except ValueError:
        raise AuthError(
            f"credential helper docker-credential-{name} returned invalid JSON for {key}"
        ) from None
    if not isinstance(doc, dict):
        raise AuthError(f"credential helper docker-credential-{name} returned no object for {key}")
    user, secret = str(doc.get("Username") or ""), str(doc.get("Secret") or "")
    if not user and not secret:
        return None
    if user == _TOKEN_USER:
        return Credentials(identity_token=secret)
    return Credentials(user, secret)


def lookup(host: str) -> Credentials | None:
    """Credentials for `host` (a registry host[:port]; docker.io and its aliases included)."""
    path = config_path()
    doc = _load(path)
    helper = _helper_for(doc, host)
    if helper:
        creds = _helper_get(helper, host)
        if creds is not None:
            return creds
    found = _auth_entry(doc, host)
    if found is None:
        return None
    return _from_entry(found[1], host, path)


def _write_atomic(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = (json.dumps(doc, indent="\t") + "\n").encode()
    fd, tmp = tempfile.mkstemp(prefix=".config.json.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dirfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dirfd)
    finally:
        os.close(dirfd)


def save(host: str, creds: Credentials) -> str:
    """Store credentials for `host` as docker login does. Returns where they went."""
    path = config_path()
    doc = _load(path)
    key = server_key(host)
    auths = doc.get("auths")
    if not isinstance(auths, dict):
        auths = {}
    # drop any other spelling of the same host
    for other in [k for k in auths if _hostname(server_key(_hostname(k))) == _hostname(key)]:
        del auths[other]
    helper = _helper_for(doc, host)
    if helper:
        user, secret = (
            (_TOKEN_USER, creds.identity_token)
            if creds.identity_token
            else (creds.username, creds.password)
        )
        payload = json.dumps({"ServerURL": key, "Username": user, "Secret": secret})
        proc = _run_helper(helper, "store", payload)
        if proc.returncode != 0:
            raise AuthError(
                f"credential helper docker-credential-{helper} store {key} failed: "
                f"{(proc.stdout.strip() or proc.stderr.strip())[:300]}"
            )
        if doc.get("credsStore") == helper:
            auths[key] = {}  # docker records the host, secrets live in the store
        where = f"credential helper docker-credential-{helper}"
    else:
        entry: dict[str, str] = {}
        if creds.username or creds.password:
            entry["auth"] = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
        if creds.identity_token:
            entry["identitytoken"] = creds.identity_token
        auths[key] = entry
        where = str(path)
    doc["auths"] = auths
    _write_atomic(path, doc)
    return where


def remove(host: str) -> bool:
    """Forget the credentials of `host`. True if there were any."""
    path = config_path()
    doc = _load(path)
    key = server_key(host)
    removed = False
    helper = _helper_for(doc, host)
    if helper:
        proc = _run_helper(helper, "erase", key)
        message = (proc.stdout.strip() or proc.stderr.strip())[:300]
        if proc.returncode == 0:
            removed = True
        elif "not found" not in message.lower():
            raise AuthError(
                f"credential helper docker-credential-{helper} erase {key} failed: {message}"
            )
    auths = doc.get("auths")
    if isinstance(auths, dict):
        same = [k for k in auths if _hostname(server_key(_hostname(k))) == _hostname(key)]
        for other in same:
            if auths[other]:
                removed = True
            del auths[other]
        if same:
            _write_atomic(path, doc)
    return removed
