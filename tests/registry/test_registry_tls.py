"""Per-host TLS from certs.d (HOOD_CERTS_D), insecure hosts, HTTPS-first with HTTP fallback."""

from __future__ import annotations

import shutil

import pytest
from support.util import make_ca, run

from hood.core.errors import RegistryError
from hood.registry import tls
from hood.registry.client import RegistryClient


@pytest.mark.parametrize(
    "host, loopback",
    [
        ("127.0.0.1:5000", True),
        ("127.1.2.3", True),
        ("localhost:5000", True),
        ("LOCALHOST", True),
        ("[::1]:5000", True),
        ("::1", True),
        ("128.0.0.1:5000", False),
        ("10.0.0.1", False),
        ("localhost.example.com", False),
        ("127.0.0.1.nip.io:5000", False),
        ("registry-1.docker.io", False),
    ],
)
def test_loopback(host, loopback):
    assert tls.is_loopback(host) is loopback


def test_insecure_registries_list_env_and_cidr(monkeypatch):
    assert not tls.allows_http("reg.example:5000", [])
    assert tls.allows_http("reg.example:5000", ["reg.example:5000"])
    assert tls.allows_http("reg.example:5000", ["http://reg.example:5000/"])
    assert not tls.allows_http("reg.example:5000", ["other.example:5000"])
    assert tls.allows_http("10.1.2.3:5000", ["10.0.0.0/8"])
    assert not tls.allows_http("11.1.2.3:5000", ["10.0.0.0/8"])
    monkeypatch.setenv("HOOD_INSECURE_REGISTRIES", " a.example , reg.example:5000")
    assert tls.allows_http("reg.example:5000")
    assert tls.allows_http("a.example")
    assert not tls.allows_http("b.example")


def test_certs_dir_refuses_path_tricks(monkeypatch, tmp_path):
    monkeypatch.setenv("HOOD_CERTS_D", str(tmp_path))
    assert tls.certs_dir("reg.example:5000") == tmp_path / "reg.example:5000"
    for bad in ("../etc", "a/b", "..", ""):
        with pytest.raises(RegistryError):
            tls.certs_dir(bad)


def test_default_certs_d(monkeypatch):
    monkeypatch.delenv("HOOD_CERTS_D")
    assert str(tls.certs_dir("h:1")) == "/etc/docker/certs.d/h:1"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, a server cert for 127.0.0.1 and a client cert signed by the same CA."""
    d = tmp_path_factory.mktemp("pki")
    ca, crt, key = make_ca(d, ["127.0.0.1"])
    ckey, ccsr, ccert = d / "client.key", d / "client.csr", d / "client.cert"
    run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=hood client",
         "-keyout", ckey, "-out", ccsr])  # fmt: skip
    run(["openssl", "x509", "-req", "-in", ccsr, "-CA", ca, "-CAkey", d / "ca.key",
         "-CAcreateserial", "-days", "2", "-out", ccert])  # fmt: skip
    return {"ca": ca, "crt": crt, "key": key, "client_cert": ccert, "client_key": ckey}


def ok(h):
    h.json(200, {})


def test_untrusted_ca_says_x509_and_where_to_put_the_ca(scripted, pki, tmp_path):
    srv = scripted(ok, tls=(pki["crt"], pki["key"], None))
    with RegistryClient(srv.host) as c, pytest.raises(RegistryError) as err:
        c.ping()
    text = str(err.value)
    assert "x509: certificate signed by unknown authority" in text
    assert f"{tmp_path}/no-certs.d/{srv.host}/ca.crt" in text
    assert f"--insecure-registry {srv.host}" in text


def test_ca_from_certs_d_is_trusted(scripted, pki, tmp_path, monkeypatch):
    srv = scripted(ok, tls=(pki["crt"], pki["key"], None))
    certs_d = tmp_path / "certs.d"
    (certs_d / srv.host).mkdir(parents=True)
    shutil.copy(pki["ca"], certs_d / srv.host / "ca.crt")
    monkeypatch.setenv("HOOD_CERTS_D", str(certs_d))
    with RegistryClient(srv.host) as c:
        assert c.ping() == f"https://{srv.host}"


def test_ca_of_another_host_is_not_trusted(scripted, pki, tmp_path, monkeypatch):
    srv = scripted(ok, tls=(pki["crt"], pki["key"], None))
    certs_d = tmp_path / "certs.d"
    (certs_d / "127.0.0.1:1").mkdir(parents=True)
    shutil.copy(pki["ca"], certs_d / "127.0.0.1:1" / "ca.crt")
    monkeypatch.setenv("HOOD_CERTS_D", str(certs_d))
    with RegistryClient(srv.host) as c, pytest.raises(RegistryError, match="x509"):
        c.ping()


def test_client_certificate_pair(scripted, pki, tmp_path, monkeypatch):
    srv = scripted(ok, tls=(pki["crt"], pki["key"], pki["ca"]))
    certs_d = tmp_path / "certs.d"
    d = certs_d / srv.host
    d.mkdir(parents=True)
    shutil.copy(pki["ca"], d / "ca.crt")
    monkeypatch.setenv("HOOD_CERTS_D", str(certs_d))
    with RegistryClient(srv.host, insecure=False) as c, pytest.raises(RegistryError):
        c.ping()  # the server wants a client certificate
    tls.clear_cache()
    shutil.copy(pki["client_cert"], d / "client.cert")
    shutil.copy(pki["client_key"], d / "client.key")
    with RegistryClient(srv.host, insecure=False) as c:
        assert c.ping().startswith("https://")


def test_cert_without_key_is_named(tmp_path, monkeypatch, pki):
    d = tmp_path / "certs.d" / "reg.example"
    d.mkdir(parents=True)
    shutil.copy(pki["client_cert"], d / "client.cert")
    monkeypatch.setenv("HOOD_CERTS_D", str(tmp_path / "certs.d"))
    with pytest.raises(RegistryError, match="client.cert has no matching key"):
        tls.ssl_context("reg.example")


def test_plain_http_fallback_for_loopback(scripted):
    srv = scripted(ok)
    with RegistryClient(srv.host) as c:
        assert c.ping() == f"http://{srv.host}"


def test_no_plain_http_when_not_insecure(scripted):
    srv = scripted(ok)
    with RegistryClient(srv.host, insecure=False) as c, pytest.raises(RegistryError) as err:
        c.ping()
    assert srv.host in str(err.value)
    assert not srv.seen  # never spoke plain HTTP to it


def test_listed_insecure_host_skips_verification(scripted, pki, monkeypatch):
    """Docker's --insecure-registry: HTTPS without verification before plain HTTP."""
    srv = scripted(ok, tls=(pki["crt"], pki["key"], None))
    monkeypatch.setenv("HOOD_INSECURE_REGISTRIES", srv.host)
    with RegistryClient(srv.host) as c:
        assert c.ping() == f"https://{srv.host}"


