"""The auth flow's parts in isolation: challenges, where credentials go, error texts, Retry-After."""

from __future__ import annotations

import email.utils
import json

import httpx
import pytest

from hood.core.errors import AuthError, RegistryError
from hood.registry.auth import (
    Challenge,
    RegistryAuth,
    error_text,
    parse_challenges,
    pick_challenge,
)
from hood.registry.credentials import Credentials
from hood.registry.retry import RetryPolicy, retry_after


def test_bearer_challenge_with_commas_in_quoted_scope():
    (c,) = parse_challenges(
        [
            'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
            'scope="repository:samalba/my-app:pull,push",error="insufficient_scope"'
        ]
    )
    assert c.scheme == "bearer"
    assert c.realm == "https://auth.docker.io/token"
    assert c.service == "registry.docker.io"
    assert c.scopes == ("repository:samalba/my-app:pull,push",)
    assert c.error == "insufficient_scope"


def test_several_challenges_and_odd_spacing():
    cs = parse_challenges(['Basic realm="x", Bearer  realm = "https://a/t" , service=svc'])
    assert [c.scheme for c in cs] == ["basic", "bearer"]
    assert cs[1].params == {"realm": "https://a/t", "service": "svc"}
    assert pick_challenge(cs).scheme == "bearer"
    assert pick_challenge(parse_challenges(['Basic realm="r"'])).scheme == "basic"
    assert pick_challenge(parse_challenges(["Negotiate abc"])) is None
    assert pick_challenge(parse_challenges([""])) is None


def test_escaped_quotes_and_space_separated_scopes():
    (c,) = parse_challenges(
        ['Bearer realm="https://a/t",scope="repository:a:pull repository:b:pull",x="q\\"uote"']
    )
    assert c.scopes == ("repository:a:pull", "repository:b:pull")
    assert c.params["x"] == 'q"uote'


class Recorder:
    def __init__(self, body=None, status=200):
        self.requests: list[httpx.Request] = []
        self.body = json.dumps(
            body if body is not None else {"token": "T", "expires_in": 300}
        ).encode()
        self.status = status

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, content=self.body, request=request)


def bearer(realm: str) -> Challenge:
    return Challenge("bearer", {"realm": realm, "service": "svc"})


@pytest.mark.parametrize(
    "realm, creds_sent",
    [
        ("https://auth.example/token", True),
        ("http://auth.example/token", False),  # another host over plain HTTP: never
        ("http://127.0.0.1:9/token", True),  # loopback
        ("http://localhost:9/token", True),
    ],
)
def test_credentials_go_to_the_realm_only_over_https_or_loopback(realm, creds_sent):
    rec = Recorder()
    auth = RegistryAuth("reg.example", lambda: Credentials("alice", "pw"), rec)
    assert auth.token(bearer(realm), ("repository:a/b:pull",)) == "T"
    (req,) = rec.requests
    assert ("authorization" in req.headers) is creds_sent
    assert ("account=alice" in str(req.url)) is creds_sent
    assert req.url.params.get_list("scope") == ["repository:a/b:pull"]


def test_identity_token_uses_the_oauth_refresh_grant():
    rec = Recorder({"access_token": "A"})
    auth = RegistryAuth("reg.example", lambda: Credentials(identity_token="R"), rec)
    assert auth.token(bearer("https://auth.example/token"), ("repository:a:pull",)) == "A"
    (req,) = rec.requests
    assert req.method == "POST"
    form = dict(x.split("=", 1) for x in req.content.decode().split("&"))
    assert form["grant_type"] == "refresh_token" and form["refresh_token"] == "R"
    assert "authorization" not in req.headers


def test_realm_must_be_http_url():
    auth = RegistryAuth("reg.example", lambda: None, Recorder())
    for realm in ("file:///etc/passwd", "ftp://x/t", "", "/token"):
        with pytest.raises(AuthError, match="not an http"):
            auth.token(bearer(realm), ())


def test_token_with_newline_is_refused():
    auth = RegistryAuth("reg.example", lambda: None, Recorder({"token": "a\r\nX-Evil: 1"}))
    with pytest.raises(RegistryError, match="malformed token"):
        auth.token(bearer("https://a/t"), ())


