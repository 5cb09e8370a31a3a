"""The registry auth challenge as an httpx.Auth flow.

A request to the registry goes out with whatever the host is known to want: a Bearer token for
exactly the scopes of that request (cached per scope set until it expires) or Basic
credentials. On 401 the `WWW-Authenticate` challenge is parsed; for Bearer a token is fetched
from the realm (GET with `service` and `scope`, Basic credentials if any, or the OAuth2
refresh-token POST for an identity token), and the request is sent once more.

Credentials go only to the registry host itself and to the token realm; to a realm on another
host only over HTTPS (or loopback). Token bodies above 1 MiB are refused.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from hood.core.errors import AuthError, RegistryError
from hood.core.jsonlimits import JSONRefused, loads_bounded
from hood.core.textsafe import quote_untrusted
from hood.registry.bodies import discard, read_capped
from hood.registry.credentials import Credentials
from hood.registry.tls import is_loopback

MAX_TOKEN_BODY = 1024 * 1024
MAX_ERROR_BODY = 64 * 1024
DEFAULT_TOKEN_LIFETIME = 60  # seconds, when the token service does not say
MIN_TOKEN_LIFETIME = 10
SCOPES_EXTENSION = "hood.scopes"  # request.extensions key: tuple of scope strings

CredentialSource = Callable[[], Credentials | None]
TokenFetcher = Callable[[httpx.Request], httpx.Response]


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lowercase: "bearer" | "basic" | other
    params: dict[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")

    @property
    def service(self) -> str:
        return self.params.get("service", "")

    @property
    def scopes(self) -> tuple[str, ...]:
        scope = self.params.get("scope", "")
        return tuple(s for s in scope.split(" ") if s)

    @property
    def error(self) -> str:
        return self.params.get("error", "")


_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_PARAM = re.compile(rf'\s*({_TOKEN})\s*=\s*("(?:[^"\\]|\\.)*"|{_TOKEN}(?:=*))\s*(,|$)')
_SCHEME = re.compile(rf"\s*({_TOKEN})(?:\s+|$)")


def parse_challenges(headers: Iterable[str]) -> list[Challenge]:
    """Parse `WWW-Authenticate` values (RFC 7235 auth-params; quoted strings may hold commas)."""
    out: list[Challenge] = []
    for header in headers:
        text = header[:8192]
        pos = 0
        while pos < len(text):
            m = _SCHEME.match(text, pos)
            if not m:
                break
            scheme, pos = m.group(1).lower(), m.end()
            params: dict[str, str] = {}
            while pos < len(text):
                p = _PARAM.match(text, pos)
                if not p:
                    break
                value = p.group(2)
                if value.startswith('"'):
                    value = re.sub(r"\\(.)", r"\1", value[1:-1])
                params[p.group(1).lower()] = value
                pos = p.end()
            out.append(Challenge(scheme, params))
            while pos < len(text) and text[pos] in ", ":
                pos += 1
    return out


def pick_challenge(challenges: list[Challenge]) -> Challenge | None:
    for scheme in ("bearer", "basic"):
        for c in challenges:
            if c.scheme == scheme:
                return c
    return None


def repository_scope(repo: str, actions: str = "pull") -> str:
    return f"repository:{repo}:{actions}"


def basic_header(creds: Credentials) -> str:
    raw = f"{creds.username}:{creds.password}".encode()
    return "Basic " + base64.b64encode(raw).decode()


@dataclass
class _Token:
    value: str
    expires: float  # time.monotonic()


class RegistryAuth(httpx.Auth):
    """Auth for one registry host; share it between threads (its caches are locked)."""

    def __init__(
        self,
        host: str,
        credentials: CredentialSource,
        fetch: TokenFetcher,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host = host
        self._credentials_source = credentials
        self._fetch = fetch
        self.clock = clock
        self._lock = threading.Lock()
        self._challenge: Challenge | None = None
        self._tokens: dict[tuple[str, ...], _Token] = {}
        self._creds_loaded = False
        self._creds: Credentials | None = None
        self._scope_locks: dict[tuple[str, ...], threading.Lock] = {}
        self.token_requests = 0  # how many tokens were fetched (for tests and --debug)

    # --- state -----------------------------------------------------------------------------
    @property
    def challenge(self) -> Challenge | None:
        with self._lock:
            return self._challenge

    def remember(self, challenge: Challenge | None) -> None:
        if challenge is not None and challenge.scheme in ("bearer", "basic"):
            with self._lock:
                self._challenge = challenge

    def credentials(self) -> Credentials | None:
        with self._lock:
            if self._creds_loaded:
                return self._creds
        creds = self._credentials_source()
        with self._lock:
            self._creds, self._creds_loaded = creds, True
        return creds

    def forget_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    def _cached(self, key: tuple[str, ...]) -> str | None:
        with self._lock:
            tok = self._tokens.get(key)
            if tok is not None and tok.expires > self.clock():
                return tok.value
            self._tokens.pop(key, None)
            return None

    def _invalidate(self, key: tuple[str, ...], value: str) -> None:
        with self._lock:
            tok = self._tokens.get(key)
            if tok is not None and tok.value == value:
                del self._tokens[key]

    # --- the flow --------------------------------------------------------------------------
    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        scopes: tuple[str, ...] = tuple(request.extensions.get(SCOPES_EXTENSION, ()))
        sent = self._authorize(request, scopes)
        response = yield request
        if response.status_code != 401:
            return
        challenge = pick_challenge(parse_challenges(response.headers.get_list("www-authenticate")))
        if challenge is None:
            return
        self.remember(challenge)
        if challenge.scheme == "bearer":
            key = self._key(scopes, challenge)
            if sent and sent.startswith("Bearer "):
                if challenge.error == "insufficient_scope":
                    return  # a fresh token would grant no more than this one did
                self._invalidate(key, sent[7:])
            token = self.token(challenge, key)
            header = f"Bearer {token}"
        else:
            creds = self.credentials()
            if creds is None or not creds.has_basic:
                return
            header = basic_header(creds)
        if header == sent or not _replayable(request):
            return
        # httpx reads the 401 body whole (and inflated) before sending the retry: read it
        # here first, as sent and capped, so that httpx finds nothing left to read.
        discard(response, MAX_ERROR_BODY, f"{self.host}: 401 response")
        request.headers["Authorization"] = header
        yield request

    def _key(self, scopes: tuple[str, ...], challenge: Challenge) -> tuple[str, ...]:
        wanted = list(scopes)
        for s in challenge.scopes:
            if s not in wanted:
                wanted.append(s)
        return tuple(sorted(wanted))

    def _authorize(self, request: httpx.Request, scopes: tuple[str, ...]) -> str | None:
        """Add what the host is known to want; returns the Authorization header sent."""
        challenge = self.challenge
        if challenge is None or "authorization" in request.headers:
            return request.headers.get("authorization")
        if challenge.scheme == "bearer":
            key = tuple(sorted(scopes))
            header = f"Bearer {self.token(Challenge('bearer', _without_scope(challenge)), key)}"
        else:
            creds = self.credentials()
            if creds is None or not creds.has_basic:
                return None
            header = basic_header(creds)
        request.headers["Authorization"] = header
        return header

    def token(self, challenge: Challenge, key: tuple[str, ...]) -> str:
        """A token for exactly the scopes in `key` (cached, else fetched from the realm)."""
        cached = self._cached(key)
        if cached is not None:
            return cached
        with self._lock:
            scope_lock = self._scope_locks.setdefault(key, threading.Lock())
        with scope_lock:
            cached = self._cached(key)
            if cached is not None:
                return cached
            value, lifetime = self._fetch_token(challenge, key)
            with self._lock:
                self._tokens[key] = _Token(value, self.clock() + lifetime)
            return value

    def _fetch_token(self, challenge: Challenge, scopes: tuple[str, ...]) -> tuple[str, float]:
        realm = challenge.realm
        url = urlsplit(realm)
        if url.scheme not in ("http", "https") or not url.netloc:
            raise AuthError(
                f"{self.host}: the registry's token realm {quote_untrusted(realm, 200)} "
                "is not an http(s) URL"
            )
        creds = self.credentials()
        # Credentials go to a realm over HTTPS, or to a loopback one.
        send_creds = creds is not None and (url.scheme == "https" or is_loopback(url.netloc))
        request = _token_request(challenge, scopes, creds if send_creds else None)
        with self._lock:
            self.token_requests += 1
        response = self._fetch(request)
        what = f"token service {url.scheme}://{url.netloc}{url.path} for {self.host}"
        try:
            body = read_capped(response, MAX_TOKEN_BODY, what)
        finally:
            response.close()
        if response.status_code in (401, 403):
            detail = error_text(body) or "unauthorized"
            if creds is not None:
                raise AuthError(
                    f"{self.host}: login refused by the {what}: {detail}; "
                    f"check the username and password (hood login {self.host})"
                )
            raise AuthError(
                f"{self.host}: the {what} refused an anonymous token: {detail}; "
                f"run hood login {self.host}"
            )
        if response.status_code != 200:
            raise RegistryError(
                f"{self.host}: the {what} answered HTTP {response.status_code}: "
                f"{error_text(body) or 'no details'}"
            )
        return _token_from(body, what, self.host)


def _token_request(
    challenge: Challenge, scopes: tuple[str, ...], creds: Credentials | None
) -> httpx.Request:
    """The request to the realm for a token of `scopes`: with an identity token in `creds`
    the OAuth2 refresh-token POST, else a GET (with `creds` as Basic if they have them)."""
    realm = challenge.realm
    params: list[tuple[str, str]] = []
    if challenge.service:
        params.append(("service", challenge.service))
    for s in scopes:
        params.append(("scope", s))
    headers = {"Accept": "application/json"}
    if creds is not None and creds.identity_token:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": creds.identity_token,
            "client_id": "hood",
            "service": challenge.service,
        }
        if scopes:
            form["scope"] = " ".join(scopes)
        return httpx.Request("POST", realm, data=form, headers=headers)
    if creds is not None and creds.has_basic:
        headers["Authorization"] = basic_header(creds)
        params.append(("account", creds.username))
    return httpx.Request("GET", realm, params=params, headers=headers)


def _token_from(body: bytes, what: str, host: str) -> tuple[str, float]:
    """The token in the token service's answer (`what` names the service), and how many
    seconds to use it."""
    try:
        doc = loads_bounded(body, what=what, max_size=MAX_TOKEN_BODY)
    except JSONRefused as exc:
        raise RegistryError(f"{host}: unusable answer from the {exc}") from None
    if not isinstance(doc, dict):
        raise RegistryError(f"{host}: the {what} answered with no JSON object")
    token = doc.get("token") or doc.get("access_token")
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_BODY:
        raise RegistryError(f"{host}: the {what} answered without a token")
    if any(c in token for c in "\r\n\0"):
        raise RegistryError(f"{host}: the {what} answered with a malformed token")
    lifetime = doc.get("expires_in")
    if not isinstance(lifetime, (int, float)) or isinstance(lifetime, bool) or lifetime <= 0:
        lifetime = DEFAULT_TOKEN_LIFETIME
    # renew a little before the registry would reject it
    lifetime = max(MIN_TOKEN_LIFETIME, float(lifetime)) * 0.9
    return token, lifetime


def _without_scope(challenge: Challenge) -> dict[str, str]:
    return {k: v for k, v in challenge.params.items() if k not in ("scope", "error")}


def _replayable(request: httpx.Request) -> bool:
    """A request whose body is bytes (or empty) can be sent again; a stream cannot."""
    return isinstance(request.stream, httpx.ByteStream)


def error_text(body: bytes) -> str:
    """The registry's JSON `errors` array as `CODE: message; ...`, else a short plain text;
    quoted and escaped as Go's %q (it is the registry's text), or "" for an empty body."""
    if not body:
        return ""
    try:
        doc = loads_bounded(body, what="error body", max_size=MAX_TOKEN_BODY)
    except JSONRefused:
        doc = None
    parts: list[str] = []
    if isinstance(doc, dict):
        errors = doc.get("errors")
        if isinstance(errors, list):
            for e in errors[:5]:
                if not isinstance(e, dict):
                    continue
                code, message = str(e.get("code", "")), str(e.get("message", ""))
                detail = e.get("detail")
                text = ": ".join(x for x in (code, message) if x)
                if isinstance(detail, (str, int, float)) and str(detail):
                    text += f" ({str(detail)[:200]})"
                elif isinstance(detail, list) and detail and isinstance(detail[0], dict):
                    d = detail[0]
                    bits = [f"{k}={d[k]}" for k in ("Type", "Name", "Action") if k in d]
                    if bits:
                        text += f" ({', '.join(bits)})"
                if text:
                    parts.append(text[:300])
        elif isinstance(doc.get("details"), str):  # some token services
            parts.append(doc["details"][:300])
        elif isinstance(doc.get("error"), str):
            parts.append(doc["error"][:300])
    if parts:
        return quote_untrusted("; ".join(parts))
    text = body[:200].decode("utf-8", "replace").strip()
    return quote_untrusted(text) if text else ""