def test_unreachable_registry_is_named(scripted):
    from support.util import free_port

    host = f"127.0.0.1:{free_port()}"
    with (
        RegistryClient(host) as c,
        pytest.raises(RegistryError, match=f"cannot reach registry {host}"),
    ):
        c.ping()


def _token_realm_pair(scripted, pki, client_cert_required: bool):
    """A TLS registry whose Bearer realm is a TLS token service on another port; the token
    service may insist on a client certificate signed by the same CA."""
    ts = scripted(
        lambda h: h.json(200, {"token": "T"}),
        tls=(pki["crt"], pki["key"], pki["ca"] if client_cert_required else None),
    )

    def route(h):
        if h.headers.get("Authorization") != "Bearer T":
            realm = f"https://{ts.host}/token"
            h.reply(401, b"{}", {"WWW-Authenticate": f'Bearer realm="{realm}",service="s"'})
        else:
            h.json(200, {})

    srv = scripted(route, tls=(pki["crt"], pki["key"], None))
    return srv, ts


@pytest.mark.parametrize("client_cert_required", [False, True])
def test_token_realm_uses_the_registrys_tls_configuration(
    scripted, pki, tmp_path, monkeypatch, fast_retry, client_cert_required
):
    """As docker: the CA (and client certificate) in certs.d/REGISTRY/ serve its token
    service on another host:port too; nothing is needed in certs.d/TOKENHOST/."""
    srv, ts = _token_realm_pair(scripted, pki, client_cert_required)
    d = tmp_path / "certs.d" / srv.host
    d.mkdir(parents=True)
    shutil.copy(pki["ca"], d / "ca.crt")
    shutil.copy(pki["client_cert"], d / "client.cert")
    shutil.copy(pki["client_key"], d / "client.key")
    monkeypatch.setenv("HOOD_CERTS_D", str(tmp_path / "certs.d"))
    assert not (tmp_path / "certs.d" / ts.host).exists()
    with RegistryClient(srv.host, insecure=False, credentials=None, retry=fast_retry) as c:
        c.ping()
        c.auth.token(c.auth.challenge, ())
    assert [s.path.split("?")[0] for s in ts.seen] == ["/token"]


def test_token_realm_untrusted_hint_names_the_registrys_certs_d(scripted, pki, fast_retry):
    srv, ts = _token_realm_pair(scripted, pki, False)
    with RegistryClient(srv.host, insecure=True, credentials=None, retry=fast_retry) as c:
        c.ping()  # the registry itself is insecure: no verification
        with pytest.raises(RegistryError) as err:
            c.auth.token(c.auth.challenge, ())
    text = str(err.value)
    assert f"{ts.host}: TLS handshake failed: x509" in text, text
    assert f"no-certs.d/{srv.host}/ca.crt" in text, text  # where one CA serves both