def test_tokens_are_per_scope_and_cached():
    rec = Recorder()
    auth = RegistryAuth("reg.example", lambda: None, rec)
    ch = bearer("https://a/t")
    auth.token(ch, ("repository:a:pull",))
    auth.token(ch, ("repository:a:pull",))
    auth.token(ch, ("repository:a:pull,push",))
    auth.token(ch, ("repository:b:pull",))
    assert [r.url.params.get_list("scope") for r in rec.requests] == [
        ["repository:a:pull"],
        ["repository:a:pull,push"],
        ["repository:b:pull"],
    ]


def test_error_text_from_errors_array_and_fallbacks():
    body = json.dumps(
        {
            "errors": [
                {
                    "code": "DENIED",
                    "message": "requested access to the resource is denied",
                    "detail": [{"Type": "repository", "Name": "x", "Action": "pull"}],
                }
            ]
        }
    ).encode()
    # The registry's text, quoted and escaped as Go's %q: it never reaches a terminal raw.
    assert error_text(body) == (
        '"DENIED: requested access to the resource is denied '
        '(Type=repository, Name=x, Action=pull)"'
    )
    assert error_text(b'{"details": "incorrect username or password"}') == (
        '"incorrect username or password"'
    )
    assert error_text(b"plain \x1b[31mtext") == '"plain \\x1b[31mtext"'
    assert error_text(b"") == ""
    assert error_text(b'{"errors": "nope"}') == '"{\\"errors\\": \\"nope\\"}"'
    bad = {"errors": [{"code": "X\n", "message": "a\x1b]0;title\x07b\u202e"}]}
    assert error_text(json.dumps(bad).encode()) == '"X\\n: a\\x1b]0;title\\ab\\u202e"'
    deep = b'{"errors": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert error_text(deep).startswith('"{\\"errors\\": [[[[')  # too deep: shown as text


def _resp(value: str) -> httpx.Response:
    return httpx.Response(429, headers=[(b"Retry-After", value.encode())])


def test_retry_after_parsing():
    assert retry_after(_resp("7")) == 7.0
    now = 1_700_000_000.0
    assert retry_after(_resp(email.utils.formatdate(now + 30, usegmt=True)), now=now) == 30.0
    assert retry_after(_resp(email.utils.formatdate(now - 30, usegmt=True)), now=now) == 0.0
    assert retry_after(_resp("soon")) is None
    assert retry_after(httpx.Response(429)) is None
    # RFC 9110: delay-seconds is ASCII digits; anything else is ignored, never an error
    for junk in ("\u00b2", "\u0663", "1.5", "-1", "+3", "3s", "0x10", "1e3", "", "\u2007"):
        assert retry_after(_resp(junk)) is None, junk
    assert retry_after(_resp(" 007 ")) == 7.0
    assert retry_after(_resp("9" * 5000)) == 1e12  # no ValueError on a huge number
    # the three HTTP-date forms; a date that is not one is ignored
    assert retry_after(_resp("Tue, 14 Nov 2023 22:13:50 GMT"), now=now) == 30.0
    assert retry_after(_resp("Tuesday, 14-Nov-23 22:13:50 GMT"), now=now) == 30.0
    assert retry_after(_resp("Tue Nov 14 22:13:50 2023"), now=now) == 30.0
    assert retry_after(_resp("Sun Nov  6 08:49:37 1994"), now=now) == 0.0
    for bad in ("Tue, 31 Feb 2023 22:13:50 GMT", "Tue, 14 Nov 2023 25:13:50 GMT",
                "Tue, 14 Nov 2023 22:13:50 +0100", "14 Nov 2023", "Tue, \u0661\u0664 Nov 2023 "
                "22:13:50 GMT"):  # fmt: skip
        assert retry_after(_resp(bad), now=now) is None, bad


def test_backoff_grows_and_is_capped():
    p = RetryPolicy(base_delay=1, max_delay=5, jitter=0)
    assert [p.backoff(n) for n in range(1, 6)] == [1, 2, 4, 5, 5]
